"""Eager form: ``TFFunction(model)`` or ``TFFunction(fn, variables=[...])`` (TF2).

The body is a Keras model, a ``tf.Module`` or any callable ``y = f(*x)`` of TF ops; its
parameters ``theta`` are the model's trainable variables (or the ``variables`` given). Each has
a gentf gradient accumulator (``modeling.params.register_accumulator``), shared with @gen code
and the optimizers. The call is plain TF: inside a @gen body the replay's GradientTape sees the
variables and the ops, so gradients flow natively, eagerly and inside ``tf.function``.
``accumulate_param_gradients`` on a trace of the function itself tapes the call with objective
``<y, dy>`` and adds ``scale * J_theta(y)^T dy`` to each accumulator.

A Keras model wrapped before its first call has no variables yet: its parameters are read from
``model.trainable_variables`` at each use (not fixed at the wrapping), so they are there once it
is built, at its first call or by ``model.build(input_shape)``; ``ParamUpdate`` picks them up
then (``learning/param_update.py``).
"""
import inspect

import tensorflow as tf

from ..core.errors import ArgumentError
from ..modeling.params import accumulate, register_accumulator
from .function import TFFunction


class EagerTFFunction(TFFunction):
    """``TFFunction(model, variables=None)``: ``model(*args)`` with parameters ``variables``
    (default: ``model.trainable_variables``, or none for a plain callable). The output may be
    any nest of tensors."""

    def __init__(self, model, variables=None):
        super().__init__()
        if not callable(model):
            raise TypeError(f"TFFunction: {model!r} is not callable")
        self._model = model
        # Without ``variables``, the model's trainable variables are read at each use, so that
        # those of a Keras model built after the wrapping (at its first call) are picked up.
        self._lazy = variables is None and hasattr(model, "trainable_variables")
        self._named = {}
        self._set_variables(variables if variables is not None else getattr(model, "trainable_variables", ()))
        self._arity = _arity(model)

    def _set_variables(self, variables):
        named = _unique_names((_name(v), _tf_variable(v)) for v in variables)
        for var in named.values():
            if not var.trainable:
                raise ArgumentError(f"TFFunction: parameter {var.name} is not trainable")
            register_accumulator(var)
        self._named = named

    def _refresh(self):
        """Pick up the model's trainable variables when they changed (a Keras model built after
        the wrapping); cheap when they did not."""
        if not self._lazy:
            return
        current = self._model.trainable_variables
        if len(current) != len(self._named) or any(
                _tf_variable(v) is not w for v, w in zip(current, self._named.values())):
            self._set_variables(current)

    def awaiting_build(self):
        """Has this function no parameters yet because its Keras model is not built (it builds
        at its first call, or with ``model.build(input_shape)``)?"""
        self._refresh()
        return self._lazy and not self._named and getattr(self._model, "built", True) is False

    def __repr__(self):
        name = getattr(self._model, "name", None) or getattr(self._model, "__name__", None)
        return f"TFFunction({name or type(self._model).__name__})"

    def params(self):
        return self._current()

    def _current(self):
        """``{name: tf.Variable}`` of the parameters now (``_refresh`` first)."""
        self._refresh()
        return dict(self._named)

    def _checkpoint_children(self):
        """The trained parameter Variables by name, for ``tf.train.Checkpoint`` (for the graph
        form, the TF2 mirrors: the session is pushed their values before each run)."""
        return self._current()

    def trained_variable(self, var):
        """The ``tf.Variable`` that gentf trains for parameter ``var`` (here ``var`` itself)."""
        var = _tf_variable(var)
        if all(var is not v for v in self._current().values()):
            raise ArgumentError(f"{var.name} is not a parameter of {self!r}")
        return var

    def param_grad_var(self, var):
        """The gentf accumulator of parameter ``var``."""
        return register_accumulator(self.trained_variable(var))

    def reset_param_grads(self):
        """A callable that zeroes this function's accumulators when called (eagerly or inside
        tf.function); it zeroes the parameters of the moment it is called."""
        return self._reset_param_grads

    def _reset_param_grads(self):
        for var in self._current().values():
            acc = register_accumulator(var)
            acc.assign(tf.zeros_like(acc))

    def _call(self, args):
        lo, hi = self._arity
        if len(args) < lo or (hi is not None and len(args) > hi):
            count = lo if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
            raise ArgumentError(f"{self!r} takes {count} argument(s), got {len(args)}")
        out = self._model(*args)
        if self._lazy and not self._named:
            self._refresh()  # a Keras model builds its variables at its first call
        return out

    def _tape_variables(self):
        return list(self._current().values())

    def _accumulate(self, variables, scale, gradients):
        arg_grads, var_grads = gradients()
        accumulate(variables, var_grads, scale)
        return arg_grads


def _unique_names(pairs):
    """``{name: var}`` with ``_1``, ``_2``, ... appended to repeated names."""
    out = {}
    for name, var in pairs:
        key, k = name, 1
        while key in out:
            key, k = f"{name}_{k}", k + 1
        out[key] = var
    return out


def _tf_variable(v):
    """The ``tf.Variable`` behind ``v`` (a Keras 3 variable wraps one as ``.value``)."""
    if isinstance(v, tf.Variable):
        return v
    inner = getattr(v, "value", None)
    if isinstance(inner, tf.Variable):
        return inner
    raise ArgumentError(f"TFFunction: parameter {v!r} is not a tf.Variable")


def _name(v):
    return getattr(v, "path", None) or v.name.split(":")[0]


def _arity(model):
    """``(min, max)`` positional arguments of ``model`` (max None: unbounded or unknown)."""
    try:
        params = inspect.signature(model).parameters.values()
    except (TypeError, ValueError):
        return 0, None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
                   for p in params), None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(p.default is p.empty for p in positional), len(positional)
