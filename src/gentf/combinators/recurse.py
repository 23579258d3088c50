"""Recurse: tree-structured generative functions (Gen.jl's Recurse combinator).

``Recurse(production, aggregation, max_branch)(root_arg, root_idx=0)`` grows a tree top-down
and folds it bottom-up. At node ``idx`` with argument ``u``:

- ``production(u)`` returns a pair ``(value, child_args)`` with at most ``max_branch`` child
  arguments (Gen.jl's ``Production(value, children)``);
- child ``c`` (0-based) is node ``idx * max_branch + c + 1``, run with argument ``child_args[c]``
  (Gen.jl's ``(idx - 1) * max_branch + c + 1`` shifted to 0-based indices: root 0, its children
  ``1..max_branch``, unique for every node);
- ``aggregation(value, [r_0, ..., r_{k-1}])`` combines the children's return values ``r_c``
  into the node's return value; the root's is the return value of the whole call.

Address layout (Gen.jl's ``(idx, Val(:production))`` / ``(idx, Val(:aggregation))``): the
production call of node ``idx`` is at ``("production", idx)`` and its aggregation call at
``("aggregation", idx)``; e.g. a choice ``"x"`` of node 3's production is at
``("production", 3, "x")``. The score is the sum of every call's score.

update/regenerate walk the tree from the root. A node whose argument is unchanged (NoChange:
the root's argdiff, or an unchanged parent production) and which has no constraints (or no
selected address) at it or below it keeps its whole subtree without running anything. A
production that returns fewer children removes their subtrees (update weight ``-score``, their
choices discarded); more children generate new subtrees. An aggregation reruns when its value
or one of its children's return values changed.
"""
from ..core.argdiffs import NoChange, UnknownChange
from ..core.errors import ArgumentError
from ..modeling.handlers import total
from .base import (Combinator, CombinatorTrace, call_at, check_constraint_keys, check_kernel,
                   revisit, static_int, submap)

KINDS = ("production", "aggregation")


