"""The @gen language: Python functions whose calls ``f(args) @ addr`` are traced.

``@gen`` turns a Python function into a ``GenFunction``. Each GFI method runs the body once
under its handler (``handlers.py``); the body is ordinary Python and TensorFlow code, so for a
model whose addresses and shapes do not depend on random values the same methods trace into a
``tf.function`` graph unchanged.
"""
import contextlib
import functools

import tensorflow as tf
from tensorflow.python.framework.tensor import Tensor

from ..core.choicemap import ChoiceMap
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
        with handler_scope(handler), _static_iteration():
            retval = self.body(*args)
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


@contextlib.contextmanager
def _static_iteration():
    """While a body is traced into a graph, ``for x in xs`` over a tensor whose leading dimension
    is static iterates its rows, as it does eagerly (TensorFlow refuses any iteration of a
    symbolic tensor; a body is plain Python, so a loop over an argument is static structure).
    Iterating a tensor of unknown leading dimension still raises."""
    if tf.executing_eagerly() or _iteration[0]:
        yield
        return
    refuse = Tensor._disallow_iteration

    def allow_static(tensor):
        shape = tensor._shape_tuple()
        if not shape or shape[0] is None:
            refuse(tensor)
    Tensor._disallow_iteration, _iteration[0] = allow_static, True
    try:
        yield
    finally:
        Tensor._disallow_iteration, _iteration[0] = refuse, False


_iteration = [False]


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
