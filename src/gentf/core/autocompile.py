"""Automatic compilation of eager GFI calls.

An eager TF op costs ~25 us and an eager TFP sample several ms, while one ``tf.function`` call
costs ~350 us whatever it contains. So when a GFI method of the same generative function is
called eagerly a second time with the same static structure (method, static arguments,
selection, argdiffs, shapes of the tensors), gentf runs it as a cached ``tf.function`` instead.

Semantics are unchanged: the same seed gives the same trace either way (seeds are stateless),
and named gentf errors raised while tracing propagate as they are. A model whose structure
depends on random values cannot be traced (branching on a symbolic tensor fails): it is marked
dynamic and always runs eagerly. Domain checks that fail inside the graph are re-raised as
``DomainError``. ``set_auto_compile(False)`` turns the whole mechanism off (e.g. to debug a
model with print statements, which run only while tracing).
"""
import weakref

import tensorflow as tf

from .domain import domain_error
from .errors import GentfError

_enabled = True
_MAX_TRACES_PER_FN = 16


def set_auto_compile(enabled):
    """Enable or disable automatic compilation of repeated eager GFI calls."""
    global _enabled
    _enabled = bool(enabled)


class _FnState:
    __slots__ = ("seen", "compiled", "dynamic")

    def __init__(self):
        self.seen = set()       # static keys called once eagerly
        self.compiled = {}      # static key -> tf.function
        self.dynamic = False    # could not be traced: always eager


_states = weakref.WeakKeyDictionary()


def call(gen_fn, key, run, tensors):
    """``run(tensors)``, compiled when ``gen_fn`` has been called with this static ``key``
    before. ``tensors`` is a nest of tensors (choice maps and traces included); ``key`` must be
    hashable and capture everything else ``run`` depends on."""
    if not (_enabled and tf.executing_eagerly() and getattr(gen_fn, "auto_compile", False)):
        return run(tensors)
    state = _states.get(gen_fn)
    if state is None:
        state = _states[gen_fn] = _FnState()
    if state.dynamic:
        return run(tensors)
    compiled = state.compiled.get(key)
    if compiled is None:
        if key not in state.seen or len(state.compiled) >= _MAX_TRACES_PER_FN:
            state.seen.add(key)
            return run(tensors)
        compiled = state.compiled[key] = tf.function(run, autograph=False, reduce_retracing=True)
    try:
        return compiled(tensors)
    except GentfError:
        raise
    except tf.errors.InvalidArgumentError as e:
        error = domain_error(e)
        if error is not None:
            raise error from None
        raise
    except tf.errors.OpError:
        raise
    except Exception:  # tracing failed: the structure depends on values; stay eager
        state.dynamic = True
        return run(tensors)
