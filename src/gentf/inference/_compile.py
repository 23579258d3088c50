"""Shared machinery of the inference algorithms: compiled-function caches, batching particles,
and choosing between two traces inside a graph.

Compiled paths. A whole loop (all particles, N MCMC steps) runs as one ``tf.function`` (XLA when
``jit_compile``) cached per (owner, static key), so repeated calls do not retrace. A model whose
structure depends on random values cannot be traced; the caller then falls back to eager Python.
"""
import weakref

import tensorflow as tf

from ..core.errors import GentfError
from ..core.nest import decode, encode

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
    """The compiled function ``build()`` for ``(owner, key)``, created once."""
    table = _cache.setdefault(owner, {})
    fn = table.get((key, jit_compile))
    if fn is None:
        fn = table[(key, jit_compile)] = tf.function(build(), autograph=False, jit_compile=jit_compile,
                                                     reduce_retracing=True)
    return fn


def run_compiled(owner, key, build, inputs, jit_compile):
    """Call the cached compiled ``build()`` on ``inputs``; returns None when the program cannot be
    traced (a dynamic model), so the caller can run eagerly. A program XLA cannot compile (an op
    without an XLA kernel) runs, from then on, as a plain graph."""
    table = _cache.setdefault(owner, {})
    jit_compile = jit_compile and not table.get(("no-xla", key))
    try:
        return cached(owner, key, build, jit_compile)(*inputs)
    except GentfError:
        raise
    except tf.errors.OpError:
        if not jit_compile:
            raise
        table[("no-xla", key)] = True
        return run_compiled(owner, key, build, inputs, False)
    except (TypeError, ValueError, AttributeError, NotImplementedError, tf.errors.OperatorNotAllowedInGraphError):
        return None


def vectorize(fn, seeds):
    """``[fn(s) for s in seeds]`` stacked along a new leading axis, via ``tf.vectorized_map``.
    ``fn`` returns a nest (traces included); each leaf gains a leading batch axis. Stateless
    sampling ops have no batched kernel, so pfor loops over them; under XLA that loop is cheap."""
    box = []

    def flat(seed):
        out = fn(seed)
        box.append(out)
        return [tf.identity(t) for t in tf.nest.flatten(out)]

    leaves = tf.vectorized_map(flat, seeds, fallback_to_while_loop=True)
    return tf.nest.pack_sequence_as(box[-1], leaves)


def choose(accept, new, old):
    """``new if accept else old`` for traces: a Python branch eagerly, ``tf.where`` on every leaf
    of the (equally structured) traces in a graph."""
    if tf.executing_eagerly():
        return new if bool(accept) else old
    return tf.nest.map_structure(lambda a, b: tf.where(accept, a, b), new, old)


def uniform_log(seed, dtype):
    """``log u`` for ``u ~ uniform(0, 1)``: the Metropolis-Hastings acceptance threshold."""
    return tf.math.log(tf.random.stateless_uniform([], seed, dtype=dtype))
