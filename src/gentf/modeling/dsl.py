"""The @gen language: Python functions whose calls ``f(args) @ addr`` are traced.

``@gen`` turns a Python function into a ``GenFunction``. Each GFI method runs the body once
under its handler (``handlers.py``); the body is ordinary Python and TensorFlow code, so for a
model whose addresses and shapes do not depend on random values the same methods trace into a
``tf.function`` graph unchanged.
"""
import functools
import re

import tensorflow as tf
from tensorflow.python.framework.tensor import Tensor

from ..core.choicemap import ChoiceMap
from ..core.context import current, scoped
from ..core.dtypes import default_float
from ..core.errors import NonDifferentiableError, NotInModelError, UnaddressedCallError
from ..core.gfi import GenerativeFunction, active_handler, handler_scope
from ..core.address import EmptySelection, show, subselection_at
from ..core.argdiffs import NoChange, UnknownChange, all_unchanged
from ..core.seeds import SeedStream
from ..core.gradients import is_float, objective as log_p_objective, split_gradients
from .handlers import GenerateHandler, RegenerateHandler, UpdateHandler, total
from .params import accumulate, missing_param
from .trace import ChoiceRecord, DynamicTrace


class GenFunction(GenerativeFunction):
    """A generative function written in the @gen language."""

    def __init__(self, body):
        self.body = tf.autograph.experimental.do_not_convert(body)
        self._params = {}
        functools.update_wrapper(self, body)

    def __repr__(self):
        return f"@gen {self.body.__name__}"

    def params(self):
        return dict(self._params)

    def _checkpoint_children(self):
        """Its parameters by name, for ``tf.train.Checkpoint`` (``core.tracking``)."""
        return dict(self._params)

    def param_var(self, name):
        var = self._params.get(name)
        if var is None:
            raise missing_param(self, name)
        return var

    # --- running the body ----------------------------------------------------------------
    def _run(self, handler, args):
        with handler_scope(handler), scoped(in_body=True):
            try:
                retval = self.body(*args)
            except (TypeError, tf.errors.InvalidArgumentError) as e:
                _explain_dtype_clash(e, self, handler)
                raise
        if handler.pending:
            call = next(iter(handler.pending))
            raise UnaddressedCallError(
                f"in {self!r}: {call.gen_fn!r} was called without an address (write `... @ addr`)")
        handler.finish()
        handler.settle()
        return DynamicTrace(self, args, retval, handler.score(), handler.records)

    joins_caller_batches = True  # called from a traced generate body (handlers.GenerateHandler)

    def _generate(self, args, constraints, seeds, require_all=False, caller=None):
        handler = GenerateHandler(self, constraints, seeds, require_all, caller)
        trace = self._run(handler, args)
        return trace, handler.weight()

    def _simulate(self, args, seeds):
        return self._generate(args, ChoiceMap(), seeds)[0]

    def _update(self, trace, args, argdiffs, constraints, seeds):
        if all_unchanged(argdiffs) and constraints.is_empty():
            return trace, tf.zeros_like(trace.score), NoChange, ChoiceMap()
        handler = UpdateHandler(self, trace, constraints, seeds)
        new = self._run(handler, args)
        return new, handler.weight(), UnknownChange, handler.discard

    def _regenerate(self, trace, args, argdiffs, selection, seeds):
        if all_unchanged(argdiffs) and selection.is_empty():
            return trace, tf.zeros_like(trace.score), NoChange
        handler = RegenerateHandler(self, trace, selection, seeds)
        new = self._run(handler, args)
        return new, handler.weight(), UnknownChange

    def _project(self, trace, selection):
        terms = []
        for path, rec in trace.records.items():
            if isinstance(rec, ChoiceRecord):
                if path in selection:
                    terms.append(rec.score)
            else:
                terms.append(rec.trace.gen_fn._project(rec.trace, subselection_at(selection, path)))
        return total(terms, trace.score.dtype)

    # --- gradients -----------------------------------------------------------------------
    def _replay(self, trace, selection, retval_grad):
        """Re-run ``trace`` with all its choices constrained, under a tape that watches the
        float arguments and the selected choices. Returns (tape, objective, args, values)."""
        args = [tf.convert_to_tensor(a) if is_float(a) else a for a in trace.args]
        watched_args = [a for a in args if is_float(a)]
        choices = trace.get_choices()
        selected = {}
        for path, value in choices.items():
            if path in selection:
                value = tf.convert_to_tensor(value)
                if not value.dtype.is_floating:
                    raise NonDifferentiableError(
                        f"choice_gradients: the choice at address {show(path)} is discrete ({value.dtype.name})")
                selected[path] = value
        with tf.GradientTape() as tape:
            tape.watch(watched_args)
            tape.watch(list(selected.values()))
            constraints = ChoiceMap()
            for path, value in choices.items():
                constraints.set(path, selected.get(path, value))
            new, _ = self._generate(tuple(args), constraints, SeedStream(0))
            objective = log_p_objective(new.score, new.retval, retval_grad)
        return tape, objective, args, selected

    def _choice_gradients(self, trace, selection, retval_grad):
        tape, objective, args, selected = self._replay(trace, selection, retval_grad)
        arg_grads, choice_grads = split_gradients(tape, objective, args, list(selected.values()))
        values, grads = ChoiceMap(), ChoiceMap()
        for (path, value), grad in zip(selected.items(), choice_grads):
            values.set(path, value)
            grads.set(path, grad)
        return arg_grads, values, grads

    def _accumulate_param_gradients(self, trace, retval_grad, scale):
        tape, objective, args, _ = self._replay(trace, EmptySelection, retval_grad)
        variables = [v for v in tape.watched_variables() if v.trainable]
        arg_grads, var_grads = split_gradients(tape, objective, args, variables)
        accumulate(variables, var_grads, scale)
        return arg_grads


