"""Exact tier: scores and weights of every GFI method against hand-computed log-density sums,
eagerly and under tf.function (the same closure, compiled)."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import bernoulli, gen, normal, select

XS = np.array([1.0, -2.0, 0.5], np.float64)
NOISE = 0.5


@gen
def line(xs):
    slope = normal(tf.zeros([], xs.dtype), 1.0) @ "slope"  # float64 data: a float64 model
    for i in range(xs.shape[0]):
        normal(slope * xs[i], NOISE) @ ("y", i)
    return slope


def line_logp(slope, ys, xs=XS):
    return stats.norm.logpdf(slope, 0, 1) + sum(
        stats.norm.logpdf(y, slope * x, NOISE) for y, x in zip(ys, xs))


def values(trace, n=len(XS)):
    return float(trace["slope"]), [float(trace[("y", i)]) for i in range(n)]


@pytest.fixture(params=["eager", "tf.function"])
def run(request):
    if request.param == "eager":
        return lambda thunk: thunk()
    return lambda thunk: tf.function(thunk)()


def test_simulate_score_is_log_p(run):
    trace = run(lambda: gentf.simulate(line, (tf.constant(XS),), seed=1))
    slope, ys = values(trace)
    assert trace.score.dtype == tf.float64
    np.testing.assert_allclose(trace.score, line_logp(slope, ys), rtol=1e-10)
    np.testing.assert_allclose(trace.retval, slope)


def test_generate_weight_is_log_p_of_constraints(run):
    obs = {("y", 0): 0.3, ("y", 1): -1.0, ("y", 2): 0.2}
    trace, w = run(lambda: gentf.generate(line, (tf.constant(XS),), obs, seed=2))
    slope, ys = values(trace)
    assert ys == pytest.approx([0.3, -1.0, 0.2])
    expect = sum(stats.norm.logpdf(y, slope * x, NOISE) for y, x in zip(ys, XS))
    np.testing.assert_allclose(w, expect, rtol=1e-10)
    np.testing.assert_allclose(trace.score, line_logp(slope, ys), rtol=1e-10)


def test_assess_and_propose(run):
    cm = gentf.choicemap({"slope": 0.7, ("y", 0): 0.3, ("y", 1): -1.0, ("y", 2): 0.2})
    w, retval = run(lambda: gentf.assess(line, (tf.constant(XS),), cm))
    np.testing.assert_allclose(w, line_logp(0.7, [0.3, -1.0, 0.2]), rtol=1e-10)
    np.testing.assert_allclose(retval, 0.7)
    choices, pw, _ = run(lambda: gentf.propose(line, (tf.constant(XS),), seed=3))
    np.testing.assert_allclose(pw, line_logp(float(choices["slope"]),
                                             [float(choices[("y", i)]) for i in range(3)]), rtol=1e-10)


def test_update_constraint_weight_and_discard(run):
    trace = gentf.simulate(line, (tf.constant(XS),), seed=4)
    old_slope, ys = values(trace)
    new, w, _, discard = run(lambda: gentf.update(trace, None, None, {"slope": 0.25}))
    np.testing.assert_allclose(w, line_logp(0.25, ys) - line_logp(old_slope, ys), rtol=1e-9)
    np.testing.assert_allclose(discard["slope"], old_slope)
    assert values(new) == (pytest.approx(0.25), pytest.approx(ys))


def test_update_new_args_adds_and_removes_choices(run):
    trace = gentf.simulate(line, (tf.constant(XS),), seed=5)
    slope, ys = values(trace)
    longer = tf.constant(np.append(XS, 3.0))
    grown, w, _, _ = run(lambda: gentf.update(trace, (longer,), None, None, seed=6))
    _, ys4 = values(grown, 4)
    assert ys4[:3] == pytest.approx(ys)
    # the new choice ("y", 3) is drawn from the prior: it does not enter the weight
    np.testing.assert_allclose(w, line_logp(slope, ys, XS) - line_logp(slope, ys, XS), atol=1e-12)
    shorter = tf.constant(XS[:2])
    shrunk, w, _, discard = run(lambda: gentf.update(trace, (shorter,), None, None))
    np.testing.assert_allclose(w, line_logp(slope, ys[:2], XS[:2]) - line_logp(slope, ys), rtol=1e-9)
    np.testing.assert_allclose(discard[("y", 2)], ys[2])
    assert not shrunk.get_choices().has_value(("y", 2))


def test_regenerate_weight(run):
    trace = gentf.simulate(line, (tf.constant(XS),), seed=7)
    old, ys = values(trace)
    new, w, _ = run(lambda: gentf.regenerate(trace, None, None, select("slope"), seed=8))
    slope, ys2 = values(new)
    assert ys2 == pytest.approx(ys) and slope != old
    expect = sum(stats.norm.logpdf(y, slope * x, NOISE) - stats.norm.logpdf(y, old * x, NOISE)
                 for y, x in zip(ys, XS))
    np.testing.assert_allclose(w, expect, rtol=1e-9)


def test_project(run):
    trace = gentf.simulate(line, (tf.constant(XS),), seed=9)
    slope, ys = values(trace)
    w = run(lambda: gentf.project(trace, select("y")))
    np.testing.assert_allclose(w, line_logp(slope, ys) - stats.norm.logpdf(slope), rtol=1e-10)


@gen
def coin_model(p):
    heads = bernoulli(p) @ "heads"
    if heads:  # random structure: eager only
        normal(1.0, 2.0) @ "extra"
    return heads


def test_random_structure_update_removes_and_adds():
    trace, _ = gentf.generate(coin_model, (0.3,), {"heads": True, "extra": 0.5})
    np.testing.assert_allclose(trace.score, np.log(0.3) + stats.norm.logpdf(0.5, 1, 2), rtol=1e-6)
    tails, w, _, discard = gentf.update(trace, None, None, {"heads": False})
    np.testing.assert_allclose(w, np.log(0.7) - trace.score.numpy(), rtol=1e-6)
    assert float(discard["extra"]) == 0.5 and bool(discard["heads"])
    back, w2, _, _ = gentf.update(tails, None, None, {"heads": True, "extra": 0.5})
    np.testing.assert_allclose(w2, -w.numpy(), rtol=1e-6)


@gen
def inner(mu):
    return normal(mu + gentf.param("shift"), 1.0) @ "z"


gentf.init_param(inner, "shift", 0.5)


@gen
def helper_body(a):
    return normal(a, 2.0) @ "w"


@gen
def outer():
    a = normal(0.0, 1.0) @ "a"
    z = inner(a) @ ("sub", 0)
    w = gentf.splice(helper_body, z)
    return a + z + w


def test_nested_calls_splice_and_params(run):
    trace = run(lambda: gentf.simulate(outer, (), seed=10))
    cm = trace.get_choices()
    assert sorted(map(str, cm.addresses())) == sorted(map(str, [("a",), ("sub", 0, "z"), ("w",)]))
    a, z, w = float(trace["a"]), float(trace[("sub", 0, "z")]), float(trace["w"])
    expect = stats.norm.logpdf(a) + stats.norm.logpdf(z, a + 0.5, 1) + stats.norm.logpdf(w, z, 2)
    np.testing.assert_allclose(trace.score, expect, rtol=1e-5)
    np.testing.assert_allclose(trace[("sub", 0)], z)  # trace[call address] is its return value
    np.testing.assert_allclose(trace.retval, a + z + w, rtol=1e-6)
    new, weight, _, discard = gentf.update(trace, (), None, {("sub", 0, "z"): 1.0})
    expect_new = stats.norm.logpdf(a) + stats.norm.logpdf(1.0, a + 0.5, 1) + stats.norm.logpdf(w, 1.0, 2)
    np.testing.assert_allclose(weight, expect_new - expect, rtol=1e-5)
    np.testing.assert_allclose(discard[("sub", 0, "z")], z)


def test_untraced_calls_outside_a_model_return_the_retval():
    assert float(line(tf.constant(XS))) == pytest.approx(float(line(tf.constant(XS))), abs=10)
    assert normal(0.0, 1.0).shape == ()


def test_vectorized_choice_is_one_address():
    @gen
    def vec(n):
        return normal(tf.zeros(n), 1.0) @ "ys"
    trace = gentf.simulate(vec, (5,), seed=11)
    ys = trace["ys"].numpy()
    assert ys.shape == (5,) and trace.get_choices().addresses() == [("ys",)]
    np.testing.assert_allclose(trace.score, stats.norm.logpdf(ys).sum(), rtol=1e-5)


def test_same_seed_same_trace_eagerly_and_compiled():
    args = (tf.constant(XS),)
    eager = gentf.simulate(line, args, seed=(3, 4))
    again = gentf.simulate(line, args, seed=(3, 4))
    compiled = tf.function(lambda s: gentf.simulate(line, args, seed=s))(tf.constant([3, 4]))
    other = gentf.simulate(line, args, seed=(3, 5))
    assert values(eager) == values(again) == values(compiled)
    assert values(eager) != values(other)
    gentf.seed(123)
    first = values(gentf.simulate(line, args))
    gentf.seed(123)
    assert values(gentf.simulate(line, args)) == first
