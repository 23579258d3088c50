"""What every combinator shares: its trace, the update/regenerate bookkeeping, gradients.

A combinator calls child generative functions ("kernels") at addresses it chooses. Its trace
keeps one subtrace per call in ``children``, a dict from the call's address path to the
subtrace, so that choices, ``trace[addr]``, ``project`` and the TF nest protocol are written
once here. Its score is the sum of the children's scores, ``log p(t; x) = sum_k log p_k(t_k; x_k)``.

``update`` and ``regenerate`` differ only in what they do to one child call, so each combinator
writes a single ``_edit`` pass and the per-call behaviour comes from an ``UpdateEdit`` or a
``RegenerateEdit`` (Gen.jl's weights, see ``gentf.core.gfi``):

==============  =============================================  ==================================
child call      update weight term (discard)                   regenerate weight term
==============  =============================================  ==================================
kept            ``kernel.update`` weight (its discard)         ``kernel.regenerate`` weight
new             ``kernel.generate`` weight                     0 (``simulate``)
removed         ``-score_old`` (all its choices)               0
==============  =============================================  ==================================

A kept call whose arguments did not change (NoChange) and that has no constraints (update) or
no selected address (regenerate) is not run at all: it contributes 0 and keeps its subtrace.

Gradients: ``choice_gradients`` and ``accumulate_param_gradients`` replay the trace with all of
its choices constrained under a ``tf.GradientTape``, the @gen language's own replay, which needs
only ``_generate``. Arguments that are float tensors get gradients; Python sequences get None.
"""
import contextlib

import numpy as np
import tensorflow as tf

from ..core.address import show, subselection_at, to_path
from ..core.argdiffs import NoChange, UnknownChange, all_unchanged
from ..core.choicemap import ChoiceMap
from ..core.errors import AddressError, ArgumentError, UnvisitedConstraintError
from ..core.gfi import GenerativeFunction, Trace, unvisited_dropped
from ..core.nest import decode, encode
from ..modeling.distribution import Distribution
from ..modeling.dsl import GenFunction
from ..modeling.handlers import total


def check_kernel(kernel, combinator):
    """A kernel must be a generative function with the full GFI (not a bare distribution)."""
    if not isinstance(kernel, GenerativeFunction) or isinstance(kernel, Distribution):
        raise TypeError(f"{combinator}: {kernel!r} is not a generative function with the full GFI "
                        f"(wrap a distribution in a @gen function)")
    return kernel


def submap(cm, path):
    """``cm`` below ``path`` (``cm`` itself for the empty path; empty where a value sits there,
    which ``check_constraint_keys`` reports)."""
    if not path:
        return cm
    return ChoiceMap() if cm.has_value(path) else cm.get_submap(path)


def check_constraint_keys(constraints, valid, gen_fn, prefix=()):
    """Each entry of ``constraints`` (the constraints below ``prefix``) must be a submap at a
    key with ``valid(key)``: a combinator makes no random choice of its own (not checked inside
    ``unvisited_constraints_dropped()``)."""
    if unvisited_dropped():
        return
    for key, _ in constraints.get_values_shallow():
        raise UnvisitedConstraintError(
            f"constraint at address {show(prefix + (key,))}: {gen_fn!r} calls a generative function "
            f"there, not a distribution; constrain the addresses below it")
    for key, sub in constraints.get_submaps_shallow():
        if not sub.is_empty() and not valid(key):
            raise UnvisitedConstraintError(
                f"constraint at address {show(prefix + (key,) + sub.addresses()[0])}: "
                f"{gen_fn!r} never visits {show(prefix + (key,))}")


@contextlib.contextmanager
def call_at(path):
    """Address errors raised inside the child call at ``path`` name the full address's call."""
    try:
        yield
    except AddressError as e:
        if not path:
            raise
        raise type(e)(f"{e} (inside the call at address {show(path)})") from None


def static_int(x, what, gen_fn):
    """``x`` as a Python int. The structure of a combinator's trace depends on it, so a symbolic
    tensor cannot be used (a TypeError, on which auto-compilation falls back to eager)."""
    if isinstance(x, (bool, np.bool_)):
        raise ArgumentError(f"{gen_fn!r}: {what} must be an int, got a bool")
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (tf.Tensor, np.ndarray)) and x.shape == () and tf.as_dtype(x.dtype).is_integer:
        if isinstance(x, tf.Tensor) and not hasattr(x, "numpy"):
            raise TypeError(f"{gen_fn!r}: {what} must be a Python int or an eager tensor, not a "
                            f"symbolic tensor: it fixes the structure of the trace")
        return int(x.numpy() if isinstance(x, tf.Tensor) else x)
    raise ArgumentError(f"{gen_fn!r}: {what} must be an int, got {x!r}")


def element_argdiffs(argdiffs, old_args, new_args, i):
    """Argdiffs of call ``i`` of a vectorised call: NoChange where the whole argument is
    unchanged, or where both old and new are Python sequences holding the very same element."""
    out = []
    for d, old, new in zip(argdiffs, old_args, new_args):
        same = d is NoChange or (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))
                                 and i < len(old) and old[i] is new[i])
        out.append(NoChange if same else UnknownChange)
    return tuple(out)


