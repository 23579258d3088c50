"""MCMC kernels against exact posteriors, and their errors on bad input.

Tolerances (false-fail rate a = 1e-4 per assertion): a chain's posterior-mean estimate has
standard error sd / sqrt(ESS), ESS estimated by ``gentf.ess`` (CLT for Markov chains), so the
bound is z_{1-a/2} sd / sqrt(ESS); a covariance entry S_ij estimated from ESS draws has standard
error sqrt((S_ii S_jj + S_ij^2) / ESS) (Gaussian fourth moments).
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import bernoulli, beta, gen, normal, select
from gentf.testing.stats import assert_mean_close, z_value

A = 1e-4
FLIPS = [True, True, False, True, True, True, False, True, False, True]
POST = stats.beta(8, 4)


@gen
def coin():
    p = beta(1.0, 1.0) @ "p"
    for i in range(len(FLIPS)):
        bernoulli(p) @ ("flip", i)


@gen
def normal_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 0.5) @ "y"


NN_MEAN, NN_SD = 0.8, np.sqrt(0.2)


@gen
def random_walk(trace, width):
    normal(trace["x"], width) @ "x"


def nn_trace(seed=0):
    return gentf.generate(normal_normal, (), {"y": 1.0}, seed=seed)[0]


def check_chain(samples, mean, sd):
    samples = np.asarray(samples, np.float64)
    n_eff = float(gentf.ess(samples))
    assert n_eff > 50, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(samples, mean, sd, n_eff=n_eff, false_fail_rate=A)


SEL = select("x")
KERNELS = {
    "mh-selection": lambda t, s: gentf.mh(t, SEL, seed=s),
    "mh-proposal": lambda t, s: gentf.mh(t, random_walk, (0.7,), seed=s),
    "hmc": lambda t, s: gentf.hmc(t, SEL, L=5, eps=0.3, seed=s),
    "mala": lambda t, s: gentf.mala(t, SEL, 0.1, seed=s),
    "elliptical-slice": lambda t, s: gentf.elliptical_slice(t, "x", [0.0], [[1.0]], seed=s),
}


@gen
def normal_normal_vec():  # elliptical slice needs a vector choice with a mvnormal prior
    x = gentf.mvnormal(tf.zeros(1), tf.eye(1)) @ "x"
    normal(x[0], 0.5) @ "y"


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_normal_normal(name):
    model = normal_normal_vec if name == "elliptical-slice" else normal_normal
    trace = gentf.generate(model, (), {"y": 1.0}, seed=0)[0]
    _, samples, _ = gentf.run_chain(KERNELS[name], trace, 3000, seed=1)
    check_chain(np.reshape(samples["x"], [-1]), NN_MEAN, NN_SD)


def test_beta_bernoulli_mh():
    obs = {("flip", i): f for i, f in enumerate(FLIPS)}
    trace = gentf.generate(coin, (), obs, seed=0)[0]
    _, samples, _ = gentf.run_chain(lambda t, s: gentf.mh(t, select("p"), seed=s), trace, 3000, seed=2)
    check_chain(samples["p"], POST.mean(), POST.std())


@gen
def probit_coin():
    # z ~ N(0, 1) and p = Phi(z) make p ~ Uniform(0, 1) = Beta(1, 1): the coin model with a
    # Gaussian prior, as elliptical slice sampling needs; the posterior of p is Beta(8, 4).
    z = gentf.mvnormal(tf.zeros(1), tf.eye(1)) @ "z"
    p = 0.5 * (1.0 + tf.math.erf(z[0] / np.sqrt(2.0)))
    for i in range(len(FLIPS)):
        bernoulli(p) @ ("flip", i)


def test_beta_bernoulli_elliptical_slice():
    obs = {("flip", i): f for i, f in enumerate(FLIPS)}
    trace = gentf.generate(probit_coin, (), obs, seed=0)[0]
    kernel = lambda t, s: gentf.elliptical_slice(t, "z", [0.0], [[1.0]], seed=s)
    _, samples, _ = gentf.run_chain(kernel, trace, 3000, seed=2)
    check_chain(stats.norm.cdf(np.reshape(samples["z"], [-1])), POST.mean(), POST.std())


def test_nuts_normal_normal():
    _, samples, accepted = gentf.nuts(nn_trace(), SEL, num_samples=1000, num_warmup=300, seed=3)
    check_chain(samples["x"], NN_MEAN, NN_SD)


# Bayesian linear regression: w ~ N(0, I), y ~ N(X w, s^2 I): w | y ~ N(S X'y / s^2, S) with
# S = (I + X'X / s^2)^-1.
X = np.stack([np.ones(8), np.linspace(-1, 1, 8)], 1)
S2 = 0.5 ** 2
Y = X @ np.array([0.5, -1.0]) + 0.5 * np.random.default_rng(0).standard_normal(8)
COV = np.linalg.inv(np.eye(2) + X.T @ X / S2)
MEAN = COV @ X.T @ Y / S2


@gen
def regression(xs):
    w = normal(tf.zeros(2, tf.float64), 1.0) @ "w"
    normal(tf.linalg.matvec(xs, w), 0.5) @ "y"


def check_mean_and_cov(w):
    # gentf.ess takes [chains, draws, ...]: one chain is w[None]. HMC can be antithetic
    # (ESS > N); capping ESS at N keeps the bound conservative.
    n_eff = min(float(tf.reduce_min(gentf.ess(w[None]))), len(w))
    assert n_eff > 50, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(w, MEAN, np.sqrt(np.diag(COV)), n_eff=n_eff, false_fail_rate=A)
    sd_cov = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV ** 2) / n_eff)
    assert np.all(np.abs(np.cov(w.T) - COV) <= z_value(A) * sd_cov)


def test_linear_regression_hmc_mean_and_cov():
    # one compiled chain (run_chain's while loop); samples["w"] is [num_steps, 2]. The chain starts
    # at a prior draw: the first 100 steps are warm-up and are discarded. Trajectory length
    # L * eps = 0.3 is about a quarter of the shortest posterior period (2 pi sd_min ~ 1.1); with
    # L * eps ~ 1 (L=10) HMC nearly returns to its start each step and barely mixes.
    trace = gentf.generate(regression, (tf.constant(X),), {"y": Y}, seed=0)[0]
    _, samples, accepted = gentf.run_chain(lambda t, s: gentf.hmc(t, select("w"), L=3, eps=0.1, seed=s),
                                           trace, 1100, seed=4)
    assert isinstance(samples, gentf.ChoiceMap) and samples["w"].shape == (1100, 2)
    check_mean_and_cov(np.asarray(samples["w"])[100:])


def test_linear_regression_nuts_mean_and_cov():
    trace = gentf.generate(regression, (tf.constant(X),), {"y": Y}, seed=0)[0]
    _, samples, _ = gentf.nuts(trace, select("w"), num_samples=1000, num_warmup=300, seed=4)
    check_mean_and_cov(np.asarray(samples["w"]))


def test_map_optimize_in_a_graph():
    # the backtracking while loop carries a trace; compiled by hand it must keep its structure
    trace = gentf.generate(regression, (tf.constant(X),), {"y": Y}, seed=0)[0]
    step = tf.function(lambda t: gentf.map_optimize(t, select("w"), compile=False), autograph=False)
    new = step(trace)
    assert float(new.score) >= float(trace.score)


def test_map_optimize_reaches_the_posterior_mode():
    trace = gentf.generate(regression, (tf.constant(X),), {"y": Y}, seed=0)[0]
    for _ in range(200):
        trace = gentf.map_optimize(trace, select("w"), max_step_size=0.1)
    np.testing.assert_allclose(trace["w"], MEAN, atol=1e-4)  # Gaussian: mode = mean


# --- bad input -------------------------------------------------------------------------------
def test_hmc_and_mala_reject_a_discrete_selection():
    obs = {("flip", i): f for i in range(1, len(FLIPS)) for f in [FLIPS[i]]}
    trace = gentf.generate(coin, (), obs, seed=0)[0]
    for kernel in (lambda: gentf.hmc(trace, select(("flip", 0))), lambda: gentf.mala(trace, select(("flip", 0)), 0.1)):
        with pytest.raises(gentf.NonDifferentiableError, match=r"(hmc|mala): the selection must hold only continuous.*flip"):
            kernel()


@gen
def typo_proposal(trace):
    normal(trace["x"], 0.1) @ "z"  # the model has no "z"


def test_proposal_at_an_unknown_address_is_an_error():
    with pytest.raises(gentf.UnvisitedConstraintError, match="'z'"):
        gentf.mh(nn_trace(), typo_proposal, (), seed=0)


@pytest.mark.parametrize("move,hint", [("x", r"select\('x'\)"), (("x", 0), r"select\(\('x', 0\)\)"),
                                       (["x", "y"], r"select\('x', 'y'\)"), (None, "NoneType")])
def test_mh_without_a_selection_or_proposal_is_a_named_error(move, hint):
    trace = nn_trace()
    before = float(trace["x"])
    with pytest.raises(gentf.SelectionTypeError, match=r"mh: expected a selection .*" + hint):
        gentf.mh(trace, move, seed=0)
    assert float(trace["x"]) == before


@gen
def other_model():
    normal(0.0, 1.0) @ "z"


BAD_KERNELS = {
    "float": (lambda t, s: 1.0, "float 1.0"),
    "none": (lambda t, s: None, "returned None"),
    "choicemap": (lambda t, s: t.get_choices(), "ChoiceMap"),
    "other-model": (lambda t, s: gentf.simulate(other_model, (), seed=s), "trace of @gen other_model"),
    "pair-of-float": (lambda t, s: (0.5, True), "float 0.5"),
}


@pytest.mark.parametrize("compile", [True, False])
@pytest.mark.parametrize("name", list(BAD_KERNELS))
def test_run_chain_rejects_a_kernel_that_returns_no_trace_of_the_model(name, compile):
    kernel, what = BAD_KERNELS[name]
    trace = nn_trace()
    before = trace.get_choices()
    with pytest.raises(gentf.KernelError, match=r"run_chain: the kernel must return .*" + what):
        gentf.run_chain(kernel, trace, 3, seed=0, compile=compile, progress=False)
    assert trace.get_choices() == before


@pytest.mark.parametrize("num_steps", [-1, 2.0, "3", True])
def test_run_chain_num_steps_must_be_a_non_negative_int(num_steps):
    with pytest.raises(gentf.ArgumentError, match=f"run_chain: num_steps must be an int >= 0, got {num_steps!r}"):
        gentf.run_chain(KERNELS["mh-selection"], nn_trace(), num_steps, seed=0, progress=False)
    _, samples, accepted = gentf.run_chain(KERNELS["mh-selection"], nn_trace(), 0, seed=0, progress=False)
    assert accepted.shape == (0,) and np.shape(samples["x"]) == (0,)
