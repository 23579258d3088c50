"""Unfold: a Markov chain of kernel calls (Gen.jl's Unfold), the model of state-space models.

``Unfold(kernel)(n, init_state, *params)`` calls ``state_t = kernel(t, state_{t-1}, *params)``
at address ``t`` for ``t = 0..n-1`` (0-based, where Gen.jl's ``t`` starts at 1), with
``state_{-1} = init_state``. Its return value is the Python list ``[state_0, ..., state_{n-1}]``.

    log p(t; n, s, theta) = sum_{t<n} log p_kernel(t_t; t, state_{t-1}, theta)

``n`` fixes the structure of the trace: a Python int (or an eager integer tensor).

Incremental update (what sequential Monte Carlo needs): a step is revisited only if it has
constraints (update) or a selected address (regenerate), if a parameter changed, or if its input
state changed (``init_state`` for step 0, else the previous step's retdiff). So extending
``n -> n + 1`` with argdiffs ``(UnknownChange, NoChange, NoChange, ...)`` and constraints at the
new step runs the kernel once, whatever ``n``: the weight is that step's generate weight and the
score is ``score_old + score_new_step``. (The Python bookkeeping copies ``n`` references.)
"""
import heapq

from ..core.argdiffs import NoChange, UnknownChange, all_unchanged
from ..core.errors import ArgumentError
from ..modeling.handlers import total
from .base import (Combinator, CombinatorTrace, call_at, check_constraint_keys, check_kernel,
                   revisit, static_int, submap)


class Unfold(Combinator):
    """``Unfold(kernel)``: ``kernel(t, state, *params)`` at addresses ``t = 0..n-1``."""

    def __init__(self, kernel):
        self.kernel = check_kernel(kernel, "Unfold")

    def __repr__(self):
        return f"Unfold({self.kernel!r})"

    def split_args(self, args):
        """``(n, init_state, params)``."""
        if len(args) < 2:
            raise ArgumentError(f"{self!r} takes (n, init_state, *params), got {len(args)} arguments")
        n = static_int(args[0], "n (the number of steps)", self)
        if n < 0:
            raise ArgumentError(f"{self!r}: n must be >= 0, got {n}")
        return n, args[1], tuple(args[2:])

    def _valid(self, n):
        return lambda key: isinstance(key, int) and 0 <= key < n

    def _generate(self, args, constraints, seeds, require_all=False):
        n, state, params = self.split_args(args)
        check_constraint_keys(constraints, self._valid(n), self)
        children, states, weights = {}, [], []
        for t in range(n):
            with call_at((t,)):
                trace, weight = self.kernel._generate((t, state) + params, submap(constraints, (t,)),
                                                      seeds.child(), require_all)
            children[(t,)], state = trace, trace.retval
            states.append(state)
            weights.append(weight)
        score = total([s.score for s in children.values()])
        return CombinatorTrace(self, args, states, score, children), total(weights, score.dtype)

    def _edit(self, trace, args, argdiffs, edit):
        n_old = len(trace.children)
        n_new, init, params = self.split_args(args)
        edit.check_keys(self._valid(n_new), self)
        keep = min(n_old, n_new)
        children, states = dict(trace.children), list(trace.retval[:keep])
        scores, terms, changed = [trace.score], [], n_old != n_new
        param_diffs = tuple(argdiffs[2:])
        state_changed = {0} if argdiffs[1] is not NoChange else set()
        touched = None if not all_unchanged(param_diffs) else edit.touched()
        todo = list(range(keep)) if touched is None else [k for k in touched if k < keep]
        todo += [t for t in state_changed if t < keep]
        heapq.heapify(todo)
        done = set()
        while todo:  # steps in increasing order; a changed state schedules the next step
            t = heapq.heappop(todo)
            if t in done:
                continue
            done.add(t)
            prev = children[(t,)]
            diffs = (NoChange, UnknownChange if t in state_changed else NoChange) + param_diffs
            state = init if t == 0 else states[t - 1]
            sub, weight, retdiff = revisit(edit, self.kernel, prev, (t,), (t, state) + params, diffs)
            if sub is prev:
                continue
            children[(t,)], states[t] = sub, sub.retval
            scores += [sub.score, -prev.score]
            terms.append(weight)
            if retdiff is not NoChange:
                changed = True
                if t + 1 < keep:
                    state_changed.add(t + 1)
                    heapq.heappush(todo, t + 1)
        for t in range(keep, n_new):
            state = init if t == 0 else states[t - 1]
            sub, weight = edit.new(self.kernel, (t,), (t, state) + params)
            children[(t,)] = sub
            states.append(sub.retval)
            scores.append(sub.score)
            terms.append(weight)
        for t in range(keep, n_old):
            prev = children.pop((t,))
            scores.append(-prev.score)
            terms.append(edit.removed((t,), prev))
        new = CombinatorTrace(self, args, states, total(scores), children)
        return new, terms, UnknownChange if changed else NoChange
