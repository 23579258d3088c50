"""Unfold: exact scores and weights of a Gaussian random walk, O(1) extension (what SMC
needs), changed init state / parameters, shrinking, regenerate, project, errors."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import NoChange, Unfold, UnknownChange, gen, normal, select

CALLS = []


@gen
def step(t, state, sigma):
    CALLS.append(t)
    return normal(state, sigma) @ "x"


WALK = Unfold(step)
INIT = tf.constant(0.5, tf.float64)
SIG = tf.constant(0.8, tf.float64)


def xs(trace):
    return [float(trace[(t, "x")]) for t in range(len(trace.retval))]


def logp(x, init=0.5, sigma=0.8):
    prev = np.concatenate([[float(init)], x[:-1]])
    return float(np.sum(stats.norm.logpdf(x, prev, float(sigma))))


def test_simulate_score_and_states():
    trace = gentf.simulate(WALK, (4, INIT, SIG), seed=1)
    x = xs(trace)
    np.testing.assert_allclose(trace.score, logp(x), rtol=1e-12)
    np.testing.assert_allclose([float(s) for s in trace.retval], x)


def test_generate_weight():
    trace, w = gentf.generate(WALK, (3, INIT, SIG), {(1, "x"): 1.0}, seed=2)
    x = xs(trace)
    assert x[1] == 1.0
    np.testing.assert_allclose(w, stats.norm.logpdf(1.0, x[0], 0.8), rtol=1e-12)
    np.testing.assert_allclose(trace.score, logp(x), rtol=1e-12)


@pytest.mark.parametrize("n", [2, 40])
def test_extension_runs_only_the_new_step(eager, n):
    trace = gentf.simulate(WALK, (n, INIT, SIG), seed=3)
    x = xs(trace)
    eager.clear()
    new, w, retdiff, discard = gentf.update(trace, (n + 1, INIT, SIG), (UnknownChange, NoChange, NoChange),
                                            {(n, "x"): 0.1})
    assert eager == [n]  # one kernel execution, whatever n
    np.testing.assert_allclose(w, stats.norm.logpdf(0.1, x[-1], 0.8), rtol=1e-12)
    np.testing.assert_allclose(new.score, logp(x + [0.1]), rtol=1e-12)
    assert discard.is_empty() and retdiff is UnknownChange
    assert all(new.children[(t,)] is trace.children[(t,)] for t in range(n))


def test_constraint_in_the_middle_propagates(eager):
    trace = gentf.simulate(WALK, (4, INIT, SIG), seed=4)
    x = xs(trace)
    eager.clear()
    new, w, _, discard = gentf.update(trace, (4, INIT, SIG), (NoChange,) * 3, {(1, "x"): -0.3})
    x2 = x[:1] + [-0.3] + x[2:]
    np.testing.assert_allclose(w, logp(x2) - logp(x), rtol=1e-10)
    assert discard == gentf.choicemap({(1, "x"): x[1]})
    assert sorted(eager) == [1, 2, 3]  # step 0 is untouched; later steps see a changed state


def test_changed_init_state_and_parameters():
    trace = gentf.simulate(WALK, (3, INIT, SIG), seed=5)
    x = xs(trace)
    init2 = tf.constant(-1.0, tf.float64)
    _, w, _, _ = gentf.update(trace, (3, init2, SIG), (NoChange, UnknownChange, NoChange))
    np.testing.assert_allclose(w, logp(x, init=-1.0) - logp(x), rtol=1e-10)
    sig2 = tf.constant(2.0, tf.float64)
    _, w, _, _ = gentf.update(trace, (3, INIT, sig2), (NoChange, NoChange, UnknownChange))
    np.testing.assert_allclose(w, logp(x, sigma=2.0) - logp(x), rtol=1e-10)


def test_shrink_removes_steps():
    trace = gentf.simulate(WALK, (4, INIT, SIG), seed=6)
    x = xs(trace)
    new, w, _, discard = gentf.update(trace, (2, INIT, SIG), (UnknownChange, NoChange, NoChange))
    np.testing.assert_allclose(w, logp(x[:2]) - logp(x), rtol=1e-10)
    assert discard == gentf.choicemap({(2, "x"): x[2], (3, "x"): x[3]})
    assert len(new.retval) == 2


def test_regenerate_one_step():
    trace = gentf.simulate(WALK, (3, INIT, SIG), seed=7)
    x = xs(trace)
    new, w, _ = gentf.regenerate(trace, None, None, select((1, "x")), seed=8)
    x2 = xs(new)
    assert x2[0] == x[0] and x2[2] == x[2] and x2[1] != x[1]
    # kept x_2 is rescored under its new parent: log p(x2 | x1') - log p(x2 | x1)
    np.testing.assert_allclose(w, stats.norm.logpdf(x[2], x2[1], 0.8) - stats.norm.logpdf(x[2], x[1], 0.8),
                               rtol=1e-10)


def test_project():
    trace = gentf.simulate(WALK, (3, INIT, SIG), seed=9)
    x = xs(trace)
    np.testing.assert_allclose(gentf.project(trace, select((2, "x"))),
                               stats.norm.logpdf(x[2], x[1], 0.8), rtol=1e-12)


def test_errors():
    with pytest.raises(gentf.UnvisitedConstraintError, match=r"\(3, 'x'\)"):
        gentf.generate(WALK, (3, INIT, SIG), {(3, "x"): 0.0})
    with pytest.raises(gentf.ArgumentError, match="n must be >= 0"):
        gentf.simulate(WALK, (-1, INIT, SIG))
    with pytest.raises(gentf.ArgumentError, match="init_state"):
        gentf.simulate(WALK, (3,))


def test_contract():
    gentf.testing.check_gfi_contract(WALK, (3, INIT, SIG), new_args=(3, INIT, SIG * 2.0))
    gentf.testing.check_gfi_contract(WALK, (2, INIT, SIG), new_args=(4, INIT, SIG))
