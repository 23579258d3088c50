"""The float dtype of values that meet no tensor: the call's data decide, as in numpy and JAX.

Python numbers are weakly typed, as in JAX: in ``normal(0.0, sigma)`` the literal ``0.0`` takes
``sigma``'s dtype. A choice whose arguments are all Python numbers (``normal(0, 1)``), and the
score of a body with no random choice, have no tensor to follow: they take the *call's float*,

    call float = the widest float dtype among the call's arguments that are numpy values or
                 tensors (for a method on a trace without new arguments: the trace's), else the
                 enclosing call's float, else ``set_default_float``'s (float32).

Python numbers and lists of them do not count. So ``slope = normal(0, 1) @ "slope"; slope * x``
runs with float64 data ``x`` as float64 and with float32 data as float32. Constraints and
observations do not count either: an observed value takes the dtype of the choice it constrains
(its distribution's arguments decide), so float64 observations of a float32 network's output stay
float32, as the network computes. A call made inside another (a model's nested call, ``generate`` inside
``importance_sampling``) inherits the enclosing call's float: the outermost public call decides,
from what the user passed. The float is read when a body runs or is traced; compiled programs
are cached per float (``core.compile``).
"""
import contextlib

import tensorflow as tf

from .context import current, scoped

_default = tf.float32


def set_default_float(dtype):
    """Set the float dtype of choices and scores whose call has no float data: ``tf.float32``
    (the default) or ``tf.float64``."""
    global _default
    dtype = tf.as_dtype(dtype)
    if dtype not in (tf.float32, tf.float64):
        raise ValueError(f"set_default_float: expected tf.float32 or tf.float64, got {dtype.name}")
    _default = dtype


def default_float():
    """The float dtype of values that meet no tensor: the running call's float (see the module
    docstring), outside any call ``set_default_float``'s."""
    return current().call_float or _default


def widest_float(values):
    """The widest float dtype among ``values`` (objects with a ``dtype``: tensors, numpy arrays
    and scalars, dtypes), or None when none is a float."""
    found = None
    for v in values:
        dt = getattr(v, "dtype", v)
        try:
            dt = tf.as_dtype(dt)
        except TypeError:
            continue
        if dt.is_floating and (found is None or dt.size > found.size):
            found = dt
    return found


@contextlib.contextmanager
def call_float(values):
    """Within: the call float of a public call whose data (tensors, numpy values, dtypes) are
    ``values``. Inside another call this inherits the enclosing call's float and ignores
    ``values``."""
    if current().call_float is not None:
        yield
        return
    with scoped(call_float=widest_float(values) or _default):
        yield
