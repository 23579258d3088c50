"""One small handler per GFI method: what ``f(args) @ addr`` does while a @gen body runs.

Each handler keeps the records of the new trace, its score ``log p(t; x)`` (sum of record
scores) and the method's weight; see ``gentf.core.gfi`` for the weight formulas.
"""
import contextlib

import numpy as np
import tensorflow as tf

from ..core.address import show, subselection_at
from ..core.argdiffs import NoChange, UnknownChange
from ..core.choicemap import ChoiceMap
from ..core.context import current, scoped
from ..core.domain import assert_all, check, guard, is_rejecting, validating
from ..core.errors import (ConstraintMismatchError, DuplicateAddressError, MissingChoiceError,
                           UnvisitedConstraintError)
from ..core.gfi import unvisited_dropped
from ..core.nest import is_tensor_like
from .batched_scores import ScoreBatches, Total, done, observation_checks, total
from .distribution import Distribution
from .trace import CallRecord, ChoiceRecord, DynamicTrace


def coerce(value, dist, args, path, like=None, checks=None, nan_check=True):
    """A constraint value as a tensor of the choice's dtype; a kind or shape mismatch is an error.
    ``like`` is the previous value at this address (update), which fixes shape and dtype. The
    value is checked into the body's list ``checks`` (None: at once); ``nan_check=False`` leaves
    the checks of the value (``batched_scores.observation_checks``: NaN, infinite, out of range)
    to the caller."""
    target = like.dtype if like is not None else dist.value_dtype(*args)
    where = f"constraint at address {show(path)}"
    found = []
    if target == tf.bool:
        value, found = _as_bool(value, dist, path)
    if is_tensor_like(value):
        src = tf.as_dtype(value.dtype)
        ok = (src == target or (src.is_floating and target.is_floating)
              or (src.is_integer and (target.is_integer or target.is_floating)))
        if not ok:
            raise ConstraintMismatchError(f"{where}: dtype {src.name} does not match the choice's {target.name}")
        value = tf.cast(value, target) if src != target else tf.convert_to_tensor(value)
    else:
        try:
            value = tf.constant(value, dtype=target)
        except (TypeError, ValueError) as e:
            raise ConstraintMismatchError(f"{where}: {value!r} is not a valid {target.name} value") from e
    expected = like.shape if like is not None else dist.value_shape(*args)
    if not value.shape.is_compatible_with(expected):
        raise ConstraintMismatchError(f"{where}: shape {value.shape} does not match the choice's shape {expected}")
    check(found + (observation_checks(value, dist, args, path) if nan_check else []), checks)
    return value


def _as_bool(value, dist, path):
    """A numeric constraint of a bool choice as a bool tensor (``value != 0``), with the check
    that it is 0 or 1 (Gen.jl users write ``1``, ``0.0``, ...)."""
    array = value if is_tensor_like(value) else np.asarray(value)
    kind = tf.as_dtype(array.dtype)
    if not (kind.is_integer or kind.is_floating):
        return value, []
    tensor = tf.convert_to_tensor(array)
    message = f"{dist!r} at address {show(path)}: the observed value must be a bool, 0 or 1"
    ok = tf.equal(tensor, 0) | tf.equal(tensor, 1)
    return tf.not_equal(tensor, 0), ([(ok, message)] if validating() else [])


def call_argdiffs(prev_args, args):
    """NoChange for each argument that is the very same object as before, else UnknownChange."""
    if len(prev_args) != len(args):
        return tuple(UnknownChange for _ in args)
    return tuple(NoChange if a is b else UnknownChange for a, b in zip(prev_args, args))


@contextlib.contextmanager
def samples_constant():
    """Within: ``generate``'s sampled values are constants to a gradient tape, so that the
    gradient of a generated trace's score is ``d/dtheta log p(t; x, theta)`` at fixed ``t``,
    what ``accumulate_param_gradients`` computes by replaying the trace."""
    with scoped(samples_constant=True):
        yield


