"""Switch: call one of several generative functions, chosen by an index (Gen.jl's Switch).

``Switch(f_0, ..., f_{K-1})(index, *args)`` calls ``f_index(*args)``. The index is 0-based
(Python's convention; Gen.jl's is 1-based) and a Python int or an eager integer tensor: it
fixes the structure of the trace. The chosen branch's choices sit at the top level of the
Switch's choice map (no address of their own), its return value is the Switch's return value
and ``log p(t; index, args) = log p_index(t; args)``.

``update``/``regenerate`` with the same index delegate to the branch. With a changed index
the new branch runs from scratch:

- update (Gen.jl's ``switch/update.jl``): the previous choices, overridden by the constraints,
  are the constraints ``u`` of ``generate`` of the new branch, which keeps the values at the
  addresses it visits (a shared address keeps its value) and ignores the others; every user
  constraint must be visited (``UnvisitedConstraintError``). With ``t'`` the new choices,
  weight ``= sum_{a in t', a in u} log p_new(t'_a) - score_old``, which is ``log p(t') - log p(t)
  - log q(t' \\ u)`` for the choices drawn from the prior. The discard holds the previous
  values that were overwritten by a constraint or that the new branch does not visit (the GFI's
  discard; Gen.jl's Switch keeps only the overwritten ones);
- regenerate: weight ``= 0`` (new choices from the prior, removed ones contribute nothing).
"""
from ..core.address import show
from ..core.argdiffs import UnknownChange
from ..core.choicemap import ChoiceMap
from ..core.errors import ArgumentError, UnvisitedConstraintError
from ..core.gfi import unvisited_constraints_dropped
from .base import Combinator, CombinatorTrace, UpdateEdit, call_at, check_kernel, revisit, static_int


class Switch(Combinator):
    """``Switch(*branches)``: ``branches[index](*args)`` with its choices at the top level."""

    def __init__(self, *branches):
        if not branches:
            raise TypeError("Switch needs at least one branch")
        self.branches = tuple(check_kernel(b, "Switch") for b in branches)

    def __repr__(self):
        return f"Switch({', '.join(repr(b) for b in self.branches)})"

    def index(self, args):
        if not args:
            raise ArgumentError(f"{self!r} takes (index, *args), got no arguments")
        i = static_int(args[0], "the branch index", self)
        if not 0 <= i < len(self.branches):
            raise ArgumentError(f"{self!r}: branch index {i} is out of range 0..{len(self.branches) - 1}")
        return i

    def _trace(self, args, i, sub):
        return CombinatorTrace(self, args, sub.retval, sub.score, {(): sub}, static=i)

    def _generate(self, args, constraints, seeds, require_all=False):
        i = self.index(args)
        sub, weight = self.branches[i]._generate(tuple(args[1:]), constraints, seeds.child(),
                                                 require_all)
        return self._trace(args, i, sub), weight

    def _edit(self, trace, args, argdiffs, edit):
        i, prev = self.index(args), trace.children[()]
        branch = self.branches[i]
        if i == trace.static:
            sub, weight, retdiff = revisit(edit, branch, prev, (), tuple(args[1:]), tuple(argdiffs[1:]))
            return self._trace(args, i, sub), [weight], retdiff
        if isinstance(edit, UpdateEdit):
            sub, terms = self._carry_over(branch, prev, tuple(args[1:]), edit)
            return self._trace(args, i, sub), terms, UnknownChange
        removed = edit.removed((), prev)
        sub, weight = edit.new(branch, (), tuple(args[1:]))
        return self._trace(args, i, sub), [removed, weight], UnknownChange

    def _carry_over(self, branch, prev, args, edit):
        """``update`` into a new branch: ``generate`` it under the previous choices overridden by
        the constraints; returns the subtrace and the weight terms (see the module docstring)."""
        constraints, old = edit.constraints, prev.get_choices()
        merged = ChoiceMap()
        for path, value in old.items():
            if not _overridden(constraints, path):
                merged.set(path, value)
        for path, value in constraints.items():
            merged.set(path, value)
        with call_at(()), unvisited_constraints_dropped():
            sub, weight = branch._generate(args, merged, edit.seeds.child())
        new = sub.get_choices()
        for path, _ in constraints.items():
            if not new.has_value(path):
                raise UnvisitedConstraintError(f"constraint at address {show(path)}: {branch!r}, the "
                                               f"new branch of {self!r}, never visits it")
        for path, value in old.items():
            if constraints.has_value(path) or not new.has_value(path):
                edit.discard.set(path, value)
        return sub, [weight, -prev.score]


def _overridden(constraints, path):
    """Do the constraints hold something at ``path``, below it or at one of its prefixes?"""
    return (constraints.has_value(path) or constraints.has_submap(path)
            or any(constraints.has_value(path[:k]) for k in range(1, len(path))))
