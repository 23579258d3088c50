"""Shared machinery of the inference algorithms: compiled-function caches, batching particles,
and choosing between two traces inside a graph.

Compiled paths. A whole loop (all particles, N MCMC steps) runs as one ``tf.function`` (XLA when
``jit_compile``) cached per (owner, static key), so repeated calls do not retrace. A model whose
structure depends on random values cannot be traced; the caller then falls back to eager Python.
"""
import weakref

import tensorflow as tf

from ..core import domain
from ..core.errors import GentfError
from ..core.nest import decode, encode
from ..core.seeds import standard_uniform, vectorizable_randomness, xla_randomness

_cache = weakref.WeakKeyDictionary()  # owner -> {key: tf.function}


def static_key(*objs):
    """A hashable code of the static structure of ``objs`` (tensors become placeholders) and the
    list of their tensors: the key and inputs of a cached compiled function."""
    comps = []
    code = encode(objs, comps)
    return code, comps


def unpack(code, tensors):
    """The inverse of ``static_key``: the objects, rebuilt from (new) tensors."""
    return decode(code, list(tensors))[0]


def cached(owner, key, build, jit_compile):
    """The compiled function ``build()`` for ``(owner, key)``, created once. With XLA it returns
    ``(outputs, failure)``: XLA drops assertions, so domain checks are deferred and ``failure``
    is the first failed one's index (``core.domain``), -1 when none failed."""
    table = _cache.setdefault(owner, {})
    fn = table.get((key, jit_compile))
    if fn is None:
        body = build()
        if jit_compile:
            def run(*args):
                with domain.deferred(), xla_randomness():
                    out = body(*args)
                return out, domain.failure_index()
        else:
            run = body
        fn = table[(key, jit_compile)] = tf.function(run, autograph=False, jit_compile=jit_compile,
                                                     reduce_retracing=True)
    return fn


def run_compiled(owner, key, build, inputs, jit_compile):
    """Call the cached compiled ``build()`` on ``inputs``; returns None when the program cannot be
    traced (a dynamic model), so the caller can run eagerly. A program XLA cannot compile (an op
    without an XLA kernel) runs, from then on, as a plain graph."""
    table = _cache.setdefault(owner, {})
    jit_compile = jit_compile and not table.get(("no-xla", key))
    try:
        out = _concrete(table, cached(owner, key, build, jit_compile), key, jit_compile, inputs)(*inputs)
        if jit_compile:
            out, failure = out
            domain.raise_failure(failure)
        return out
    except GentfError:
        raise
    except tf.errors.OpError as e:
        error = domain.domain_error(e)
        if error is not None:
            raise error from None
        if not jit_compile:
            raise
        table[("no-xla", key)] = True
        return run_compiled(owner, key, build, inputs, False)
    except (TypeError, ValueError, AttributeError, NotImplementedError, tf.errors.OperatorNotAllowedInGraphError):
        return None


def _concrete(table, fn, key, jit_compile, inputs):
    """The traced program of ``fn`` for the shapes and dtypes of ``inputs``, cached: calling it
    skips ``tf.function``'s dispatch (~0.2 ms a call, the cost of a 1k-particle run)."""
    flat = tf.nest.flatten(inputs)
    if not all(isinstance(t, tf.Tensor) for t in flat):
        return fn
    signature = ("concrete", key, jit_compile) + tuple((tuple(t.shape), t.dtype) for t in flat)
    program = table.get(signature)
    if program is None:
        program = table[signature] = fn.get_concrete_function(*inputs)
    return program


def vectorize(fn, seeds):
    """``[fn(s) for s in seeds]`` stacked along a new leading axis, via ``tf.vectorized_map``.
    ``fn`` returns a nest (traces included); each leaf gains a leading batch axis, except that
    a trace at the top of the nest stores the leaves that do not depend on the seed (arguments,
    observed values) once, listed in its ``shared`` (as Gen.jl's traces share such objects;
    copying them per particle cost more than the particles' own work). ``fn`` is traced under
    ``vectorizable_randomness``: TF's stateless random ops have no batched kernel (pfor would
    loop over the particles), gentf's Threefry noise is elementwise ops. Choices of
    distributions without a noise-based sampler still loop, correctly. Domain-check failures
    recorded in the body (``core.domain``) leave it as one more output."""
    box = []

    def flat(seed):
        with domain.collecting() as failures:
            out = fn(seed)
        leaves = tf.nest.flatten(out)
        box.append((out, leaves, _varying(leaves, seed), tf.compat.v1.get_default_graph()))
        return [tf.identity(t) for t in leaves] + [domain.combined(failures)]

    first = domain.num_checks()
    with vectorizable_randomness():
        batched = tf.vectorized_map(flat, seeds, fallback_to_while_loop=True)
    domain.settle(tf.reduce_max(batched[-1]), first)
    out, leaves, varies, graph = box[-1]
    items = out if isinstance(out, tuple) else (out,)
    result, k = [], 0
    for item in items:
        n = len(tf.nest.flatten(item))
        if hasattr(item, "shared"):  # keep the invariant leaves once: the body's own tensor
            keep = [batched[j] if varies[j] else (leaves[j] if graph is tf.compat.v1.get_default_graph()
                                                  else batched[j][0]) for j in range(k, k + n)]
            shared = frozenset(j - k for j in range(k, k + n) if not varies[j])
            item = tf.nest.pack_sequence_as(item, keep).with_shared(shared)
        else:
            item = tf.nest.pack_sequence_as(item, batched[k:k + n])
        result.append(item)
        k += n
    return tuple(result) if isinstance(out, tuple) else result[0]


