"""One compile-or-fall-back mechanism for every compiled program gentf runs.

An eager TF op costs ~25 us and an eager TFP sample several ms, while one ``tf.function`` call
costs ~350 us whatever it contains. So gentf runs its work as cached ``tf.function``s: repeated
eager GFI calls (``core.gfi``: compiled from the second call with the same static structure),
inference programs (``inference``: all particles, N MCMC steps; XLA by default) and training
epochs (``learning.train``). All of them go through ``run``:

- programs are cached per ``(owner, key)``: ``key`` captures everything static (method, static
  arguments, shapes; the validation mode and default float are added here); the tensors are the
  inputs, so new values never retrace. The cache lives on the owner (``core.owned``), so it is
  freed with the owner, although its programs refer to it. A cached program
  is called as a concrete function (skipping ``tf.function``'s dispatch, ~0.2 ms a call);
- a program XLA cannot compile (an op without an XLA kernel) runs as a plain graph from then on;
  XLA drops assertions, so domain checks are deferred and raised after the call (``core.domain``);
- a program that cannot be traced because the model's structure depends on values makes its
  owner *dynamic*: ``fallback()`` (the eager path) runs now and from then on. Only the errors that
  mean "this depends on a value" count (``_DYNAMIC``: branching on or iterating a symbolic
  tensor, converting it to Python or numpy, a structure that changes between loop steps); any
  other exception raised while tracing is a bug and propagates. The reason is recorded:
  ``explain_compile(owner)`` returns it, and it is logged (logger ``"gentf"``, INFO);
- host randomness is never frozen into a program: a body that draws from ``numpy.random``'s or
  ``random``'s global generators while being traced would replay the trace-time draws on every
  call, so such a draw makes the owner dynamic too (with that reason). A key's first, eager run
  is watched as well: a body that drew host randomness there is never traced (tracing would run
  its Python, and its side effects, once more).

``set_auto_compile(False)`` turns off the compilation of eager GFI calls (e.g. to debug a model
with print statements, which run only while tracing).
"""
import logging
import random

import numpy as np
import tensorflow as tf

from . import domain
from .context import cache_key
from .errors import GentfError
from .nest import decode, encode, host_tensor
from .owned import Owned
from .seeds import xla_randomness

_log = logging.getLogger("gentf")
_auto_compile = True
_MAX_PROGRAMS = 256  # cache entries per owner (a program and its concrete functions); the oldest is dropped beyond


def set_auto_compile(enabled):
    """Enable or disable automatic compilation of repeated eager GFI calls."""
    global _auto_compile
    _auto_compile = bool(enabled)


class DynamicStructureError(GentfError):
    """Raised while tracing when a program's structure depends on values (gentf falls back to
    eager execution and records this as the reason)."""


class _Owner:
    """The compile state of one owner, stored on the owner itself (``core.owned``): it is freed
    with the owner, although its programs refer to the owner."""

    __slots__ = ("seen", "programs", "reason", "no_xla", "evicted")

    def __init__(self):
        self.seen = set()       # keys run once eagerly (compile_after=1)
        self.programs = {}      # (key, jit_compile) -> tf.function; also concrete programs
        self.reason = None      # why the owner runs eagerly (None: it compiles)
        self.no_xla = set()     # keys XLA could not compile
        self.evicted = False    # a program was dropped for room (warned once)


_owners = Owned("compile")  # owner -> its _Owner, stored on the owner (core.owned)


def _state(owner):
    """The ``_Owner`` of ``owner``, made on first use."""
    return _owners.of(owner, _Owner)


def explain_compile(owner):
    """Why ``owner`` (a generative function, or the owner of an inference or training program)
    runs eagerly: the exception that made tracing fail, or None when it compiles."""
    state = _owners.get(owner)
    return None if state is None else state.reason


def is_dynamic(owner):
    state = _owners.get(owner)
    return state is not None and state.reason is not None


