"""Map: apply a kernel independently to each element of its argument sequences (Gen.jl's Map).

``Map(kernel)(xs_1, ..., xs_m)`` with sequences of equal length ``N`` (Python lists or tuples,
or tensors/arrays with a static leading dimension ``N``) calls ``kernel(xs_1[i], ..., xs_m[i])``
at address ``i`` for ``i = 0..N-1``. Its return value is the Python list of the kernel's return
values (not stacked: kernels may return anything, and a list can grow one entry at a time).

    log p(t; xs) = sum_i log p_kernel(t_i; xs_1[i], ..., xs_m[i])

``update``/``regenerate`` revisit only the calls that need it: with every argument NoChange,
only calls with constraints (or a selected address); an argument with a change revisits every
call, with per-call argdiff NoChange where a Python list holds the very same element object.
A length change generates the new calls (update weight += their generate weight) and removes
the dropped ones (update weight -= their score; their choices go to the discard).
"""
import tensorflow as tf

from ..core.argdiffs import NoChange, UnknownChange, all_unchanged
from ..core.errors import ArgumentError
from ..modeling.handlers import total
from .base import (Combinator, CombinatorTrace, call_at, check_constraint_keys, check_kernel,
                   element_argdiffs, revisit, submap)


def _length(x, j, gen_fn):
    if isinstance(x, (list, tuple)):
        return len(x)
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0:
        raise ArgumentError(f"{gen_fn!r}: argument {j} must be a sequence (list, tuple or tensor "
                            f"with a leading dimension), got {x!r}")
    n = tf.TensorShape(shape)[0]
    if n is None:
        raise ArgumentError(f"{gen_fn!r}: argument {j} has an unknown leading dimension")
    return int(n)


class Map(Combinator):
    """``Map(kernel)``: independent calls of ``kernel`` at addresses ``0..N-1``."""

    def __init__(self, kernel):
        self.kernel = check_kernel(kernel, "Map")

    def __repr__(self):
        return f"Map({self.kernel!r})"

    def length(self, args):
        """The common length ``N`` of the argument sequences."""
        if not args:
            raise ArgumentError(f"{self!r} needs at least one sequence argument")
        lengths = [_length(a, j, self) for j, a in enumerate(args)]
        if len(set(lengths)) > 1:
            raise ArgumentError(f"{self!r}: the argument sequences have unequal lengths {lengths}")
        return lengths[0]

    @staticmethod
    def call_args(args, i):
        return tuple(a[i] for a in args)

    def _valid(self, n):
        return lambda key: isinstance(key, int) and 0 <= key < n

    def _generate(self, args, constraints, seeds, require_all=False):
        n = self.length(args)
        check_constraint_keys(constraints, self._valid(n), self)
        children, weights = {}, []
        for i in range(n):
            with call_at((i,)):
                trace, weight = self.kernel._generate(self.call_args(args, i), submap(constraints, (i,)),
                                                      seeds.child(), require_all)
            children[(i,)] = trace
            weights.append(weight)
        subs = list(children.values())
        score = total([s.score for s in subs])
        trace = CombinatorTrace(self, args, [s.retval for s in subs], score, children)
        return trace, total(weights, score.dtype)

    def _edit(self, trace, args, argdiffs, edit):
        n_old, n_new = len(trace.children), self.length(args)
        edit.check_keys(self._valid(n_new), self)
        keep = min(n_old, n_new)
        children, retval = dict(trace.children), list(trace.retval[:keep])
        scores, terms, changed = [trace.score], [], n_old != n_new
        touched = None if not all_unchanged(argdiffs) else edit.touched()
        todo = range(keep) if touched is None else sorted(k for k in touched if k < keep)
        for i in todo:
            prev = children[(i,)]
            diffs = element_argdiffs(argdiffs, trace.args, args, i)
            sub, weight, retdiff = revisit(edit, self.kernel, prev, (i,), self.call_args(args, i), diffs)
            if sub is not prev:
                children[(i,)], retval[i] = sub, sub.retval
                scores += [sub.score, -prev.score]
                terms.append(weight)
                changed = changed or retdiff is not NoChange
        for i in range(keep, n_new):
            sub, weight = edit.new(self.kernel, (i,), self.call_args(args, i))
            children[(i,)] = sub
            retval.append(sub.retval)
            scores.append(sub.score)
            terms.append(weight)
        for i in range(keep, n_old):
            prev = children.pop((i,))
            scores.append(-prev.score)
            terms.append(edit.removed((i,), prev))
        new = CombinatorTrace(self, args, retval, total(scores), children)
        return new, terms, UnknownChange if changed else NoChange
