"""The Generative Function Interface (GFI).

A generative function ``f`` with arguments ``x`` defines a distribution ``p(t, r; x)`` over
addressed random choices ``t`` (and non-addressed randomness ``r``, absent from every gentf
function so far) and a return value. The module functions below are the public interface; they
validate their inputs (named errors that name the address) and delegate to the private methods
``_simulate``, ``_generate``, ``_update``, ... of the generative function, as TFP does with
``log_prob``/``_log_prob``. Scores are always ``log p(t; x)``.

Weights, exactly as in Gen.jl (``u`` are constraints, ``t'`` the new choices):

- ``generate``:   ``log p(t; x) - log q(t; u, x)``, i.e. the sum of the log densities of the
  constrained choices when unconstrained ones are drawn from the prior.
- ``assess``:     ``log p(t; x)`` for a complete choice map ``t``.
- ``propose``:    ``log p(t; x)`` for the sampled ``t``.
- ``update``:     ``log p(t'; x') - log p(t; x) - log q(t' \\ t; x')``: new unconstrained
  choices are drawn from the prior and contribute nothing; removed choices subtract their score.
- ``regenerate``: ``log p(t'; x') - log p(t; x) + log q(t \\ t'...) - log q(t' \\ t ...)``: for a
  selection, unselected kept choices contribute ``log p_new - log p_old``; selected, new and
  removed choices contribute nothing.
- ``project``:    ``log p`` of the selected choices (sum of their scores).
"""
import contextlib

import numpy as np
import tensorflow as tf

from . import compile as compiled
from .address import check_selected, check_selection, show, to_path
from .argdiffs import NoChange, UnknownChange
from .choicemap import as_choicemap, pack, unpack
from .context import current, scoped
from .dtypes import call_float
from .errors import ConstraintTypeError, UnaddressedCallError
from .nest import data_dtypes, is_tensor_like
from .seeds import SeedStream, as_seed
from .tracking import Checkpointable

# Model bodies and GFI internals are plain Python run at trace time; autograph must not rewrite
# them (a data-dependent branch in a model then fails loudly instead of changing the trace).
_no_autograph = tf.autograph.experimental.do_not_convert


def active_handler():
    """The innermost running @gen handler, or None outside any model."""
    handlers = current().handlers
    return handlers[-1] if handlers else None


@contextlib.contextmanager
def handler_scope(handler):
    """Within: ``handler`` is the active one (a body's execution)."""
    with scoped(handlers=current().handlers + (handler,)):
        yield handler


@contextlib.contextmanager
def unvisited_constraints_dropped():
    """Within: a constraint at an address the callee never visits is ignored, as Gen.jl's
    ``generate`` does, instead of an ``UnvisitedConstraintError``. Only for constraints gentf
    builds itself (Switch carrying the previous branch's values into a new branch)."""
    with scoped(drop_unvisited=True):
        yield


def unvisited_dropped():
    """True inside ``unvisited_constraints_dropped()``."""
    return current().drop_unvisited


class PendingCall:
    """``f(args)`` made inside a @gen body; ``@ addr`` traces it at ``addr``."""

    __slots__ = ("gen_fn", "args", "handler")

    def __init__(self, gen_fn, args, handler):
        self.gen_fn, self.args, self.handler = gen_fn, args, handler
        handler.pending.add(self)

    def __matmul__(self, addr):
        self.handler.pending.discard(self)
        return self.handler.visit(to_path(addr), self.gen_fn, self.args)

    def __getattr__(self, name):
        raise UnaddressedCallError(
            f"{self.gen_fn!r} was called inside a @gen body without an address: write "
            f"`{self.gen_fn!r}(...) @ addr` (or call gentf.splice) before using its value")

    def _fail(self, *_):
        raise UnaddressedCallError(
            f"{self.gen_fn!r} was called inside a @gen body without an address: write "
            f"`{self.gen_fn!r}(...) @ addr` before using its value")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _fail
    __rtruediv__ = __getitem__ = __bool__ = __float__ = __int__ = __neg__ = _fail
    __array__ = __iter__ = __len__ = _fail


class GenerativeFunction(Checkpointable):
    """Base class. Subclasses implement ``_simulate``, ``_generate``, ``_update``,
    ``_regenerate``, ``_project``, ``_choice_gradients`` and ``_accumulate_param_gradients``;
    ``_assess`` and ``_propose`` have defaults derived from ``_generate`` and ``_simulate``.
    Every generative function is trackable by ``tf.train.Checkpoint`` (``core.tracking``)."""

    auto_compile = True  # repeated eager GFI calls may run as cached tf.functions

    def _checkpoint_children(self):
        """The generative functions among this function's attributes (a combinator's kernel)."""
        return {k.lstrip("_"): v for k, v in vars(self).items() if isinstance(v, GenerativeFunction)}

    def __call__(self, *args):
        handler = active_handler()
        if handler is not None:
            return PendingCall(self, args, handler)
        return simulate(self, args).retval

    # derived defaults -------------------------------------------------------------------
    def _assess(self, args, choices):
        trace, weight = self._generate(args, choices, SeedStream(0), require_all=True)
        return weight, trace.retval

    def _propose(self, args, seeds):
        trace = self._simulate(args, seeds)
        return trace.get_choices(), trace.score, trace.retval

    def _generate(self, args, constraints, seeds, require_all=False):
        raise NotImplementedError

    def _simulate(self, args, seeds):
        trace, _ = self._generate(args, as_choicemap(None), seeds)
        return trace

    def params(self):
        """``{name: tf.Variable}`` of this function's own trainable parameters."""
        return {}


