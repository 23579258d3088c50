"""Domain checks of distribution arguments inside graphs, XLA included.

Eagerly a bad argument raises ``DomainError`` at once (``Distribution.validate``). In a graph
a body's checks become ONE assertion (``assert_all``) whose message names the first failing
address; when the compiled call fails, ``domain_error`` turns TF's error back into a
``DomainError``.

XLA compiles ``Assert`` to nothing, so inside programs compiled with XLA (``deferred()``,
entered by the inference library while tracing them) a failing check instead records its index
in a table of messages into a resource variable, which XLA keeps, also inside loops; the
program returns it (``failure_index()``) and ``raise_failure`` raises the ``DomainError``.
``tf.vectorized_map`` drops assertions and cannot batch a variable update, so inside a
particle-batched body (``collecting()``) the per-particle indices are returned as an output and
settled once, outside the batch.

Observed values are checked by the same mechanism (``check``): a NaN or infinite constraint of
a float choice, a ``bernoulli`` constraint other than a bool, 0 or 1, or a ``categorical`` one
outside ``0..K-1``, is a ``DomainError`` naming the address, as Pyro's ``validate_args``; so is a
NaN or infinite float argument of a built-in distribution (``nan_checks``). ``set_validate_args(False)`` turns every check off (arguments and
observations; an invalid argument then gives NaN scores).

Trial points of line searches and proposals (``rejecting()``, entered by ``map_optimize``,
``hmc``, ``mala`` and ``elliptical_slice`` around the points they try): a failed check does not
raise; the body's score and weight become ``-inf`` (``guard``), so the point is rejected, as
Gen.jl rejects a step whose log density is ``-Inf``. A domain error at a point the algorithm
accepts is still raised, by the GFI calls made outside the scope.
"""
import contextlib
import math
import threading

import tensorflow as tf

from .context import current, scoped
from .errors import DomainError
from .owned import Owned

_MARKER = "gentf.DomainError: "
_messages = []     # index -> message of every deferred check traced so far, in every thread
_messages_lock = threading.Lock()
_failure = []      # [tf.Variable]: the first failed check's index, -1 when none
_validate = True   # set_validate_args (a setting; the scopes below are per thread: core.context)
_assertions = Owned("assertions")  # graph -> its assertion ops, in order (after_checks); on the graph


def set_validate_args(enabled):
    """Turn the domain checks of distribution arguments and observed values on (the default)
    or off. Compiled GFI calls are cached per setting; inference programs compiled earlier keep
    the setting they were traced with."""
    global _validate
    _validate = bool(enabled)


def validating():
    """Are domain checks on (``set_validate_args``)?"""
    return _validate


@contextlib.contextmanager
def rejecting():
    """Within: a body whose checks fail gets score and weight ``-inf`` instead of an error."""
    with scoped(rejecting=current().rejecting + 1):
        yield


def is_rejecting():
    return current().rejecting > 0


def mode():
    """The settings that change what a traced body does with its checks (a cache key part)."""
    return (_validate, current().rejecting > 0)


def check(checks, pending=None):
    """Enforce ``(bool tensor, message)`` checks (every element must be True). Eagerly: raise
    ``DomainError`` with the first failing message. In a graph, or inside ``rejecting()``:
    append ``(condition, message)`` to ``pending`` for the body's one ``assert_all`` (or its
    ``guard``), or assert at once when there is no ``pending`` list. Nothing when validation is
    off."""
    if not _validate:
        return
    for cond, message in checks:
        cond = tf.reduce_all(cond)
        if pending is not None and (current().rejecting or not tf.executing_eagerly()):
            pending.append((cond, message))
        elif tf.executing_eagerly():
            if not bool(cond):
                raise DomainError(message)
        else:
            assert_all([(cond, message)])


def nan_checks(value, what="the observed value"):
    """The checks that a float ``value`` is neither NaN nor infinite, as ``(condition, message)``
    pairs like a distribution's ``arg_checks`` (none for integers or with validation off); the
    messages say ``what`` it is ("the observed value", "the argument std", ...). An infinite
    observation has log density ``-inf`` or ``+inf`` everywhere, so it corrupts every weight
    and gradient that sees it; NaN is checked first, so a NaN is never called infinite."""
    if not (_validate and value.dtype.is_floating):
        return []
    return [(~tf.math.is_nan(value), f"{what} is NaN"), (~tf.math.is_inf(value), f"{what} is infinite")]


def guard(checks, value):
    """``value`` where every check holds, else ``-inf`` (the score of a rejected trial point)."""
    if not checks:
        return value
    ok, _ = _flat(checks)
    return tf.where(tf.reduce_all(ok), value, tf.constant(-math.inf, value.dtype))


