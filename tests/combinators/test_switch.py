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
