"""Shared machinery of the inference algorithms: compiled-function caches, batching particles,
and choosing between two traces inside a graph.

Compiled paths. A whole loop (all particles, N MCMC steps) runs as one ``tf.function`` (XLA when
``jit_compile``) cached per (owner, static key) by ``core.compile``, so repeated calls do not
retrace. A model whose structure depends on random values cannot be traced; the caller then
falls back to eager Python.
"""

import numpy as np
import tensorflow as tf

from ..core import compile as compiled
from ..core import domain
from ..core.compile import DynamicStructureError
from ..core.gfi import particle  # noqa: F401  (the inference modules' batch indexing)
from ..core.owned import Owned
from ..core.nest import decode, encode, host_tensor
from ..core.seeds import as_seed, fold_in, seed_scope, standard_uniform, vectorizable_randomness


def static_key(*objs):
    """A hashable code of the static structure of ``objs`` (tensors become placeholders) and the
    list of their tensors: the key and inputs of a cached compiled function."""
    comps = []
    code = encode(objs, comps)
    return code, comps


def unpack(code, tensors):
    """The inverse of ``static_key``: the objects, rebuilt from (new) tensors."""
    return decode(code, list(tensors))[0]


def run_compiled(owner, key, build, inputs, jit_compile):
    """``build()(*inputs)`` as a cached compiled program of ``owner`` (``core.compile.run``), or
    None when the program cannot be traced (a dynamic model): the caller then runs eagerly."""
    return compiled.run(owner, key, build, inputs, fallback=lambda: None, jit_compile=jit_compile)


def vectorize(fn, seeds, members=None):
    """``[fn(s) for s in seeds]`` stacked along a new leading axis, via ``tf.vectorized_map``;
    with ``members`` (a batch of traces, or any nest whose leaves have a leading batch axis),
    ``[fn(s, members[i]) for i, s in enumerate(seeds)]``: each call sees its member, whose
    shared leaves (below) are not copied.
    ``fn`` returns a nest (traces included); each leaf gains a leading batch axis, except that
    a trace at the top of the nest stores the leaves that do not depend on the seed (arguments,
    observed values; never its score, whose length is the batch's) once, listed in its ``shared`` (as Gen.jl's traces share such objects;
    copying them per particle cost more than the particles' own work). ``fn`` is traced under
    ``vectorizable_randomness``: TF's stateless random ops have no batched kernel (pfor would
    loop over the particles), gentf's Threefry noise is elementwise ops. Choices of
    distributions without a noise-based sampler still loop, correctly. Domain-check failures
    recorded in the body (``core.domain``) leave it as one more output."""
    box = []
    every = tf.nest.flatten(members) if members is not None else []
    shared_at = getattr(members, "shared", frozenset())
    per_member = [x for k, x in enumerate(every) if k not in shared_at]

    def flat(elems):
        seed, own = elems
        with domain.collecting() as failures:
            if members is None:
                out = fn(seed)
            else:
                it = iter(own)
                member = tf.nest.pack_sequence_as(members, [x if k in shared_at else next(it)
                                                            for k, x in enumerate(every)])
                out = fn(seed, member.with_shared(frozenset()) if shared_at else member)
        leaves = tf.nest.flatten(out)
        position = {id(x): j for j, x in enumerate(own)}
        passed = [position.get(id(t)) for t in leaves]  # a member's leaf returned unchanged
        box.append((out, leaves, _varying(leaves, [seed] + list(own)), tf.compat.v1.get_default_graph(),
                    passed))
        return [tf.identity(t) for t, j in zip(leaves, passed) if j is None] + [domain.combined(failures)]

    first = domain.num_checks()
    with vectorizable_randomness():
        converted = tf.vectorized_map(flat, (seeds, per_member), fallback_to_while_loop=True)
    domain.settle(tf.reduce_max(converted[-1]), first)
    out, leaves, varies, graph, passed = box[-1]
    it = iter(converted)  # unchanged members' leaves are the inputs themselves, not converted
    batched = [next(it) if j is None else per_member[j] for j in passed]
    items = out if isinstance(out, tuple) else (out,)
    result, k = [], 0
    for item in items:
        n = len(tf.nest.flatten(item))
        if hasattr(item, "shared"):  # keep the invariant leaves once: the body's own tensor
            # (not the score: its leading axis is the batch's length, len(trace))
            own_leaf = [varies[j] or leaves[j] is item.score for j in range(k, k + n)]
            keep = [batched[j] if own_leaf[j - k] else (leaves[j] if graph is tf.compat.v1.get_default_graph()
                                                         else batched[j][0]) for j in range(k, k + n)]
            shared = frozenset(j - k for j in range(k, k + n) if not own_leaf[j - k])
            item = tf.nest.pack_sequence_as(item, keep).with_shared(shared)
        else:
            item = tf.nest.pack_sequence_as(item, batched[k:k + n])
        result.append(item)
        k += n
    return tuple(result) if isinstance(out, tuple) else result[0]


def loop_map(fn, elems, parallel_iterations=32):
    """Inside a graph: ``fn`` applied to every slice ``elems[i]`` along the leading axis, its output
    nest (traces included) stacked along a new leading axis. ``fn`` is traced ONCE as a concrete
    function and looped by ``tf.map_fn`` (for bodies with side effects, which ``vectorize``
    cannot batch: gradient accumulation). ``parallel_iterations=1`` makes side effects run in
    order, hence bitwise reproducible."""
    box = []

    def flat(x):
        out = fn(x)
        box.append(out)
        return [tf.identity(t) for t in tf.nest.flatten(out)]
    specs = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape[1:], x.dtype), elems)
    body = tf.function(flat, autograph=False).get_concrete_function(specs)
    out_specs = [tf.TensorSpec(o.shape, o.dtype) for o in body.outputs]
    leaves = tf.map_fn(body, elems, fn_output_signature=out_specs,
                       parallel_iterations=parallel_iterations)
    return tf.nest.pack_sequence_as(box[-1], leaves)