class Handler:
    """Common bookkeeping: address claims, records, score, unaddressed-call detection."""

    def __init__(self, gen_fn, seeds):
        self.fn_stack = [gen_fn]
        self.seeds = seeds
        self.records = {}
        self._prefixes = set()
        self.scores = []
        self.weights = []
        self.pending = set()
        self.domain_checks = []  # graph mode: (condition, message), asserted once per body
        self.batches = None if tf.executing_eagerly() else ScoreBatches()  # graphs: batched scores
        self.prefix = ()  # the address of this body's call in the outermost body (for messages)

    def current_fn(self):
        return self.fn_stack[-1]

    def _claim(self, path):
        if path in self.records or path in self._prefixes:
            raise DuplicateAddressError(f"address {show(path)} is traced twice in {self.fn_stack[0]!r}")
        for k in range(1, len(path)):
            if path[:k] in self.records:
                raise DuplicateAddressError(
                    f"address {show(path)} is below {show(path[:k])}, which is already traced in {self.fn_stack[0]!r}")
        self._prefixes.update(path[:k] for k in range(1, len(path)))

    def visit(self, path, gen_fn, args):
        self._claim(path)
        if isinstance(gen_fn, Distribution):
            args = gen_fn.convert_args(args)
            self.validate(path, gen_fn, args)
            value, score = self.choice(path, gen_fn, args)
            self.records[path] = ChoiceRecord(value, score, gen_fn)
            self.scores.append(score)
            return value
        trace = self.call(path, gen_fn, args)
        self.records[path] = CallRecord(trace)
        self.scores.append(trace.score)
        return trace.retval

    def validate(self, path, dist, args):
        if self.batches is None:  # else when the choice is scored (same assertion, batched)
            dist.validate(args, path, self.domain_checks)

    def logpdf(self, path, dist, args, value, baseline=None, observed=False):
        """``log p(value; args)`` of the choice at ``path`` (with a ``baseline``, the pair
        ``(log p, log p - baseline)``): pending in a batch (graphs, ``batched_scores``) or
        computed now; the arguments are validated with it in a graph, and an ``observed`` value
        is checked (``batched_scores.observation_checks``; the caller's ``coerce`` left it)."""
        if self.batches is not None and ScoreBatches.batchable(dist, args, value):
            return self.batches.add(self.prefix + path, dist, args, value, baseline, observed)
        if self.batches is not None:
            dist.validate(args, self.prefix + path, self.domain_checks)
        if observed:
            check(observation_checks(value, dist, args, self.prefix + path), self.domain_checks)
        score = dist.logpdf(value, *args)
        return score if baseline is None else (score, score - baseline)

    def settle(self):
        """Compute the scores left pending (``batched_scores``); before ``score``/``weight``."""
        if self.batches is None:
            return
        self.batches.settle(self.domain_checks)
        self.scores = [done(t) for t in self.scores]
        self.weights = [done(t) for t in self.weights]
        _settle_records(self.records)

    def splice(self, gen_fn, args):
        """Run another @gen function's body in this address space."""
        self.fn_stack.append(gen_fn)
        try:
            return gen_fn.body(*args)
        finally:
            self.fn_stack.pop()

    def score(self):
        """``log p`` of the body; its domain checks are asserted (or, inside
        ``core.domain.rejecting()``, a failed one makes it ``-inf``)."""
        if is_rejecting():
            return guard(self.domain_checks, total(self.scores))
        assert_all(self.domain_checks)
        return total(self.scores)

    def weight(self):
        empty = tf.float64 if any(t.dtype == tf.float64 for t in self.scores) else None
        weight = total(self.weights, empty)  # no weight terms: a zero of the score's dtype
        return guard(self.domain_checks, weight) if is_rejecting() else weight

    def child_seeds(self):
        return self.seeds.child()


class GenerateHandler(Handler):
    """simulate / generate / assess: constrained choices take their constraint and add their
    log density to the weight; others are sampled (or, with ``require_all``, an error)."""

    def __init__(self, gen_fn, constraints, seeds, require_all=False, caller=None):
        super().__init__(gen_fn, seeds)
        self.constraints = constraints
        self.require_all = require_all
        self.nested = caller is not None  # a body called from a traced body: its caller's batches
        if self.nested:
            caller, at = caller
            self.batches, self.domain_checks = caller.batches, caller.domain_checks
            self.prefix = caller.prefix + at

    def choice(self, path, dist, args):
        constrained = self.constraints.has_value(path)
        if constrained:
            value = coerce(self.constraints[path], dist, args, self.prefix + path, checks=self.domain_checks,
                           nan_check=False)  # checked with its score (``logpdf``)
        elif self.require_all:
            raise MissingChoiceError(f"assess: no value for the choice at address {show(path)}")
        else:
            value = dist.sample(self.seeds(), *args)
            if current().samples_constant:
                value = tf.stop_gradient(value)
        score = self.logpdf(path, dist, args, value, observed=constrained)
        if constrained:
            self.weights.append(score)
        return value, score

    def settle(self):
        if not self.nested:  # the outermost body settles its nested calls' scores too
            super().settle()

    def score(self):
        return Total(self.scores, ()) if self.nested else super().score()

    def weight(self):
        return Total(self.weights, self.scores) if self.nested else super().weight()

    def call(self, path, gen_fn, args):
        sub = constraints_below(self.constraints, path, gen_fn)
        if self.batches is not None and getattr(gen_fn, "joins_caller_batches", False) and not is_rejecting():
            trace, weight = gen_fn._generate(args, sub, self.child_seeds(), self.require_all, caller=(self, path))
        else:
            trace, weight = gen_fn._generate(args, sub, self.child_seeds(), require_all=self.require_all)
        self.weights.append(weight)
        return trace

    def finish(self):
        check_visited(self.constraints, self.records, self.fn_stack[0])


