"""Shared pieces of the gradient methods: which arguments are differentiable, the return-value
term ``<retval, retval_grad>`` of the objective, and splitting a tape's gradients."""
import numpy as np
import tensorflow as tf

from .errors import ArgumentError


def is_float(x):
    """True for a float tensor, array or Python float: the arguments that get gradients."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        return isinstance(x, float)
    return np.issubdtype(dt, np.floating) if isinstance(dt, np.dtype) else tf.as_dtype(dt).is_floating


def retval_dot(retval, retval_grad):
    """``<retval, retval_grad>`` summed over the tensor leaves (0 when retval_grad is None);
    each ``retval_grad`` leaf must have its return-value leaf's shape (ArgumentError otherwise)."""
    if retval_grad is None:
        return 0.0
    retvals, grads = tf.nest.flatten(retval), tf.nest.flatten(retval_grad)
    if len(retvals) != len(grads):
        raise ArgumentError(f"retval_grad has {len(grads)} leaves, the return value {len(retvals)}")
    terms = []
    for r, g in zip(retvals, grads):
        r, g = tf.convert_to_tensor(r), tf.convert_to_tensor(g)
        if not g.shape.is_compatible_with(r.shape):
            raise ArgumentError(
                f"retval_grad of shape {g.shape} does not match the return value's shape {r.shape}")
        terms.append(tf.reduce_sum(r * tf.cast(g, r.dtype)))
    return tf.add_n(terms) if terms else 0.0


def objective(score, retval, retval_grad):
    """``log p + <retval, retval_grad>`` in the wider float dtype of the two terms (a body with
    no random choice has a default-float zero score beside float64 parameters)."""
    dot = retval_dot(retval, retval_grad)
    if isinstance(dot, tf.Tensor) and dot.dtype != score.dtype:
        wide = tf.float64 if tf.float64 in (dot.dtype, score.dtype) else score.dtype
        return tf.cast(score, wide) + tf.cast(dot, wide)
    return score + dot


def split_gradients(tape, objective, args, others):
    """Gradients of ``objective`` w.r.t. the float ``args`` and ``others``: returns
    ``(arg_grads, other_grads)`` with None for each non-float argument, zeros where unconnected."""
    float_args = [a for a in args if is_float(a)]
    grads = tape.gradient(objective, float_args + list(others),
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    it = iter(grads[:len(float_args)])
    return tuple(next(it) if is_float(a) else None for a in args), grads[len(float_args):]