def run(owner, key, build, inputs, fallback, jit_compile=False, compile_after=0, xla_draws=True):
    """``build()(*inputs)`` as a cached compiled program of ``owner``, or ``fallback()``.

    ``compile_after``: how many eager runs (``fallback()``) of a key come before it is compiled
    (1 for GFI calls: a call made once is not worth tracing). With ``jit_compile`` the program
    is compiled by XLA; with ``jit_compile="auto"`` only when it has at most ``XLA_MAX_OPS``
    ops and, unless ``xla_draws``, draws no random numbers (XLA's Philox stream differs from
    TF's, so XLA would change the draws of a seed; ``_auto_xla``). Returns the program's
    outputs, or ``fallback()``'s when ``owner`` is dynamic (see the module docstring)."""
    state = _state(owner)
    if state.reason is not None:
        return fallback()
    full = (key,) + cache_key()  # the settings and scopes a trace reads are structure
    if compile_after and full not in state.seen:
        state.seen.add(full)
        before = _host_rng_state()
        out = fallback()
        if _host_rng_state() != before:  # never traced: tracing would run the body once more
            _mark_dynamic(owner, state, DynamicStructureError(_HOST_RANDOMNESS))
        return out
    try:
        if jit_compile == "auto":
            jit_compile = _auto_xla(state, full, build, inputs, xla_draws)
        jit_compile = jit_compile and full not in state.no_xla
        out = _call(_program(state, full, build, jit_compile, inputs), inputs)
        if jit_compile:
            out, failure = out
            domain.raise_failure(failure)
        return out
    except GentfError as e:
        if not isinstance(e, DynamicStructureError):
            raise
        return _fall_back(owner, state, e, fallback)
    except tf.errors.OpError as e:
        error = domain.domain_error(e)
        if error is not None:
            raise error from None
        if not jit_compile:
            raise
        state.no_xla.add(full)
        _log.info("gentf: %r runs without XLA, which cannot compile it: %s", key, e.message.split("\n")[0])
        return run(owner, key, build, inputs, fallback, False)
    except _DYNAMIC as e:
        if not _depends_on_values(e):
            if hasattr(e, "add_note"):
                e.add_note(f"gentf: raised while compiling {owner!r} (a bug in the program or in gentf, not "
                           "a random structure)")
            raise
        return _fall_back(owner, state, e, fallback)


def run_repeated(owner, name, static, objs, body):
    """``body(objs)`` for an eager call that may repeat (a GFI method, an inference kernel): the
    key is ``name``, the static structure of ``objs`` (``nest.encode``: addresses, shapes, Python
    constants) and ``static``; the tensors of ``objs`` are the inputs. The first call of a key
    runs eagerly, later ones run the cached compiled program (``run`` with ``compile_after=1``).
    Inside a graph, with auto-compile off, or with an unhashable static part, ``body`` runs
    inline."""
    if not (_auto_compile and tf.executing_eagerly()):
        return body(objs)
    comps = []
    code = encode(objs, comps)
    key = (name, code, static)
    try:
        hash(key)
    except TypeError:  # an unhashable static argument: no caching
        return body(objs)
    inputs = [c if isinstance(c, (tf.Tensor, tf.Variable)) else host_tensor(c) for c in comps]
    return run(owner, key, lambda: lambda tensors: body(decode(code, list(tensors))[0]), (inputs,),
               fallback=lambda: body(objs), compile_after=1)


def program(owner, key):
    """The most recent compiled program of ``owner`` for ``key``: a concrete function (with a
    ``.graph``), or the ``tf.function`` when its inputs are not all tensors; None if none."""
    found = programs(owner, key)
    return found[-1] if found else None


def programs(owner, key):
    """Every cached program of ``owner`` for ``key``, oldest first: per settings the
    ``tf.function``, then a concrete function per input signature it was called with."""
    state = _owners.get(owner)
    return [fn for k, fn in (state.programs.items() if state is not None else ())
            if (k[0] == "concrete" and k[1][0] == key) or (len(k) == 2 and k[0][0] == key)]  # (key, settings)


def _fall_back(owner, state, error, fallback):
    _mark_dynamic(owner, state, error)
    return fallback()


def _mark_dynamic(owner, state, error):
    """From now on ``owner`` runs eagerly, because of ``error`` (``explain_compile``)."""
    state.reason = f"{type(error).__name__}: {error}"
    _log.info("gentf: %r runs eagerly (cannot be compiled): %s", owner, state.reason)


def _program(state, key, build, jit_compile, inputs):
    """The cached program for ``key``, as a concrete function for these input shapes when every
    input is a tensor or a composite tensor (a ``tf.data`` iterator)."""
    fn = state.programs.get((key, jit_compile))
    if fn is None:
        fn = state.programs[(key, jit_compile)] = _compile(build(), jit_compile)
        while len(state.programs) > _MAX_PROGRAMS:
            del state.programs[next(iter(state.programs))]
            if not state.evicted:
                state.evicted = True
                _log.warning("gentf: more than %d cached programs for one owner (%r); the oldest are dropped "
                             "and re-traced when called again, which is slow. A loop over many static "
                             "structures (shapes, constraint addresses) makes one program per structure",
                             _MAX_PROGRAMS, key[0])
    signature = _signature(inputs)
    if signature is None:
        return fn
    signature = ("concrete", key, jit_compile) + signature
    program = state.programs.get(signature)
    if program is None:
        program = state.programs[signature] = fn.get_concrete_function(*inputs)
    return program


