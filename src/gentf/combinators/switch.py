"""Switch: call one of several generative functions, chosen by an index (Gen.jl's Switch).

``Switch(f_0, ..., f_{K-1})(index, *args)`` calls ``f_index(*args)``. The index is 0-based
(Python's convention; Gen.jl's is 1-based) and a Python int or an eager integer tensor: it
fixes the structure of the trace. The chosen branch's choices sit at the top level of the
Switch's choice map (no address of their own), its return value is the Switch's return value
and ``log p(t; index, args) = log p_index(t; args)``.

``update``/``regenerate`` with the same index delegate to the branch. With a changed index
the old branch's trace is dropped and the new branch runs from scratch:

- update:     weight ``= w_generate(new branch; constraints) - score_old``, every old choice in
  the discard;
- regenerate: weight ``= 0`` (new choices from the prior, removed ones contribute nothing).

The branches are treated as disjoint address spaces: Gen.jl additionally carries over the
values at addresses that both branches share; gentf resamples them (or takes them from the
constraints), which keeps ``generate`` strict about constraints the new branch never visits.
"""
from ..core.argdiffs import UnknownChange
from ..core.errors import ArgumentError
from ..core.seeds import SeedStream
from .base import Combinator, CombinatorTrace, check_kernel, revisit, static_int


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
        sub, weight = self.branches[i]._generate(tuple(args[1:]), constraints, SeedStream(seeds()),
                                                 require_all)
        return self._trace(args, i, sub), weight

    def _edit(self, trace, args, argdiffs, edit):
        i, prev = self.index(args), trace.children[()]
        branch = self.branches[i]
        if i == trace.static:
            sub, weight, retdiff = revisit(edit, branch, prev, (), tuple(args[1:]), tuple(argdiffs[1:]))
            return self._trace(args, i, sub), [weight], retdiff
        removed = edit.removed((), prev)
        sub, weight = edit.new(branch, (), tuple(args[1:]))
        return self._trace(args, i, sub), [removed, weight], UnknownChange