class CombinatorTrace(Trace):
    """A combinator's trace: ``children`` maps call paths to subtraces; ``static`` holds the
    combinator's hashable structure (e.g. the Switch branch index)."""

    __slots__ = ("gen_fn", "args", "retval", "score", "children", "static")

    def __init__(self, gen_fn, args, retval, score, children, static=None):
        self.gen_fn, self.args, self.retval, self.score = gen_fn, args, retval, score
        self.children, self.static = children, static

    def get_choices(self):
        cm = ChoiceMap()
        for path, sub in self.children.items():
            for rest, value in sub.get_choices().items():
                cm.set(path + rest, value)
        return cm

    def __getitem__(self, addr):
        """The value of the choice at ``addr``, or the return value of the call at ``addr``."""
        path = to_path(addr)
        for k in range(len(path), -1, -1):
            sub = self.children.get(path[:k])
            if sub is None:
                continue
            if k == len(path):
                return sub.retval
            try:
                return sub[path[k:]]
            except AddressError:
                break
        raise AddressError(f"no choice or call at address {show(path)} in the trace of {self.gen_fn!r}")

    def __tf_flatten__(self):
        comps = []
        paths = tuple(self.children)
        meta = (self.gen_fn, self.static, paths, encode(self.args, comps), encode(self.retval, comps),
                encode([self.children[p] for p in paths], comps))
        comps.append(self.score)
        return meta, tuple(comps)

    @classmethod
    def __tf_unflatten__(cls, meta, comps):
        gen_fn, static, paths, args_code, retval_code, children_code = meta
        args, i = decode(args_code, comps)
        retval, i = decode(retval_code, comps, i)
        subs, i = decode(children_code, comps, i)
        return cls(gen_fn, args, retval, comps[i], dict(zip(paths, subs)), static)

    def __repr__(self):
        return f"{type(self).__name__}({self.gen_fn!r}, score={self.score})"


class UpdateEdit:
    """``update``'s treatment of child calls; collects the discard."""

    def __init__(self, constraints, seeds):
        self.constraints, self.seeds, self.discard = constraints, seeds, ChoiceMap()

    def is_noop(self):
        return self.constraints.is_empty()

    def touched(self, path=()):
        """The keys below ``path`` that hold constraints (None would mean: unknown)."""
        return [k for k, sub in submap(self.constraints, path).get_submaps_shallow() if not sub.is_empty()]

    def needed(self, path):
        return not submap(self.constraints, path).is_empty()

    def check_keys(self, valid, gen_fn, prefix=()):
        check_constraint_keys(submap(self.constraints, prefix), valid, gen_fn, prefix)

    def kept(self, kernel, prev, path, args, argdiffs):
        with call_at(path):
            trace, weight, retdiff, discard = kernel._update(
                prev, args, argdiffs, submap(self.constraints, path), self.seeds.child())
        self._discard(path, discard)
        return trace, weight, retdiff

    def new(self, kernel, path, args):
        with call_at(path):
            return kernel._generate(args, submap(self.constraints, path), self.seeds.child())

    def removed(self, path, prev):
        self._discard(path, prev.get_choices())
        return -prev.score

    def _discard(self, path, choices):
        for rest, value in choices.items():
            self.discard.set(path + rest, value)


class RegenerateEdit:
    """``regenerate``'s treatment of child calls."""

    def __init__(self, selection, seeds):
        self.selection, self.seeds = selection, seeds

    def is_noop(self):
        return self.selection.is_empty()

    def touched(self, path=()):
        return [] if subselection_at(self.selection, path).is_empty() else None

    def needed(self, path):
        return not subselection_at(self.selection, path).is_empty()

    def check_keys(self, valid, gen_fn, prefix=()):
        pass  # a selection may name addresses that are not there

    def kept(self, kernel, prev, path, args, argdiffs):
        with call_at(path):
            return kernel._regenerate(prev, args, argdiffs, subselection_at(self.selection, path),
                                      self.seeds.child())

    def new(self, kernel, path, args):
        with call_at(path):
            return kernel._simulate(args, self.seeds.child()), None

    def removed(self, path, prev):
        return None


class Combinator(GenerativeFunction):
    """Base class: subclasses implement ``_generate`` and ``_edit(trace, args, argdiffs, edit)
    -> (trace, weight_terms, retdiff)``; everything else is derived here."""

    def _simulate(self, args, seeds):
        return self._generate(args, ChoiceMap(), seeds)[0]

    def _update(self, trace, args, argdiffs, constraints, seeds):
        edit = UpdateEdit(constraints, seeds)
        if all_unchanged(argdiffs) and edit.is_noop():
            return trace, tf.zeros_like(trace.score), NoChange, ChoiceMap()
        new, terms, retdiff = self._edit(trace, args, argdiffs, edit)
        return new, weight_sum(terms, trace.score.dtype), retdiff, edit.discard

    def _regenerate(self, trace, args, argdiffs, selection, seeds):
        edit = RegenerateEdit(selection, seeds)
        if all_unchanged(argdiffs) and edit.is_noop():
            return trace, tf.zeros_like(trace.score), NoChange
        new, terms, retdiff = self._edit(trace, args, argdiffs, edit)
        return new, weight_sum(terms, trace.score.dtype), retdiff

    def _project(self, trace, selection):
        return total([sub.gen_fn._project(sub, subselection_at(selection, path))
                      for path, sub in trace.children.items()], trace.score.dtype)

    # The @gen language's replay-based gradients need only ``_generate``.
    _replay = GenFunction._replay
    _choice_gradients = GenFunction._choice_gradients
    _accumulate_param_gradients = GenFunction._accumulate_param_gradients


def revisit(edit, kernel, prev, path, args, argdiffs):
    """Edit the kept call at ``path``; a call with unchanged arguments that the edit does not
    touch is not run. Returns ``(trace, weight term or None, retdiff)``."""
    if all_unchanged(argdiffs) and not edit.needed(path):
        return prev, None, NoChange
    return edit.kept(kernel, prev, path, args, argdiffs)


def weight_sum(terms, dtype):
    """Sum of weight terms, skipping None (a term that is exactly 0)."""
    return total([t for t in terms if t is not None], dtype)