def _signature(inputs):
    """What selects a concrete program for ``inputs``: each tensor's shape and dtype, each
    composite's ``TypeSpec``; None when some input is neither."""
    signature = []
    for t in tf.nest.flatten(inputs):
        if isinstance(t, tf.Tensor):
            signature.append((tuple(t.shape), t.dtype))
        elif isinstance(t, tf.__internal__.CompositeTensor):
            signature.append(tf.type_spec_from_value(t))
        else:
            return None
    return tuple(signature)


def _call(program, inputs):
    """``program(*inputs)``. A concrete program (every input a tensor or a composite) is called on
    its flat inputs (``_call_flat``, TF's own call after binding; composites expanded into their
    component tensors), skipping the binding of its structured signature: ~0.3 ms a call, as long
    as a small kernel's whole run, and ~2 ms for a ``tf.data`` iterator input."""
    if isinstance(program, tf.types.experimental.ConcreteFunction) and hasattr(program, "_call_flat"):
        return program._call_flat(tf.nest.flatten(inputs, expand_composites=True), program.captured_inputs)
    return program(*inputs)


def _auto_xla(state, key, build, inputs, draws=True):
    """``jit_compile="auto"``: XLA for a program of at most ``XLA_MAX_OPS`` graph ops (and, unless
    ``draws``, no random op). XLA's compile time on CPU grows by ~10 ms per op (a chain over 23
    ``mh`` calls of a 24-choice model has ~35k ops: minutes and gigabytes), a plain graph's by
    well under 1 ms. The plain program is traced first and counted; a large one is kept and runs
    as it is (the key joins ``no_xla``), a small one is traced again for XLA. Deterministic per
    key, so the same seed gives the same draws on every call."""
    if key in state.no_xla:
        return False
    if (key, True) in state.programs:
        return True
    plain = _program(state, key, build, False, inputs)
    graph = getattr(plain, "graph", None)
    if graph is None:
        graph = plain.get_concrete_function(*inputs).graph
    nodes = _nodes(graph)
    large = len(nodes) > XLA_MAX_OPS
    if large or (not draws and any(_is_random(n.op) for n in nodes)):
        state.no_xla.add(key)
        _log.info("gentf: %r runs without XLA: %s", key[0], f"{len(nodes)} graph ops (> XLA_MAX_OPS = "
                  f"{XLA_MAX_OPS})" if large else "it draws random numbers")
        return False
    return True


XLA_MAX_OPS = 1000  # the largest program jit_compile="auto" hands to XLA (~10 s to compile)


def num_ops(graph):
    """The number of ops of a traced program, its functions' bodies (loops, conditionals) included."""
    return len(_nodes(graph))


def _nodes(graph):
    definition = graph.as_graph_def()
    return list(definition.node) + [n for f in definition.library.function for n in f.node_def]


def _is_random(op_type):
    """Is this a TF random-number op (stateless or stateful: its draws depend on the generator)?"""
    return "Random" in op_type or op_type.startswith("Stateless") or op_type in ("Multinomial", "RngBitGenerator")


def _compile(body, jit_compile):
    """``body`` as a ``tf.function`` that refuses host randomness while tracing; under XLA it
    also returns the deferred domain-check failure index."""
    def traced(*args):
        before = _host_rng_state()
        if jit_compile:
            with domain.deferred(), xla_randomness():
                out = body(*args)
            out = out, domain.failure_index()
        else:
            out = body(*args)
        if _host_rng_state() != before:
            raise DynamicStructureError(_HOST_RANDOMNESS)
        return out
    return tf.function(traced, autograph=False, jit_compile=jit_compile, reduce_retracing=True)


_HOST_RANDOMNESS = ("the body draws host randomness (numpy.random or random); a compiled program would "
                    "replay the draws made while tracing on every call. Draw with gentf distributions or "
                    "tf.random stateless ops (or pass the values as arguments) to compile it")


def _host_rng_state():
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return keys.tobytes(), pos, has_gauss, gauss, random.getstate()


# Errors raised while tracing a body whose structure depends on values.
_DYNAMIC = (tf.errors.OperatorNotAllowedInGraphError, TypeError, ValueError, NotImplementedError,
            AttributeError)
_SYMBOLIC = ("symbolic", "Symbolic", "cannot be interpreted as an integer", "Tensor is unhashable")


def _depends_on_values(error):
    """Is ``error`` (raised while tracing) one of value-dependent structure, not a bug?"""
    if isinstance(error, tf.errors.OperatorNotAllowedInGraphError):
        return True
    return any(s in str(error) for s in _SYMBOLIC)
