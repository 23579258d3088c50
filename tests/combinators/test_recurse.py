"""Recurse: a random binary tree whose nodes draw a value (production) and sum their
children's outputs with noise (aggregation). Exact scores, address layout, structure-changing
update, incremental update, project, errors."""
import numpy as np
import pytest
from scipy import stats

import gentf
from gentf import NoChange, Recurse, bernoulli, gen, normal, select

CALLS = []


@gen
def production(depth):
    CALLS.append(depth)
    v = normal(0.0, 1.0) @ "v"
    split = bernoulli(0.6) @ "split" if depth < 2 else False
    return v, [depth + 1, depth + 1] if split else []


@gen
def aggregation(v, rets):
    return normal(v + sum(rets), 0.5) @ "o"


TREE = Recurse(production, aggregation, 2)


def tree_logp(trace, idx=0, depth=0):
    """Hand-computed log p of the subtree at ``idx``; returns (logp, output)."""
    cm = trace.get_choices()
    v = float(cm[("production", idx, "v")])
    lp = stats.norm.logpdf(v, 0.0, 1.0)
    rets = []
    if depth < 2:
        split = bool(cm[("production", idx, "split")])
        lp += np.log(0.6 if split else 0.4)
        if split:
            for c in range(2):
                sub, r = tree_logp(trace, 2 * idx + c + 1, depth + 1)
                lp += sub
                rets.append(r)
    o = float(cm[("aggregation", idx, "o")])
    return lp + stats.norm.logpdf(o, v + sum(rets), 0.5), o


FULL = {("production", i, "split"): True for i in range(3)}


def test_full_tree_layout_and_score():
    trace, w = gentf.generate(TREE, (0,), FULL, seed=1)
    nodes = sorted({path[1] for path in trace.get_choices().addresses()})
    assert nodes == list(range(7))  # root 0; children of i are 2i+1, 2i+2
    lp, out = tree_logp(trace)
    np.testing.assert_allclose(trace.score, lp, rtol=1e-5)
    np.testing.assert_allclose(w, 3 * np.log(0.6), rtol=1e-5)
    assert float(trace.retval) == out == float(trace[("aggregation", 0)])


def test_random_trees_score():
    for seed in range(3):
        trace = gentf.simulate(TREE, (0,), seed=seed)
        np.testing.assert_allclose(trace.score, tree_logp(trace)[0], rtol=1e-5)


def test_update_prunes_subtree():
    trace, _ = gentf.generate(TREE, (0,), FULL, seed=2)
    new, w, _, discard = gentf.update(trace, (0,), (NoChange,), {("production", 1, "split"): False})
    assert {p[1] for p in new.get_choices().addresses()} == {0, 1, 2, 5, 6}
    np.testing.assert_allclose(new.score, tree_logp(new)[0], rtol=1e-5)
    # no new choices: weight = log p(t') - log p(t)
    np.testing.assert_allclose(w, float(new.score) - float(trace.score), rtol=1e-4)
    assert set(discard.addresses()) == {("production", 1, "split")} | {
        (kind, j, a) for j in (3, 4) for kind, a in (("production", "v"), ("aggregation", "o"))}
    back, w_back, _, _ = gentf.update(new, (0,), (NoChange,), discard)
    np.testing.assert_allclose(w_back, -w, rtol=1e-4)
    assert back.get_choices() == trace.get_choices()


def test_update_grows_subtree():
    trace, _ = gentf.generate(TREE, (0,), {("production", 0, "split"): False}, seed=3)
    new, w, _, _ = gentf.update(trace, (0,), (NoChange,), {
        ("production", 0, "split"): True, ("production", 1, "split"): False,
        ("production", 2, "split"): False, ("aggregation", 2, "o"): 0.25})
    assert float(new[("aggregation", 2, "o")]) == 0.25
    # new choices at nodes 1, 2 come from the prior except the constrained ones
    cm = new.get_choices()
    v0, o0 = float(cm[("production", 0, "v")]), float(cm[("aggregation", 0, "o")])
    outs = [float(cm[("aggregation", j, "o")]) for j in (1, 2)]
    expected = (np.log(0.6) - np.log(0.4) + stats.norm.logpdf(o0, v0 + sum(outs), 0.5)
                - stats.norm.logpdf(o0, v0, 0.5) + 2 * np.log(0.4)
                + stats.norm.logpdf(0.25, float(cm[("production", 2, "v")]), 0.5))
    np.testing.assert_allclose(w, expected, rtol=1e-4)


def test_update_touches_only_the_path_to_the_root(eager):
    trace, _ = gentf.generate(TREE, (0,), FULL, seed=4)
    eager.clear()
    new, w, _, _ = gentf.update(trace, (0,), (NoChange,), {("aggregation", 5, "o"): 0.0})
    assert eager == []  # no production reruns; aggregations 5, 2, 0 are rescored
    np.testing.assert_allclose(new.score, tree_logp(new)[0], rtol=1e-5)
    for j in (1, 3, 4, 6):
        assert new.children[("aggregation", j)] is trace.children[("aggregation", j)]


def test_project():
    trace, _ = gentf.generate(TREE, (0,), FULL, seed=5)
    v = float(trace[("production", 3, "v")])
    np.testing.assert_allclose(gentf.project(trace, select(("production", 3, "v"))),
                               stats.norm.logpdf(v, 0, 1), rtol=1e-5)


def test_errors():
    with pytest.raises(gentf.UnvisitedConstraintError, match=r"\('production', 9"):
        gentf.generate(TREE, (0,), {("production", 9, "v"): 0.0, ("production", 0, "split"): False})
    with pytest.raises(gentf.UnvisitedConstraintError, match="'leaf'"):
        gentf.generate(TREE, (0,), {("leaf", 0, "v"): 0.0})

    @gen
    def bad(depth):
        return normal(0.0, 1.0) @ "v", [depth] * 3
    with pytest.raises(gentf.ArgumentError, match="max_branch"):
        gentf.simulate(Recurse(bad, aggregation, 2), (0,))


def test_contract():
    gentf.testing.check_gfi_contract(TREE, (0,), seed=3)
