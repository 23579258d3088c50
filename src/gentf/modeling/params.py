"""Trainable parameters and their gradient accumulators.

Every trainable ``tf.Variable`` that gentf trains (a @gen function's ``param``, a TFFunction's
variables) has a gradient accumulator: a non-trainable Variable of the same shape to which
``accumulate_param_gradients`` adds ``scale * gradient``. Optimizers read and reset accumulators.
An accumulator is stored on its Variable (``core.owned``), so it is freed with the Variable.
"""
import tensorflow as tf

from ..core import domain
from ..core.errors import AddressError, NotInModelError
from ..core.gfi import active_handler
from ..core.owned import Owned

_accumulators = Owned("accumulator")  # Variable -> its accumulator Variable, on the Variable


def register_accumulator(var):
    """Create (once) and return the gradient accumulator of ``var``, on ``var``'s device.

    For a parameter made in a ``tf.distribute`` strategy's scope (a mirrored Variable) it is a
    sync-on-read Variable with SUM aggregation (as Keras metrics), one copy per replica: inside a
    replica, ``accumulate_param_gradients`` adds to that replica's copy; read outside the replicas
    (``ParamUpdate.apply``) it is the all-reduced sum of the copies, so data-parallel accumulation
    equals single-device accumulation. Outside the replicas a gradient tape sees the parameter's
    local copies, not the mirrored Variable: each copy maps to the accumulator's copy on its
    device, so a gradient accumulated there is counted once in the sum too."""
    acc = _accumulators.get(var)
    if acc is None:
        name = var.name.split(":")[0] + "_grad"
        strategy = getattr(var, "distribute_strategy", None)
        with tf.init_scope():
            if strategy is not None:
                with strategy.scope():
                    acc = tf.Variable(tf.zeros(var.shape, var.dtype), trainable=False, name=name,
                                      synchronization=tf.VariableSynchronization.ON_READ,
                                      aggregation=tf.VariableAggregation.SUM)
                for copy, acc_copy in zip(strategy.experimental_local_results(var),
                                          strategy.experimental_local_results(acc)):
                    _accumulators[copy] = acc_copy
            else:
                with tf.device(var.device):
                    acc = tf.Variable(tf.zeros(var.shape, var.dtype), trainable=False, name=name)
        _accumulators[var] = acc
    return acc


def accumulate(variables, grads, scale=None):
    """``g_theta += scale * grad`` into each parameter's accumulator (scale 1 when None), in the
    parameter's dtype, after every domain check traced before (``domain.after_checks``): a failed
    check accumulates nothing."""
    def write():
        for var, grad in zip(variables, grads):
            step = grad if scale is None else tf.cast(scale, grad.dtype) * grad
            register_accumulator(var).assign_add(tf.cast(step, var.dtype))
    domain.after_checks(write)


def param(name):
    """Inside a @gen body: the trainable parameter ``name`` of the function being run."""
    handler = active_handler()
    if handler is None:
        raise NotInModelError(f"param({name!r}) used outside a @gen body; use get_param(fn, name)")
    return handler.current_fn().param_var(name)


def init_param(fn, name, value):
    """Create or overwrite the trainable parameter ``name`` of the @gen function ``fn``."""
    existing = fn._params.get(name)
    if existing is not None and existing.shape == tf.convert_to_tensor(value).shape:
        existing.assign(tf.cast(value, existing.dtype))
        register_accumulator(existing).assign(tf.zeros_like(existing))
        return
    var = tf.Variable(value, name=name)
    fn._params[name] = var
    register_accumulator(var)


def get_param(fn, name):
    """The current value (a tensor) of parameter ``name`` of ``fn``."""
    return tf.convert_to_tensor(fn.param_var(name))


def set_param(fn, name, value):
    """Set the value of parameter ``name`` of ``fn`` (cast to its dtype; the shape must match)."""
    var = fn.param_var(name)
    var.assign(tf.cast(value, var.dtype))


def get_param_grad(fn, name):
    """The accumulated gradient of parameter ``name`` of ``fn``."""
    return tf.convert_to_tensor(register_accumulator(fn.param_var(name)))


def zero_param_grad(fn, name):
    """Reset the gradient accumulator of parameter ``name`` of ``fn`` to zero."""
    acc = register_accumulator(fn.param_var(name))
    acc.assign(tf.zeros_like(acc))


def get_params(fn):
    """The names of the trainable parameters of a @gen function (Gen.jl's ``get_params``); for a
    TFFunction, its parameter Variables (GenTF's ``get_params``)."""
    own = getattr(fn, "param_variables", None)
    return own() if own is not None else list(fn.params())


def missing_param(fn, name):
    return AddressError(f"parameter {name!r} of {fn!r} is not initialised: call init_param(fn, {name!r}, value)")
