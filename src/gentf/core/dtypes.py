"""The float dtype of values that meet no tensor.

Python numbers are weakly typed, as in JAX: in ``normal(0.0, sigma)`` the literal ``0.0`` takes
``sigma``'s dtype, so the same model runs beside float32 or float64 data. Only a choice whose
arguments are all Python numbers (``normal(0.0, 1.0)``), and the score of a body with no random
choice, have no tensor to follow: they get the default float, float32 unless
``set_default_float(tf.float64)``. The setting is read when a body runs (or is traced): compiled
GFI calls are cached per setting.
"""
import tensorflow as tf

_default = tf.float32


def set_default_float(dtype):
    """Set the float dtype of choices and scores that meet no tensor: ``tf.float32`` (the
    default) or ``tf.float64``."""
    global _default
    dtype = tf.as_dtype(dtype)
    if dtype not in (tf.float32, tf.float64):
        raise ValueError(f"set_default_float: expected tf.float32 or tf.float64, got {dtype.name}")
    _default = dtype


def default_float():
    """The float dtype of values that meet no tensor (``set_default_float``)."""
    return _default
