"""``TFFunction``: a deterministic generative function whose body is TensorFlow code.

A TFFunction ``f`` with parameters ``theta`` makes no random choices: ``p(t; x) = 1`` for the
empty choice map ``t``, so every score and weight is ``0`` (in the dtype of the return value) and
its trace holds only the arguments ``x`` and the return value ``y = f(x; theta)``. Gradients use
the objective ``<y, dy>`` for the caller's ``retval_grad`` ``dy``:

- ``choice_gradients``:           ``(d<y, dy>/dx, {}, {})``, i.e. ``J_x(y)^T dy`` per argument;
- ``accumulate_param_gradients``: adds ``scale * J_theta(y)^T dy`` to each parameter's
  gradient accumulator and returns ``J_x(y)^T dy``.

Both are computed by a ``tf.GradientTape`` over ``_call``, so the same code serves the graph form
(``graph_form.py``: session-backed, with a custom gradient) and the eager form
(``eager_form.py``: native TF variables). Called inside a @gen body, TF gradients flow between
the @gen code and the TFFunction in both directions through the same ``_call``.
"""
import tensorflow as tf
from tensorflow.python.eager import context

from ..core.argdiffs import NoChange, UnknownChange, all_unchanged
from ..core.choicemap import ChoiceMap
from ..core.errors import GentfError
from ..core.gfi import GenerativeFunction, Trace, reject_constraints
from ..core.nest import decode, encode
from ..core.gradients import is_float, retval_dot, split_gradients


class TFFunction(GenerativeFunction):
    """A deterministic generative function wrapping TensorFlow code.

    - ``TFFunction(params, inputs, output, session=None)``: GenTF's graph form; ``params`` are
      ``tf.compat.v1`` Variables, ``inputs`` placeholders and ``output`` one tensor of a
      ``tf.Graph``, run in a ``tf.compat.v1.Session`` (see ``GraphTFFunction``).
    - ``TFFunction(model)`` or ``TFFunction(fn, variables=[...])``: the eager form for a Keras
      model, ``tf.Module`` or callable; parameters are its trainable variables (see
      ``EagerTFFunction``).

    Subclasses implement ``_call(args) -> retval`` (recorded on any active GradientTape),
    ``_tape_variables()`` (the variables to watch when accumulating) and
    ``_accumulate(variables, scale, gradients)``, which calls the thunk ``gradients()`` (returning
    ``(arg_grads, variable_grads)``), adds ``scale * J_theta(y)^T dy`` to the accumulators and
    returns ``arg_grads``; also ``param_grad_var(var)`` and ``reset_param_grads()`` behind
    ``get_param_grad_tf_var`` and ``reset_param_grads_tf_op``.
    """

    def __new__(cls, *args, **kwargs):
        if cls is TFFunction:
            from .eager_form import EagerTFFunction
            from .graph_form import GraphTFFunction
            graph = len(args) + len(kwargs) >= 3 or "inputs" in kwargs or "output" in kwargs
            cls = GraphTFFunction if graph else EagerTFFunction
        return super().__new__(cls)

    def __init__(self):
        if context.default_execution_mode != context.EAGER_MODE:
            raise GentfError(
                "TFFunction: eager execution is disabled globally "
                "(tf.compat.v1.disable_eager_execution()); gentf runs TF2 code eagerly and in "
                "tf.function. Keep eager execution on and build a graph-form TFFunction's graph "
                "under `with tf.Graph().as_default():` instead.")

    def param_variables(self):
        """The parameter Variables, in order (what ``gentf.get_params`` returns for a TFFunction)."""
        return list(self.params().values())

    # --- the GFI ---------------------------------------------------------------------------
    def _simulate(self, args, seeds):
        args = tuple(args)
        return TFTrace(self, args, self._call(args))

    def _generate(self, args, constraints, seeds, require_all=False):
        reject_constraints(constraints, repr(self))
        trace = self._simulate(args, seeds)
        return trace, trace.score

    def _update(self, trace, args, argdiffs, constraints, seeds):
        """Weight 0; reruns only when some argdiff is not NoChange (retdiff UnknownChange)."""
        reject_constraints(constraints, repr(self))
        if all_unchanged(argdiffs):
            return trace, trace.score, NoChange, ChoiceMap()
        new = self._simulate(args, seeds)
        return new, new.score, UnknownChange, ChoiceMap()

    def _regenerate(self, trace, args, argdiffs, selection, seeds):
        """Weight 0; reruns only when some argdiff is not NoChange (retdiff UnknownChange)."""
        if all_unchanged(argdiffs):
            return trace, trace.score, NoChange
        new = self._simulate(args, seeds)
        return new, new.score, UnknownChange

    def _project(self, trace, selection):
        return trace.score

    def _choice_gradients(self, trace, selection, retval_grad):
        arg_grads, _ = self._gradients(trace, retval_grad, [])
        return arg_grads, ChoiceMap(), ChoiceMap()

    def _accumulate_param_gradients(self, trace, retval_grad, scale):
        variables = self._tape_variables()
        return self._accumulate(variables, scale, lambda: self._gradients(trace, retval_grad, variables))

    def _gradients(self, trace, retval_grad, variables):
        """``(arg grads, variable grads)`` of ``<retval, retval_grad>`` by a tape over ``_call``;
        None for a non-float argument, zeros when ``retval_grad`` is None."""
        args = tuple(tf.convert_to_tensor(a) if is_float(a) else a for a in trace.args)
        float_args = [a for a in args if is_float(a)]
        if retval_grad is None:
            return (tuple(tf.zeros_like(a) if is_float(a) else None for a in args),
                    [tf.zeros_like(v) for v in variables])
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(float_args)
            tape.watch(variables)
            objective = retval_dot(self._call(args), retval_grad)
        return split_gradients(tape, objective, args, variables)


