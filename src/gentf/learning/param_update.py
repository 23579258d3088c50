"""``ParamUpdate``: one optimisation step on the accumulated gradients of chosen parameters.

``ParamUpdate(conf, spec, ...)`` names the parameters to train, in any of these forms:

- ``fn``: all trainable parameters of a @gen function (names) or of a TFFunction (Variables);
- ``{fn: [params], ...}``: the listed ones (names for @gen functions; Variables or names for
  TFFunctions);
- ``(fn, [params])``: Gen.jl's pair ``fn => [params]``.

``conf`` is a gentf rule (``FixedStepGradientDescent``, ``GradientDescent``, ``ADAM``) or any
Keras optimizer. ``apply()`` performs gradient *ascent* on ``g``, the accumulated ``d log p /
dtheta``, for every listed parameter, then zeroes their accumulators (Gen.jl's ``apply!``). For a
Keras optimizer that means ``optimizer.apply_gradients([(-g, theta)])``.

Parameters live in two places, each with its own group:

- ``_EagerGroup``: ``tf.Variable``s (@gen params, eager-form TFFunctions); ``apply`` runs TF ops,
  so it works eagerly (as one cached ``tf.function``) and inside a caller's ``tf.function``.
- ``_GraphGroup``: a graph-form TFFunction's ``tf.compat.v1`` Variables, living in its session.
  The update op is built once in that graph (slots, iteration counter, accumulator reset) and
  ``apply`` runs it in the function's session; inside ``tf.function`` it is a stateful
  ``numpy_function``, ordered after the accumulation by automatic control dependencies. A Keras
  optimizer there steps eager shadow copies of the parameters and writes them back.
"""
import numpy as np
import tensorflow as tf

from ..core.errors import ArgumentError
from ..modeling.dsl import GenFunction
from ..modeling.params import register_accumulator
from ..tf.eager_form import _tf_variable
from ..tf.function import TFFunction
from ..tf.graph_form import GraphTFFunction
from .optimizers import UpdateConf


class ParamUpdate:
    """An update of the given parameters by ``conf`` (see the module docstring)."""

    def __init__(self, conf, *specs):
        if not (isinstance(conf, UpdateConf) or _is_keras_optimizer(conf)):
            raise ArgumentError(f"ParamUpdate: {conf!r} is neither a gentf update configuration "
                                "nor a Keras optimizer")
        if not specs:
            raise ArgumentError("ParamUpdate: no parameters given (pass fn, {fn: [params]} or (fn, [params]))")
        self.conf = conf
        eager, graphs = [], {}
        for fn, params in _pairs(specs):
            variables = [_resolve(fn, p) for p in params]
            if isinstance(fn, GraphTFFunction):
                graphs.setdefault(fn, []).extend(variables)
            else:
                eager.extend(variables)
        self._groups = [_GraphGroup(conf, fn, _unique(vs)) for fn, vs in graphs.items()]
        if eager:
            self._groups.insert(0, _EagerGroup(conf, _unique(eager)))

    def __repr__(self):
        return f"ParamUpdate({self.conf!r}, {sum(len(g.variables) for g in self._groups)} parameters)"

    def apply(self):
        """Ascend the accumulated gradients of every parameter, then zero the accumulators."""
        for group in self._groups:
            group.apply()


def _is_keras_optimizer(conf):
    return callable(getattr(conf, "apply_gradients", None))


def _pairs(specs):
    for spec in specs:
        if isinstance(spec, dict):
            yield from spec.items()
        elif isinstance(spec, tuple) and len(spec) == 2 and not isinstance(spec[0], (str, tf.Variable)):
            yield spec
        elif isinstance(spec, (GenFunction, TFFunction)):
            yield spec, (list(spec.params()) if isinstance(spec, GenFunction) else spec.param_variables())
        else:
            raise ArgumentError(f"ParamUpdate: cannot read a parameter specification from {spec!r}")


def _resolve(fn, p):
    """The Variable of parameter ``p`` (a name or a Variable) of ``fn``."""
    if isinstance(fn, GenFunction):
        if not isinstance(p, str):
            raise ArgumentError(f"ParamUpdate: parameters of {fn!r} are given by name, got {p!r}")
        return fn.param_var(p)
    if not isinstance(fn, TFFunction):
        raise ArgumentError(f"ParamUpdate: {fn!r} is not a @gen function or a TFFunction")
    if isinstance(p, str):
        var = fn.params().get(p)
        if var is None:
            raise ArgumentError(f"ParamUpdate: {fn!r} has no parameter {p!r} (it has {list(fn.params())})")
        return var
    var = p if isinstance(fn, GraphTFFunction) else _tf_variable(p)
    if all(var is not v for v in fn.param_variables()):
        raise ArgumentError(f"ParamUpdate: {p!r} is not a parameter of {fn!r}")
    return var