class Trace:
    """An execution of a generative function: its arguments, choices, return value and score.
    Traces are immutable; ``update``/``regenerate`` return new ones."""

    gen_fn = None
    args = ()
    retval = None
    score = None

    def get_choices(self):
        raise NotImplementedError

    def __getitem__(self, addr):
        return self.get_choices()[addr]

    def __len__(self):
        """The number of traces in a batch of traces (one trace whose score has a leading
        particle axis, as ``importance_sampling`` returns); a single trace has no length."""
        shape = getattr(self.score, "shape", None)
        if shape is None or shape.rank != 1 or shape[0] is None:
            raise TypeError(f"len() of a single trace of {self.gen_fn!r} (only a batch of traces has one)")
        return shape[0]

    def __iter__(self):
        """The traces of a batch, one by one (Gen.jl's ``for tr in traces``): ``particle(self, i)``.
        Indexing stays address lookup: ``traces[i]`` is the value at address ``i``."""
        return (particle(self, i) for i in range(len(self)))

    def __bool__(self):
        return True

    def get_retval(self):
        return self.retval

    def get_score(self):
        return self.score

    def get_args(self):
        return self.args

    def get_gen_fn(self):
        return self.gen_fn


def particle(traces, index):
    """Member(s) ``index`` of a batch of traces (or of any nest whose leaves have a leading
    batch axis), e.g. from ``importance_sampling``: a scalar index gives one trace, a vector
    of indices a batch. Shared leaves (arguments, observed values: a batch's ``shared``
    positions) are the same for every member."""
    shared = getattr(traces, "shared", frozenset())
    leaves = [x if k in shared else tf.gather(x, index) for k, x in enumerate(tf.nest.flatten(traces))]
    out = tf.nest.pack_sequence_as(traces, leaves)
    return out.with_shared(frozenset()) if shared and tf.convert_to_tensor(index).shape.rank == 0 else out


# --- the public GFI ------------------------------------------------------------------------

def _args_tuple(args, where):
    if args is None:
        return ()
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"{where}: args must be a tuple of arguments, got {type(args).__name__}")
    return tuple(args)


def _check_gen_fn(fn, where):
    if not isinstance(fn, GenerativeFunction):
        raise TypeError(f"{where}: {fn!r} is not a generative function")


def _dispatch(fn, method, static, args, tensors, body, data=()):
    """Run ``body(args, tensors)`` under the call float (``core.dtypes``) of ``args`` and
    ``data`` (the dtypes of a trace's arguments, for a method whose ``args`` are empty): the
    float of the call that made the trace. An eager call that repeats runs compiled
    (``core.compile``)."""
    with call_float(data_dtypes(args) + list(data)):
        if not fn.auto_compile:
            return body(args, tensors)
        return compiled.run_repeated(fn, method, static, (args, tensors), lambda objs: body(*objs))


@_no_autograph
def simulate(fn, args=(), seed=None):
    """Sample ``t ~ p(.; x)``; the trace's score is ``log p(t; x)``."""
    _check_gen_fn(fn, "simulate")
    return _dispatch(fn, "simulate", (), _args_tuple(args, "simulate"), as_seed(seed),
                     lambda a, s: fn._simulate(a, SeedStream(s)))


@_no_autograph
def generate(fn, args=(), constraints=None, seed=None):
    """Sample the unconstrained choices from the prior; weight ``log p(t; x) - log q(t; u, x)``
    = the sum of the log densities of the constrained choices. Returns ``(trace, weight)``."""
    _check_gen_fn(fn, "generate")
    layout, arrays = pack(constraints)
    return _dispatch(fn, "generate", layout, _args_tuple(args, "generate"), (arrays, as_seed(seed)),
                     lambda a, t: fn._generate(a, unpack(layout, t[0]), SeedStream(t[1])))


@_no_autograph
def assess(fn, args=(), choices=None):
    """``(log p(t; x), retval)`` for a complete choice map ``t``; a missing choice is an error."""
    _check_gen_fn(fn, "assess")
    layout, arrays = pack(as_choicemap(choices, "choices"))
    return _dispatch(fn, "assess", layout, _args_tuple(args, "assess"), arrays,
                     lambda a, t: fn._assess(a, unpack(layout, t)))