def _varying(tensors, source):
    """For each tensor: does its value depend on ``source`` (or on a stateful op, which may
    differ per particle)? A walk over the data inputs of the graph."""
    memo = {source.op: True}

    def varies(op):
        stack = [op]
        while stack:
            top = stack[-1]
            if top in memo:
                stack.pop()
                continue
            pending = [t.op for t in top.inputs if t.op not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[top] = (top._is_stateful and top.type not in ("Placeholder", "VarHandleOp")) or \
                any(memo[t.op] for t in top.inputs)
            stack.pop()
        return memo[op]

    return [varies(t.op) for t in tensors]


def particle(traces, index):
    """Member(s) ``index`` of a batch of traces (or of any nest whose leaves have a leading
    batch axis), e.g. from ``importance_sampling``: a scalar index gives one trace, a vector
    of indices a batch. Shared leaves (see ``vectorize``) are the same for every member."""
    shared = getattr(traces, "shared", frozenset())
    leaves = [x if k in shared else tf.gather(x, index) for k, x in enumerate(tf.nest.flatten(traces))]
    out = tf.nest.pack_sequence_as(traces, leaves)
    return out.with_shared(frozenset()) if shared and tf.convert_to_tensor(index).shape.rank == 0 else out


def flat_components(obj, where):
    """``(code, tensors)`` of a nest (traces included), every leaf converted to a tensor."""
    code, comps = static_key(obj)
    return code, [tf.convert_to_tensor(c) for c in comps]


def same_structure(code_a, code_b, where):
    if code_a != code_b:
        raise TypeError(f"{where}: the trace changed structure (addresses, argument or return "
                        f"value kinds) from one step to the next; a compiled loop needs a fixed "
                        f"structure (the eager path handles changing ones)")


def while_loop(cond, body, state, where="while_loop"):
    """``tf.while_loop`` over an arbitrary nest ``state`` (traces, choice maps, tensors).

    Traces are not handed to ``tf.while_loop`` as nests: TF rebuilds loop variables from their
    ``TypeSpec``s, which a trace's static code would capture as structure. Instead the loop
    carries the flat tensor components (``static_key``) and ``cond`` / ``body`` see the rebuilt
    nest; ``body`` must return a nest of the same static structure (else ``TypeError``).
    Leaves keep their dtypes; a leaf whose dtype changes is cast back to the input's."""
    code, flat = flat_components(state, where)
    dtypes = [t.dtype for t in flat]

    def c(*flat):
        return cond(unpack(code, flat)[0])

    def b(*flat):
        out_code, out = flat_components(body(unpack(code, flat)[0]), where)
        same_structure(code, out_code, where)
        return [tf.cast(t, d) if t.dtype != d else t for t, d in zip(out, dtypes)]

    out = tf.while_loop(c, b, flat)
    return unpack(code, out)[0]


def choose(accept, new, old):
    """``new if accept else old`` for traces: a Python branch eagerly, ``tf.where`` on every leaf
    of the (equally structured) traces in a graph."""
    if tf.executing_eagerly():
        return new if bool(accept) else old
    code_new, flat_new = flat_components(new, "choose")
    code_old, flat_old = flat_components(old, "choose")
    same_structure(code_new, code_old, "choose")
    return unpack(code_new, [tf.where(accept, a, tf.cast(b, a.dtype)) for a, b in zip(flat_new, flat_old)])[0]


def uniform_log(seed, dtype):
    """``log u`` for ``u ~ uniform(0, 1)``: the Metropolis-Hastings acceptance threshold."""
    return tf.math.log(standard_uniform([], seed, dtype))