def _varying(tensors, sources):
    """For each tensor: does its value depend on one of ``sources`` (or on a stateful op, which
    may differ per particle)? A walk over the data inputs of the graph."""
    memo = {source.op: True for source in sources}

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


def flat_components(obj, where):
    """``(code, tensors)`` of a nest (traces included), every leaf converted to a tensor."""
    code, comps = static_key(obj)
    return code, [host_tensor(c) for c in comps]


def same_structure(code_a, code_b, where):
    if code_a != code_b:
        raise DynamicStructureError(f"{where}: the trace changed structure (addresses, argument or "
                                    "return value kinds) from one step to the next; a compiled loop "
                                    "needs a fixed structure (the eager path handles changing ones)")


def while_loop(cond, body, state, where="while_loop"):
    """``tf.while_loop`` over an arbitrary nest ``state`` (traces, choice maps, tensors).

    Traces are not handed to ``tf.while_loop`` as nests: TF rebuilds loop variables from their
    ``TypeSpec``s, which a trace's static code would capture as structure. Instead the loop
    carries the flat tensor components (``static_key``) and ``cond`` / ``body`` see the rebuilt
    nest; ``body`` must return a nest of the same static structure (else ``DynamicStructureError``).
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
    of the (equally structured) traces in a graph where they differ."""
    if tf.executing_eagerly():
        return new if bool(accept) else old
    code_new, flat_new = flat_components(new, "choose")
    code_old, flat_old = flat_components(old, "choose")
    same_structure(code_new, code_old, "choose")
    # a leaf both traces share (arguments, observed values, unchanged choices) needs no select
    return unpack(code_new, [a if a is b else tf.where(accept, a, tf.cast(b, a.dtype))
                             for a, b in zip(flat_new, flat_old)])[0]


def uniform_log(seed, dtype):
    """``log u`` for ``u ~ uniform(0, 1)``: the Metropolis-Hastings acceptance threshold."""
    return tf.math.log(standard_uniform([], seed, dtype))


# --- one compiled program per kernel call ----------------------------------------------------

class KernelOwner:
    """The owner (``core.compile``) of the per-call programs of one kernel (``"mh"``, ``"hmc"``,
    ...) on one generative function, for one static choice of its proposal: a kernel that cannot
    be traced (a proposal or involution whose structure depends on values, a trans-dimensional
    move) runs eagerly from then on, without making the model's own GFI calls eager.
    ``explain_compile(kernel_owner(model, "mh"))`` says why it runs eagerly. It lives on its
    generative function (``core.owned``), so it is freed with it."""

    def __init__(self, gen_fn, name):
        self.gen_fn, self.name = gen_fn, name

    def __repr__(self):
        return f"<{self.name} kernel on {self.gen_fn!r}>"


_kernel_owners = Owned("kernel owners")  # gen_fn -> {(name,) + static: KernelOwner}, on gen_fn


def kernel_owner(gen_fn, name, *static):
    """The ``KernelOwner`` of kernel ``name`` on ``gen_fn`` (one per ``static``: e.g. the
    custom proposal and involution of ``mh``)."""
    table = _kernel_owners.of(gen_fn, dict)
    owner = table.get((name,) + static)
    if owner is None:
        owner = table[(name,) + static] = KernelOwner(gen_fn, name)
    return owner


def kernel_call(name, step, trace, args, seed, static=(), owner_static=()):
    """``step(trace, args, seed)`` (a kernel's body; ``args`` a tuple of any nests) as ONE cached
    compiled program per call, as Gen.jl programs call kernels: once per Python loop iteration.

    The program is cached (``core.compile.run``) per the static structure of ``(trace, args)``
    (``static_key``: addresses, shapes, dtypes, Python constants) and ``static`` (selection,
    proposal, step counts), with ``owner_static`` choosing the ``KernelOwner``; tensors are its
    inputs. As GFI calls, a key runs eagerly once and compiled from its second call. The body
    runs inside ``seed_scope`` of a seed derived from ``seed``, so its unseeded calls (inside a
    user's proposal or involution) are fixed by ``seed`` too, and the same seed gives the same
    draws compiled or eager. Inside a caller's graph (``run_chain``, a ``tf.function``), with
    ``set_auto_compile(False)``, or for a kernel that cannot be traced, ``step`` runs inline."""
    seed = as_seed(seed)

    def body(trace, args, seed):
        with seed_scope(fold_in(seed, _SCOPE_TAG)):
            return step(trace, args, seed)

    owner = kernel_owner(trace.gen_fn, name, *owner_static)
    return compiled.run_repeated(owner, name, static, (trace, args, seed), lambda objs: body(*objs))


def numeric_input(x):
    """A Python number or nested list of numbers (a step size, a prior mean) as a float64 array,
    so that ``kernel_call`` passes it as an input (a new value does not retrace; as a Python
    constant it would be part of the key). float64 keeps its value exact for float64 models;
    kernels cast it to the trace's dtype."""
    if isinstance(x, (int, float, list, tuple)) and not isinstance(x, bool):
        return np.asarray(x, np.float64)
    return x


_SCOPE_TAG = 0x6b65726e  # "kern": the seed of a kernel body's unseeded calls