class UpdateHandler(Handler):
    """update: kept choices are rescored under the new arguments, constrained ones replaced
    (old value to the discard), new ones sampled from the prior; removed ones leave the score."""

    def __init__(self, gen_fn, prev, constraints, seeds):
        super().__init__(gen_fn, seeds)
        self.prev = prev.records
        self.constraints = constraints
        self.discard = ChoiceMap()

    def choice(self, path, dist, args):
        prev = self.prev.get(path)
        prev = prev if isinstance(prev, ChoiceRecord) else None
        if self.constraints.has_value(path):
            value = coerce(self.constraints[path], dist, args, path, like=prev.value if prev else None,
                           checks=self.domain_checks)
            if prev is not None:
                self.discard.set(path, prev.value)
        elif prev is not None:
            value = prev.value
        else:
            value = dist.sample(self.seeds(), *args)
            return value, self.logpdf(path, dist, args, value)
        if prev is None:
            score = self.logpdf(path, dist, args, value)
            self.weights.append(score)
            return value, score
        score, diff = self.logpdf(path, dist, args, value, baseline=prev.score)
        self.weights.append(diff)
        return value, score

    def call(self, path, gen_fn, args):
        prev = self.prev.get(path)
        sub = constraints_below(self.constraints, path, gen_fn)
        if isinstance(prev, CallRecord) and prev.trace.gen_fn is gen_fn:
            diffs = call_argdiffs(prev.trace.args, args)
            trace, weight, _, discard = gen_fn._update(prev.trace, args, diffs, sub, self.child_seeds())
            if not discard.is_empty():
                self.discard.set(path, discard)
        else:
            trace, weight = gen_fn._generate(args, sub, self.child_seeds())
        self.weights.append(weight)
        return trace

    def finish(self):
        check_visited(self.constraints, self.records, self.fn_stack[0])
        for path, rec in self.prev.items():
            new = self.records.get(path)
            if new is not None and type(new) is type(rec) and (
                    isinstance(rec, ChoiceRecord) or new.trace.gen_fn is rec.trace.gen_fn):
                continue
            self.weights.append(-rec.score)
            removed = rec.value if isinstance(rec, ChoiceRecord) else rec.trace.get_choices()
            if not (isinstance(removed, ChoiceMap) and removed.is_empty()):
                self.discard.set(path, removed)


class RegenerateHandler(Handler):
    """regenerate: selected and new choices are resampled from the prior (weight 0); kept
    unselected choices add ``log p_new - log p_old``; removed choices add nothing."""

    def __init__(self, gen_fn, prev, selection, seeds):
        super().__init__(gen_fn, seeds)
        self.prev = prev.records
        self.selection = selection

    def choice(self, path, dist, args):
        prev = self.prev.get(path)
        if isinstance(prev, ChoiceRecord) and path not in self.selection:
            score, diff = self.logpdf(path, dist, args, prev.value, baseline=prev.score)
            self.weights.append(diff)
            return prev.value, score
        value = dist.sample(self.seeds(), *args)
        return value, self.logpdf(path, dist, args, value)

    def call(self, path, gen_fn, args):
        prev = self.prev.get(path)
        if isinstance(prev, CallRecord) and prev.trace.gen_fn is gen_fn:
            diffs = call_argdiffs(prev.trace.args, args)
            sub = subselection_at(self.selection, path)
            trace, weight, _ = gen_fn._regenerate(prev.trace, args, diffs, sub, self.child_seeds())
            self.weights.append(weight)
            return trace
        return gen_fn._simulate(args, self.child_seeds())

    def finish(self):
        pass


def _settle_records(records):
    """The pending scores of ``records`` and of the nested calls that shared the batches."""
    for rec in records.values():
        if isinstance(rec, ChoiceRecord):
            rec.score = done(rec.score)
        elif isinstance(rec.trace, DynamicTrace) and isinstance(rec.trace.score, Total):
            rec.trace.score = rec.trace.score.value
            _settle_records(rec.trace.records)


def constraints_below(constraints, path, gen_fn):
    """The constraints of the call of ``gen_fn`` at ``path``; a value there is an error (it
    constrains no choice), or ignored inside ``unvisited_constraints_dropped()``."""
    if constraints.has_value(path):
        if unvisited_dropped():
            return ChoiceMap()
        raise UnvisitedConstraintError(f"constraint at address {show(path)}: {gen_fn!r} is called there, "
                                       f"not a distribution; constrain the addresses below it")
    return constraints.get_submap(path)


def check_visited(constraints, records, gen_fn):
    """Every constraint must sit at a visited choice or below a visited call (unless inside
    ``unvisited_constraints_dropped()``)."""
    if unvisited_dropped():
        return
    for path, _ in constraints.items():
        rec = records.get(path)
        if isinstance(rec, ChoiceRecord):
            continue
        if any(isinstance(records.get(path[:k]), CallRecord) for k in range(1, len(path) + 1)):
            continue
        raise UnvisitedConstraintError(f"constraint at address {show(path)}: {gen_fn!r} never visits it")