class Recurse(Combinator):
    """``Recurse(production, aggregation, max_branch)``: see the module docstring."""

    def __init__(self, production, aggregation, max_branch):
        self.production = check_kernel(production, "Recurse")
        self.aggregation = check_kernel(aggregation, "Recurse")
        self.max_branch = int(max_branch)
        if self.max_branch < 1:
            raise ValueError(f"Recurse: max_branch must be >= 1, got {max_branch}")

    def __repr__(self):
        return f"Recurse({self.production!r}, {self.aggregation!r}, {self.max_branch})"

    def split_args(self, args):
        """``(root_arg, root_idx)``."""
        if len(args) not in (1, 2):
            raise ArgumentError(f"{self!r} takes (root_arg, root_idx=0), got {len(args)} arguments")
        root = static_int(args[1], "root_idx", self) if len(args) == 2 else 0
        if root < 0:
            raise ArgumentError(f"{self!r}: root_idx must be >= 0, got {root}")
        return args[0], root

    def child(self, idx, c):
        return idx * self.max_branch + c + 1

    def parent(self, idx):
        return (idx - 1) // self.max_branch

    def production_result(self, retval, idx):
        """``(value, child_args)`` from a production's return value, checked."""
        if not (isinstance(retval, (tuple, list)) and len(retval) == 2
                and isinstance(retval[1], (tuple, list))):
            raise ArgumentError(f"{self!r}: the production at node {idx} must return "
                                f"(value, [child_arg, ...]), got {retval!r}")
        if len(retval[1]) > self.max_branch:
            raise ArgumentError(f"{self!r}: the production at node {idx} returned {len(retval[1])} "
                                f"children, more than max_branch={self.max_branch}")
        return retval[0], list(retval[1])

    def check_visited(self, check_keys, children):
        """Constraints only at ``(kind, idx)`` for the nodes of the new tree."""
        check_keys(lambda k: k in KINDS, self)
        for kind in KINDS:
            check_keys(lambda j: (kind, j) in children, self, (kind,))

    def _trace(self, args, root, children):
        retval = children[("aggregation", root)].retval
        score = total([s.score for s in children.values()])
        return CombinatorTrace(self, args, retval, score, children, root)

    # --- generate ------------------------------------------------------------------------
    def _grow(self, idx, arg, make, children, weights):
        """Generate the subtree at ``idx``; ``make(kernel, path, args) -> (trace, weight)``."""
        prod, weight = make(self.production, ("production", idx), (arg,))
        children[("production", idx)] = prod
        weights.append(weight)
        value, child_args = self.production_result(prod.retval, idx)
        rets = [self._grow(self.child(idx, c), a, make, children, weights) for c, a in enumerate(child_args)]
        agg, weight = make(self.aggregation, ("aggregation", idx), (value, rets))
        children[("aggregation", idx)] = agg
        weights.append(weight)
        return agg.retval

    def _generate(self, args, constraints, seeds, require_all=False):
        arg, root = self.split_args(args)

        def make(kernel, path, kernel_args):
            with call_at(path):
                return kernel._generate(kernel_args, submap(constraints, path), seeds.child(),
                                        require_all)
        children, weights = {}, []
        self._grow(root, arg, make, children, weights)
        self.check_visited(lambda valid, fn, prefix=(): check_constraint_keys(
            submap(constraints, prefix), valid, fn, prefix), children)
        trace = self._trace(args, root, children)
        return trace, total(weights, trace.score.dtype)

    # --- update / regenerate -------------------------------------------------------------
    def _touched_nodes(self, edit, root):
        """Nodes with constraints (or selected addresses) and their ancestors; None: all."""
        nodes = set()
        for kind in KINDS:
            keys = edit.touched((kind,))
            if keys is None:
                return None
            nodes.update(k for k in keys if isinstance(k, int))
        for j in list(nodes):
            while j > root:
                j = self.parent(j)
                nodes.add(j)
        return nodes

    def _prune(self, idx, old, children, edit, terms):
        """Remove the old subtree at ``idx``."""
        prod = old.get(("production", idx))
        if prod is None:
            return
        for c in range(len(self.production_result(prod.retval, idx)[1])):
            self._prune(self.child(idx, c), old, children, edit, terms)
        for kind in KINDS:
            terms.append(edit.removed((kind, idx), children.pop((kind, idx))))

    def _revise(self, idx, arg, argdiff, old, children, edit, terms, touched):
        """Update the subtree at ``idx``; returns ``(retval, retdiff)``."""
        prev_prod = old.get(("production", idx))
        if prev_prod is None:
            return self._grow(idx, arg, edit.new, children, terms), UnknownChange
        if argdiff is NoChange and touched is not None and idx not in touched:
            return old[("aggregation", idx)].retval, NoChange
        prod, weight, prod_diff = revisit(edit, self.production, prev_prod, ("production", idx),
                                          (arg,), (argdiff,))
        children[("production", idx)] = prod
        terms.append(weight)
        value, child_args = self.production_result(prod.retval, idx)
        old_args = self.production_result(prev_prod.retval, idx)[1]
        rets, rets_changed = [], len(child_args) != len(old_args)
        for c, a in enumerate(child_args):
            same = prod_diff is NoChange or (c < len(old_args) and old_args[c] is a)
            r, diff = self._revise(self.child(idx, c), a, NoChange if same else UnknownChange,
                                   old, children, edit, terms, touched)
            rets.append(r)
            rets_changed = rets_changed or diff is not NoChange
        for c in range(len(child_args), len(old_args)):
            self._prune(self.child(idx, c), old, children, edit, terms)
        diffs = (prod_diff, UnknownChange if rets_changed else NoChange)
        agg, weight, agg_diff = revisit(edit, self.aggregation, old[("aggregation", idx)],
                                        ("aggregation", idx), (value, rets), diffs)
        children[("aggregation", idx)] = agg
        terms.append(weight)
        return agg.retval, agg_diff

    def _edit(self, trace, args, argdiffs, edit):
        arg, root = self.split_args(args)
        children, terms = dict(trace.children), []
        if root != trace.static:
            self._prune(trace.static, trace.children, children, edit, terms)
            self._grow(root, arg, edit.new, children, terms)
            retdiff = UnknownChange
        else:
            touched = self._touched_nodes(edit, root)
            _, retdiff = self._revise(root, arg, argdiffs[0], trace.children, children, edit, terms, touched)
        self.check_visited(edit.check_keys, children)
        return self._trace(args, root, children), terms, retdiff
