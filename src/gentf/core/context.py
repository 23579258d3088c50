"""The execution context: what a running gentf call has entered, one per thread.

gentf has two kinds of state, kept apart:

- *settings*, process-wide, set by the user once and read by every thread:
  ``set_validate_args`` (``core.domain``), ``set_default_float`` (``core.dtypes``),
  ``set_auto_compile`` (``core.compile``), ``gentf.seed`` (``core.seeds``);
- *execution state*, per thread: the scopes a running call is inside. It is one ``Context``
  object per thread, read with ``current()`` and changed only for a ``with`` block by
  ``scoped(**changes)``, so that a call in one thread (tracing a program, drawing seeds) never
  sees another thread's scopes.

The fields of the context (each documented where it is used):

    call_float       the running call's float (core.dtypes), None outside any call
    vectorizable     draws come from the batchable Threefry generator (core.seeds)
    xla              a program XLA will compile is being traced (core.seeds)
    seed_scopes      the SeedStreams of the enclosing seed_scope()s (core.seeds)
    handlers         the running @gen handlers, innermost last (core.gfi)
    drop_unvisited   unvisited constraints are ignored (core.gfi)
    samples_constant generate's samples are constants to a gradient tape (modeling.handlers)
    in_body          a @gen body is running (modeling.dsl: len and iteration of tensors)
    deferred         > 0 while tracing a program whose checks are recorded (core.domain)
    collectors       (graph, found indices) per enclosing particle-batched body (core.domain)
    rejecting        > 0 while trial points are scored: failed checks give -inf (core.domain)

``cache_key()`` is the part of the context (and of the settings) that a traced program depends
on: every compiled program is cached under it (``core.compile``).
"""
import contextlib
import threading


class Context(threading.local):
    """The execution state of the current thread (module docstring); a fresh thread starts
    outside every scope."""

    def __init__(self):
        self.call_float = None
        self.vectorizable = False
        self.xla = False
        self.seed_scopes = ()
        self.handlers = ()
        self.drop_unvisited = False
        self.samples_constant = False
        self.in_body = False
        self.deferred = 0
        self.collectors = ()
        self.rejecting = 0


_context = Context()


def current():
    """The current thread's ``Context``."""
    return _context


@contextlib.contextmanager
def scoped(**changes):
    """Within: the current thread's context with ``changes`` (field=value) applied; the previous
    values are restored on exit, also when the block raises."""
    saved = {name: getattr(_context, name) for name in changes}
    for name, value in changes.items():
        setattr(_context, name, value)
    try:
        yield _context
    finally:
        for name, value in saved.items():
            setattr(_context, name, value)


def cache_key():
    """What a program traced now depends on besides its inputs: the validation setting, the call
    float (or the default float) and which generator draws."""
    from . import domain, dtypes  # the settings' owners (they import this module)
    return domain.mode(), dtypes.default_float(), _context.vectorizable