def score_dtype(retval):
    """Scores and weights take the dtype of the first floating return-value leaf (float32 if none)."""
    for leaf in tf.nest.flatten(retval):
        dt = getattr(leaf, "dtype", None)
        if dt is not None and tf.as_dtype(dt).is_floating:
            return tf.as_dtype(dt)
    return tf.float32


class TFTrace(Trace):
    """Trace of a TFFunction: arguments, return value and score 0; no choices. A nest (it
    implements ``__tf_flatten__``), so it can cross tf.function boundaries."""

    __slots__ = ("gen_fn", "args", "retval", "score")

    def __init__(self, gen_fn, args, retval, score=None):
        self.gen_fn, self.args, self.retval = gen_fn, args, retval
        self.score = tf.zeros((), score_dtype(retval)) if score is None else score

    def get_choices(self):
        return ChoiceMap()

    def __tf_flatten__(self):
        comps = []
        meta = (self.gen_fn, encode(self.args, comps), encode(self.retval, comps))
        comps.append(self.score)
        return meta, tuple(comps)

    @classmethod
    def __tf_unflatten__(cls, meta, comps):
        gen_fn, args_code, retval_code = meta
        args, i = decode(args_code, comps)
        retval, i = decode(retval_code, comps, i)
        return cls(gen_fn, args, retval, comps[i])

    def __repr__(self):
        return f"TFTrace({self.gen_fn!r})"


def get_param_grad_tf_var(fn, var):
    """The Variable accumulating the gradient of parameter ``var`` of the TFFunction ``fn``
    (graph form: a Variable of ``fn``'s graph, read with ``runtf``; eager form: the gentf
    accumulator, a ``tf.Variable``)."""
    return _tf_function(fn, "get_param_grad_tf_var").param_grad_var(var)


def reset_param_grads_tf_op(fn):
    """What zeroes all of ``fn``'s accumulators: for the graph form the op to run with
    ``runtf(fn, op)`` (GenTF); for the eager form a callable, ``reset_param_grads_tf_op(fn)()``,
    valid eagerly and inside tf.function."""
    return _tf_function(fn, "reset_param_grads_tf_op").reset_param_grads()


def _tf_function(fn, where):
    if not isinstance(fn, TFFunction):
        raise TypeError(f"{where}: {fn!r} is not a TFFunction")
    return fn