_DTYPES = re.compile(r"\b(float16|bfloat16|float32|float64|half|float|double|int32|int64)\b")
_TF_NAMES = {"float": "float32", "double": "float64", "half": "float16"}  # TF kernels' C++ names


def _explain_dtype_clash(error, gen_fn, handler):
    """Add a note to an error of two dtypes met in ``gen_fn``'s body: which dtypes, after
    which address, and the remedy (``core.dtypes``: the call float)."""
    found = sorted({_TF_NAMES.get(d, d) for d in _DTYPES.findall(str(error))})
    if len(found) < 2 or not hasattr(error, "add_note") or getattr(error, "_gentf_explained", False):
        return
    error._gentf_explained = True
    last = next(reversed(handler.records), None) if handler.records else None
    where = f"after address {show(last)}" if last is not None else "before its first choice"
    error.add_note(
        f"gentf: {found[0]} met {found[1]} in the body of {gen_fn!r}, {where}. This call's float is "
        f"{default_float().name}: choices with only Python-number parameters take it from the call's float "
        "arguments (or set_default_float when it has none). Cast the other operand with tf.cast, or pass "
        "the data in the dtype you want the model to compute in.")


def _rows_while_in_body(tf_refuses_iteration, tf_refuses_len):
    """TF's ``Tensor._disallow_iteration`` and ``Tensor.__len__``, except that while a @gen body
    runs in this thread (``context.in_body``), a symbolic tensor whose leading dimension is
    static iterates its rows and has that length, as the eager value does (TensorFlow refuses
    both for a symbolic tensor; a body is plain Python, so a loop over an argument is static
    structure). A tensor of unknown leading dimension still raises. Installed once, at import:
    outside bodies, and in other threads, TF's behaviour is unchanged."""
    def static_leading(tensor):
        shape = tensor._shape_tuple()
        return shape[0] if current().in_body and shape and shape[0] is not None else None

    def disallow_iteration(tensor):
        if static_leading(tensor) is None:
            tf_refuses_iteration(tensor)

    def length(tensor):
        n = static_leading(tensor)
        return n if n is not None else tf_refuses_len(tensor)
    return disallow_iteration, length


Tensor._disallow_iteration, Tensor.__len__ = _rows_while_in_body(Tensor._disallow_iteration, Tensor.__len__)


def gen(body):
    """Decorator: a Python function becomes a generative function in the @gen language."""
    return GenFunction(body)


def splice(gen_fn, *args):
    """Gen's ``{*} ~ g(args)``: run a @gen function's body in the caller's address space."""
    handler = active_handler()
    if handler is None:
        raise NotInModelError("splice used outside a @gen body")
    if not isinstance(gen_fn, GenFunction):
        raise TypeError(f"splice: {gen_fn!r} is not a @gen function")
    return handler.splice(gen_fn, args)