def _unique(variables):
    seen, out = set(), []
    for v in variables:
        if v.ref() not in seen:
            seen.add(v.ref())
            out.append(v)
    return out


def _apply_rule(conf, variables, accumulators, slots, counter):
    """The ops of one step of ``conf``: ``counter += 1``; ``theta += delta``; slots updated;
    accumulators zeroed. Works on eager Variables and on tf.compat.v1 Variables alike."""
    t_int = counter.assign_add(1)
    ops = []
    for var, acc, var_slots in zip(variables, accumulators, slots):
        grad = tf.convert_to_tensor(acc)
        delta, new = conf.step(grad, [tf.convert_to_tensor(s) for s in var_slots], tf.cast(t_int, grad.dtype))
        ops.append(var.assign_add(delta))
        ops.extend(s.assign(n) for s, n in zip(var_slots, new))
    with tf.control_dependencies(ops):
        return tf.group(*[acc.assign(tf.zeros_like(acc)) for acc in accumulators])


class _EagerGroup:
    """Parameters that are TF2 ``tf.Variable``s with gentf accumulators."""

    def __init__(self, conf, variables):
        self.conf, self.variables = conf, variables
        self.accumulators = [register_accumulator(v) for v in variables]
        with tf.init_scope():
            if isinstance(conf, UpdateConf):
                self.slots = [[tf.Variable(s, trainable=False) for s in conf.slots(v)] for v in variables]
                self.counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
            else:
                conf.build(variables)
        self._compiled = tf.function(self._ops, autograph=False)

    def _ops(self):
        if isinstance(self.conf, UpdateConf):
            _apply_rule(self.conf, self.variables, self.accumulators, self.slots, self.counter)
        else:
            self.conf.apply_gradients([(-tf.convert_to_tensor(a), v)
                                       for a, v in zip(self.accumulators, self.variables)])
            for acc in self.accumulators:
                acc.assign(tf.zeros_like(acc))

    def apply(self):
        if tf.executing_eagerly():
            self._compiled()
        else:
            self._ops()


class _GraphGroup:
    """Parameters of one graph-form TFFunction (Variables of its graph, run in its session)."""

    def __init__(self, conf, fn, variables):
        self.conf, self.fn, self.variables = conf, fn, variables
        self.accumulators = [fn.param_grad_var(v) for v in variables]
        self.session = fn._session
        graph = self.session.graph
        with graph.as_default():
            if isinstance(conf, UpdateConf):
                slots = [[tf.compat.v1.Variable(s, trainable=False) for s in conf.slots(v)] for v in variables]
                counter = tf.compat.v1.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
                self._op = _apply_rule(conf, variables, self.accumulators, slots, counter)
                new = [s for vs in slots for s in vs] + [counter]
            else:  # Keras: step eager shadows, then write the values back with one run
                self._feeds = [tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape) for v in variables]
                writes = [v.assign(ph) for v, ph in zip(variables, self._feeds)]
                with tf.control_dependencies(writes):
                    self._op = tf.group(*[a.assign(tf.zeros_like(a)) for a in self.accumulators])
                new = []
            self.session.run(tf.compat.v1.variables_initializer(new))
        if not isinstance(conf, UpdateConf):
            with tf.init_scope():
                self._shadows = [tf.Variable(tf.zeros(v.shape, v.dtype.base_dtype)) for v in variables]
                conf.build(self._shadows)

    def _run(self):
        if isinstance(self.conf, UpdateConf):
            self.session.run(self._op)
            return
        values, grads = self.session.run((self.variables, self.accumulators))
        for shadow, value in zip(self._shadows, values):
            shadow.assign(value)
        self.conf.apply_gradients([(-tf.convert_to_tensor(g), s) for g, s in zip(grads, self._shadows)])
        self.session.run(self._op, dict(zip(self._feeds, [s.numpy() for s in self._shadows])))

    def apply(self):
        if tf.executing_eagerly():
            self._run()
        elif isinstance(self.conf, UpdateConf):
            tf.numpy_function(lambda: np.int8(self.session.run(self._op) or 0), [], tf.int8, stateful=True)
        else:
            tf.py_function(lambda: self._run() or np.int8(0), [], tf.int8)