@_no_autograph
def propose(fn, args=(), seed=None):
    """Sample ``t ~ p(.; x)``; returns ``(choices, log p(t; x), retval)``."""
    _check_gen_fn(fn, "propose")
    return _dispatch(fn, "propose", (), _args_tuple(args, "propose"), as_seed(seed),
                     lambda a, s: fn._propose(a, SeedStream(s)))


def _diffs(trace, args, argdiffs, where):
    if args is None:
        if argdiffs is not None:
            raise TypeError(f"{where}: argdiffs given without args")
        return trace.args, tuple(NoChange for _ in trace.args)
    args = _args_tuple(args, where)
    if argdiffs is None:
        argdiffs = tuple(UnknownChange for _ in args)
    if len(argdiffs) != len(args):
        raise TypeError(f"{where}: {len(args)} args but {len(argdiffs)} argdiffs")
    return args, tuple(argdiffs)


@_no_autograph
def update(trace, args=None, argdiffs=None, constraints=None, seed=None):
    """Move ``trace`` to new arguments and constraints. Returns ``(trace', weight, retdiff,
    discard)`` with weight ``log p(t'; x') - log p(t; x) - log q(t' \\ t; x')`` and ``discard`` the
    replaced and removed choices."""
    args, argdiffs = _diffs(trace, args, argdiffs, "update")
    fn = trace.gen_fn
    layout, arrays = pack(constraints)
    return _dispatch(fn, "update", (argdiffs, layout), args, (trace, arrays, as_seed(seed)),
                     lambda a, t: fn._update(t[0], a, argdiffs, unpack(layout, t[1]), SeedStream(t[2])))


@_no_autograph
def regenerate(trace, args=None, argdiffs=None, selection=None, seed=None):
    """Resample the selected choices from the prior. Returns ``(trace', weight, retdiff)``, with
    weight the sum over kept unselected choices of ``log p_new - log p_old``."""
    args, argdiffs = _diffs(trace, args, argdiffs, "regenerate")
    selection = check_selection(selection)
    fn = trace.gen_fn

    def body(a, t):  # checked where the body runs: eagerly, or once while a program is traced
        check_selected(selection, t[0], "regenerate")
        return fn._regenerate(t[0], a, argdiffs, selection, SeedStream(t[1]))
    return _dispatch(fn, "regenerate", (argdiffs, selection), args, (trace, as_seed(seed)), body)


@_no_autograph
def project(trace, selection):
    """The sum of the log densities of the selected choices of ``trace``."""
    selection = check_selection(selection)
    fn = trace.gen_fn
    return _dispatch(fn, "project", selection, (), trace, lambda _, t: fn._project(t, selection),
                     data_dtypes(trace.args))


@_no_autograph
def choice_gradients(trace, selection=None, retval_grad=None):
    """Gradients of ``log p(t; x) + <retval, retval_grad>`` with respect to the float arguments
    and the selected (continuous) choices. Returns ``(arg_grads, choice_values, choice_grads)``;
    ``arg_grads[i]`` is None for a non-float argument."""
    selection = check_selection(selection)
    fn = trace.gen_fn
    return _dispatch(fn, "choice_gradients", selection, (), (trace, _grad_tensors(retval_grad)),
                     lambda _, t: fn._choice_gradients(t[0], selection, t[1]), data_dtypes(trace.args))


@_no_autograph
def accumulate_param_gradients(trace, retval_grad=None, scale=1.0):
    """Add ``scale * d/dtheta [log p(t; x, theta) + <retval, retval_grad>]`` to the gradient
    accumulator of every trainable parameter ``theta`` the execution used. Returns arg grads."""
    fn = trace.gen_fn
    return _dispatch(fn, "accumulate_param_gradients", (), (),
                     (trace, _grad_tensors(retval_grad),
                      scale if is_tensor_like(scale) else np.asarray(scale, np.float64)),
                     lambda _, t: fn._accumulate_param_gradients(t[0], t[1], t[2]), data_dtypes(trace.args))


def _grad_tensors(retval_grad):
    if retval_grad is None:
        return None
    return tf.nest.map_structure(lambda g: g if is_tensor_like(g) else np.asarray(g), retval_grad)


def get_choices(trace):
    """The choice map ``t`` of ``trace`` (Gen.jl's ``get_choices``): every random choice's value at its address."""
    return trace.get_choices()


def get_retval(trace):
    """The return value of the execution recorded in ``trace``."""
    return trace.retval


def get_score(trace):
    """``log p(t; x)``: the log probability (density) of the trace's choices ``t`` given its arguments ``x``."""
    return trace.score


def get_args(trace):
    """The arguments ``x`` the trace was generated with (a tuple)."""
    return trace.args


def get_gen_fn(trace):
    """The generative function that produced ``trace``."""
    return trace.gen_fn


def reject_constraints(constraints, where):
    """For generative functions with no random choices: any constraint is an error."""
    cm = as_choicemap(constraints)
    if not cm.is_empty() and not unvisited_dropped():
        first = cm.addresses()[0]
        raise ConstraintTypeError(f"{where} makes no random choices; got a constraint at {show(first)}")
