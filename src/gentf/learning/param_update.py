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

Every parameter is a TF2 ``tf.Variable`` with a gentf accumulator: @gen params, eager-form
TFFunctions' variables, and the TF2 mirrors of a graph-form TFFunction's ``tf.compat.v1``
Variables (whose session is a view of the mirrors, see ``tf/graph_form.py``). ``apply`` runs TF
ops, eagerly (as one cached ``tf.function``) or inside a caller's ``tf.function``.

A TFFunction of a Keras model not built yet (wrapped before its first call) has no parameters:
given whole (``fn``), it is kept pending, and the first ``apply`` after the model was built (by
the calls that accumulated the gradients) trains its variables too, from fresh optimizer state,
as an update built after the first call would. An ``apply`` while the model is still unbuilt, or
once steps were taken without its variables, raises ``ArgumentError`` naming the function:
nothing is trained silently less than was asked.
"""
import tensorflow as tf

from ..core import domain
from ..core.errors import ArgumentError
from ..core.tracking import Checkpointable
from ..modeling.dsl import GenFunction
from ..modeling.params import register_accumulator
from ..tf.function import TFFunction
from .optimizers import UpdateConf


class ParamUpdate(Checkpointable):
    """An update of the given parameters by ``conf`` (see the module docstring). Trackable by
    ``tf.train.Checkpoint``: its parameters, accumulators and optimizer state (gentf rules'
    slots and step counter, or the Keras optimizer with its moments and iterations)."""

    def __init__(self, conf, *specs):
        if not (isinstance(conf, UpdateConf) or _is_keras_optimizer(conf)):
            raise ArgumentError(f"ParamUpdate: {conf!r} is neither a gentf update configuration "
                                "nor a Keras optimizer")
        if not specs:
            raise ArgumentError("ParamUpdate: no parameters given (pass fn, {fn: [params]} or (fn, [params]))")
        self.conf, self._specs = conf, specs
        self._pending = [s for s in specs if isinstance(s, TFFunction) and getattr(s, "awaiting_build", lambda: False)()]
        self._applied = False
        # a Keras optimizer is built once, with every variable: when the pending ones are in
        self._group = _Group(conf, self._resolve_all(), build=not self._pending)

    def _resolve_all(self):
        return _unique([_resolve(fn, p) for fn, params in _pairs(self._specs) for p in params])

    def _settle_pending(self, applying=False):
        """Take in the variables of pending TFFunctions built since (see the module docstring)."""
        if not self._pending:
            return
        built = [fn for fn in self._pending if not fn.awaiting_build()]
        if built and self._applied:
            raise ArgumentError(
                f"ParamUpdate: {built[0]!r} was built after this update took steps without its "
                "parameters; build the Keras model first (model.build(input_shape), or call it "
                "once) and then make the ParamUpdate")
        if built:
            self._pending = [fn for fn in self._pending if fn not in built]
            self._group = _Group(self.conf, self._resolve_all())
        if applying and self._pending:
            raise ArgumentError(
                f"ParamUpdate: {self._pending[0]!r} has no parameters: its Keras model is not built, "
                "so there is nothing of it to train; build the model first (model.build(input_shape), "
                "or call it once)")

    def __repr__(self):
        return f"ParamUpdate({self.conf!r}, {len(self.variables)} parameters)"

    def _checkpoint_children(self):
        self._settle_pending()
        group, out = self._group, {}
        for i, (var, acc) in enumerate(zip(group.variables, group.accumulators)):
            out[f"param_{i}"], out[f"grad_{i}"] = var, acc
            for j, slot in enumerate(getattr(group, "slots", [[]] * len(group.variables))[i]):
                out[f"slot_{i}_{j}"] = slot
        if isinstance(self.conf, UpdateConf):
            out["iteration"] = group.counter
        else:
            out["optimizer"] = self.conf
        return out

    @property
    def variables(self):
        """The trained parameter Variables, in order."""
        self._settle_pending()
        return list(self._group.variables)

    @property
    def accumulators(self):
        """Their gradient accumulators (``d log p / dtheta`` summed since the last ``apply``)."""
        self._settle_pending()
        return list(self._group.accumulators)

    def apply(self):
        """Ascend the accumulated gradients of every parameter, then zero the accumulators. In a
        graph, after every domain check traced before it: a failed check takes no step."""
        self._settle_pending(applying=True)
        self._group.apply()
        self._applied = True


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
        return fn.trained_variable(var)
    try:
        return fn.trained_variable(p)
    except ArgumentError:
        raise ArgumentError(f"ParamUpdate: {p!r} is not a parameter of {fn!r}") from None


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
    t_int = tf.convert_to_tensor(counter.assign_add(1))  # read once, not once per variable
    ops = []
    for var, acc, var_slots in zip(variables, accumulators, slots):
        grad = tf.convert_to_tensor(acc)
        delta, new = conf.step(grad, [tf.convert_to_tensor(s) for s in var_slots], tf.cast(t_int, grad.dtype))
        ops.append(var.assign_add(delta))
        ops.extend(s.assign(n) for s, n in zip(var_slots, new))
    with tf.control_dependencies(ops):
        return tf.group(*[acc.assign(tf.zeros(acc.shape, acc.dtype.base_dtype)) for acc in accumulators])


class _Group:
    """The parameters (``tf.Variable``s with gentf accumulators) and the optimizer state."""

    def __init__(self, conf, variables, build=True):
        self.conf, self.variables = conf, variables
        self.accumulators = [register_accumulator(v) for v in variables]
        with tf.init_scope():
            if isinstance(conf, UpdateConf):
                self.slots = [[tf.Variable(s, trainable=False) for s in conf.slots(v)] for v in variables]
                self.counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
            elif build:
                conf.build(variables)
        self._compiled = tf.function(self._ops, autograph=False)

    def _ops(self):
        if isinstance(self.conf, UpdateConf):
            _apply_rule(self.conf, self.variables, self.accumulators, self.slots, self.counter)
        else:
            self.conf.apply_gradients([(-tf.convert_to_tensor(a), v)
                                       for a, v in zip(self.accumulators, self.variables)])
            for acc in self.accumulators:
                acc.assign(tf.zeros(acc.shape, acc.dtype.base_dtype))

    def apply(self):
        if tf.executing_eagerly():
            self._compiled()
        else:
            domain.after_checks(self._ops)  # no step after a failed check