def assert_all(checks):
    """Assert many checks at once: ``(bool scalar, message)`` or, for a batch of members,
    ``(bool vector, messages)`` with one message per element; on failure the error names the
    first failing check's message."""
    if not checks:
        return
    ok, messages = _flat(checks)
    first_bad = tf.argmin(tf.cast(ok, tf.int32), output_type=tf.int32)
    if current().deferred:
        with _messages_lock:
            base = len(_messages)
            _messages.extend(messages)
        record(tf.where(tf.reduce_all(ok), -1, base + first_bad))
    else:
        _assert(tf.reduce_all(ok), messages, first_bad)


def _flat(checks):
    """The checks as one bool vector and its messages, element by element (scalar checks
    stacked, member vectors joined whole: no op per member)."""
    parts, messages, scalars = [], [], []
    for cond, message in checks:
        if isinstance(message, str):
            scalars.append(cond)
            messages.append(message)
            continue
        if scalars:
            parts.append(tf.stack(scalars))
            scalars = []
        parts.append(cond)
        messages.extend(message)
    if scalars:
        parts.append(tf.stack(scalars))
    return (parts[0] if len(parts) == 1 else tf.concat(parts, 0)), messages


def _assert(ok, messages, index):
    """A graph assertion of ``ok`` whose message, on failure, is ``messages[index]``."""
    table = tf.constant([_MARKER + m for m in messages])
    op = tf.debugging.Assert(ok, [tf.gather(table, tf.maximum(index, 0))])
    _assertions.of(tf.compat.v1.get_default_graph(), list).append(op)


def after_checks(write):
    """Run the state write ``write()`` only if every check traced before it passed, so that a
    failed check leaves the state as it was. Eagerly a failed check has raised already. In a
    graph TF orders an assertion only among other assertions, so ``write`` is made to wait for
    the graph's assertions so far; in a program XLA compiles (``deferred()``), which asserts
    nothing, it runs only while no failure is recorded (``tf.cond``)."""
    if tf.executing_eagerly():
        write()
    elif current().deferred and _failure:
        tf.cond(failure_index() < 0, lambda: _ran(write), lambda: tf.constant(False))
    else:
        with tf.control_dependencies(_assertions.get(tf.compat.v1.get_default_graph(), [])):
            write()


def _ran(write):
    write()
    return tf.constant(True)


@contextlib.contextmanager
def deferred():
    """Within (while tracing a program XLA compiles): record failures instead of asserting."""
    with scoped(deferred=current().deferred + 1):
        yield


@contextlib.contextmanager
def collecting():
    """Within (tracing one particle's body under ``tf.vectorized_map``, which drops assertions
    in the body): checks are deferred into the yielded list, for the caller to return from the
    body and ``settle`` outside the batch."""
    found = []
    context = current()
    with scoped(collectors=context.collectors + ((tf.compat.v1.get_default_graph(), found),),
                deferred=context.deferred + 1):
        yield found


def num_checks():
    """How many deferred checks have been traced (the next one's index)."""
    return len(_messages)


def combined(found):
    """One index tensor for a list of recorded ones (``-1``: none failed)."""
    return tf.reduce_max(tf.stack(found)) if found else tf.constant(-1, tf.int32)


def settle(index, first):
    """Enforce the failure ``index`` returned by a batched body or deferred program whose checks
    got indices from ``first`` on: record it when deferring, else assert it is -1 (raise
    eagerly)."""
    if current().deferred:
        record(index)
    elif tf.executing_eagerly():
        if int(index) >= 0:
            raise DomainError(_messages[int(index)])
    elif len(_messages) > first:
        _assert(index < 0, _messages[first:], index - first)


def record(index):
    """Keep the failed check's ``index`` (-1: none failed) unless one is kept already: in the
    enclosing particle-batched body's list when tracing it, else in the variable."""
    context = current()
    if not context.deferred:
        return
    if context.collectors and context.collectors[-1][0] is tf.compat.v1.get_default_graph():
        context.collectors[-1][1].append(index)
        return
    if not _failure:
        with tf.init_scope():
            _failure.append(tf.Variable(-1, dtype=tf.int32, trainable=False, name="gentf_domain_failure"))
    var = _failure[0]
    var.assign(tf.where(var.read_value() >= 0, var.read_value(), index))


def failure_index():
    """The recorded failure's index, to return from a deferred program (-1: none)."""
    return _failure[0].read_value() if _failure else tf.constant(-1, tf.int32)


def raise_failure(index):
    """After a deferred program returned ``failure_index()``: clear the record, then ``settle``
    the index (raise its ``DomainError`` eagerly, assert in an enclosing graph)."""
    if _failure and not current().deferred and not (tf.executing_eagerly() and int(index) < 0):
        _failure[0].assign(-1)
    settle(index, 0)


def domain_error(error):
    """The ``DomainError`` behind a graph's failed ``assert_all``, or None for another error."""
    if _MARKER not in error.message:
        return None
    detail = error.message.split(_MARKER, 1)[1].split("\n")[0]
    return DomainError(detail.rstrip("] ").replace("\\'", "'"))
