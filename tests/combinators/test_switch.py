"""Switch: 0-based branch index, top-level choices, update/regenerate with the same and with
a changed branch (Gen.jl's weights), project, errors."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import NoChange, Switch, UnknownChange, bernoulli, gen, normal, select

MU = tf.constant(0.5, tf.float64)


@gen
def gaussian(mu):
    return normal(mu, 1.0) @ "x"


@gen
def coin(mu):
    z = bernoulli(0.3) @ "z"
    return tf.where(z, mu, -mu)


SW = Switch(gaussian, coin)


def test_scores_of_each_branch():
    trace = gentf.simulate(SW, (0, MU), seed=1)
    assert trace.get_choices().addresses() == [("x",)]
    np.testing.assert_allclose(trace.score, stats.norm.logpdf(float(trace["x"]), 0.5, 1.0), rtol=1e-12)
    assert float(trace.retval) == float(trace["x"])
    trace, w = gentf.generate(SW, (1, MU), {"z": False}, seed=2)
    np.testing.assert_allclose(w, np.log(0.7), rtol=1e-6)
    np.testing.assert_allclose(trace.score, np.log(0.7), rtol=1e-6)
    np.testing.assert_allclose(trace.retval, -0.5)


def test_update_same_branch():
    trace = gentf.simulate(SW, (0, MU), seed=3)
    x = float(trace["x"])
    new, w, _, discard = gentf.update(trace, (0, MU * 2), (NoChange, UnknownChange), {"x": 0.1})
    np.testing.assert_allclose(w, stats.norm.logpdf(0.1, 1.0, 1.0) - stats.norm.logpdf(x, 0.5, 1.0),
                               rtol=1e-10)
    assert discard == gentf.choicemap({"x": x})


def test_update_changed_branch_discards_everything():
    trace = gentf.simulate(SW, (0, MU), seed=4)
    x = float(trace["x"])
    new, w, retdiff, discard = gentf.update(trace, (1, MU), (UnknownChange, NoChange), {"z": True})
    np.testing.assert_allclose(w, np.log(0.3) - stats.norm.logpdf(x, 0.5, 1.0), rtol=1e-6)
    assert discard == gentf.choicemap({"x": x})
    assert new.get_choices().addresses() == [("z",)] and retdiff is UnknownChange
    np.testing.assert_allclose(new.retval, 0.5)
    back, w_back, _, discard_back = gentf.update(new, (0, MU), (UnknownChange, NoChange), discard)
    np.testing.assert_allclose(w_back, -w, rtol=1e-6)
    assert back.get_choices() == trace.get_choices() and discard_back == gentf.choicemap({"z": True})


def test_regenerate_changed_branch_has_weight_zero():
    trace = gentf.simulate(SW, (0, MU), seed=5)
    new, w, _ = gentf.regenerate(trace, (1, MU), (UnknownChange, NoChange), None, seed=6)
    assert new.get_choices().addresses() == [("z",)]
    np.testing.assert_allclose(w, 0.0)
    _, w, _ = gentf.regenerate(trace, (0, MU * 3), (NoChange, UnknownChange), None, seed=6)
    x = float(trace["x"])
    np.testing.assert_allclose(w, stats.norm.logpdf(x, 1.5, 1.0) - stats.norm.logpdf(x, 0.5, 1.0), rtol=1e-10)


def test_project_and_getitem():
    trace = gentf.simulate(SW, (0, MU), seed=7)
    np.testing.assert_allclose(gentf.project(trace, select("x")), trace.score)
    np.testing.assert_allclose(gentf.project(trace, select("y")), 0.0)


def test_errors():
    with pytest.raises(gentf.ArgumentError, match="out of range"):
        gentf.simulate(SW, (2, MU))
    with pytest.raises(gentf.ArgumentError, match="bool"):
        gentf.simulate(SW, (True, MU))
    with pytest.raises(gentf.UnvisitedConstraintError, match="'z'"):
        gentf.generate(SW, (0, MU), {"z": True})


def test_contract():
    gentf.testing.check_gfi_contract(SW, (0, MU), new_args=(0, MU * 2.0))
    gentf.testing.check_gfi_contract(SW, (1, MU), new_args=(0, MU))


@gen
def narrow(mu):
    x = normal(mu, 1.0) @ "x"
    normal(x, 0.5) @ "w"
    return x


@gen
def wide(mu):
    x = normal(mu, 2.0) @ "x"
    return normal(x, 1.0) @ "y"


SHARED = Switch(narrow, wide)


def _logn(v, m, s):
    return stats.norm.logpdf(v, m, s)


@pytest.mark.parametrize("call", [1, 2])  # the second call runs auto-compiled
def test_update_changed_branch_keeps_shared_addresses(call):
    """Gen.jl: the previous choices merged with the constraints constrain the new branch; "x"
    (in both branches) keeps its value, "w" (only in the old one) is discarded, "y" constrained."""
    trace = gentf.simulate(SHARED, (0, MU), seed=11)
    x, w_old = float(trace["x"]), float(trace["w"])
    new, weight, retdiff, discard = gentf.update(trace, (1, MU), (UnknownChange, NoChange), {"y": 0.3})
    assert float(new["x"]) == x and float(new["y"]) == 0.3
    assert sorted(new.get_choices().addresses()) == [("x",), ("y",)]
    expected = _logn(x, 0.5, 2.0) + _logn(0.3, x, 1.0) - _logn(x, 0.5, 1.0) - _logn(w_old, x, 0.5)
    np.testing.assert_allclose(weight, expected, rtol=1e-10)
    np.testing.assert_allclose(new.score, _logn(x, 0.5, 2.0) + _logn(0.3, x, 1.0), rtol=1e-10)
    assert discard == gentf.choicemap({"w": w_old}) and retdiff is UnknownChange
    # the reverse move with the discard returns the old trace, with the opposite weight
    back, w_back, _, discard_back = gentf.update(new, (0, MU), (UnknownChange, NoChange), discard)
    assert back.get_choices() == trace.get_choices()
    np.testing.assert_allclose(w_back, -weight, rtol=1e-10)
    assert discard_back == gentf.choicemap({"y": 0.3})


def test_update_changed_branch_constraint_overrides_shared_value():
    trace = gentf.simulate(SHARED, (0, MU), seed=12)
    x, w_old = float(trace["x"]), float(trace["w"])
    new, weight, _, discard = gentf.update(trace, (1, MU), (UnknownChange, NoChange), {"x": 1.0}, seed=3)
    y = float(new["y"])  # drawn from the prior: it contributes nothing to the weight
    assert float(new["x"]) == 1.0
    np.testing.assert_allclose(weight, _logn(1.0, 0.5, 2.0) - _logn(x, 0.5, 1.0) - _logn(w_old, x, 0.5),
                               rtol=1e-10)
    np.testing.assert_allclose(new.score, _logn(1.0, 0.5, 2.0) + _logn(y, 1.0, 1.0), rtol=1e-10)
    assert discard == gentf.choicemap({"x": x, "w": w_old})


def test_update_changed_branch_rejects_constraint_the_new_branch_never_visits():
    trace = gentf.simulate(SHARED, (0, MU), seed=13)
    with pytest.raises(gentf.UnvisitedConstraintError, match="'w'"):
        gentf.update(trace, (1, MU), (UnknownChange, NoChange), {"w": 0.1})
