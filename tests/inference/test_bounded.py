"""Gradient samplers (hmc, mala, nuts) on choices with bounded support: they run in unconstrained
coordinates u, x = f(u) (TFP default event-space bijectors), target log p(f(u)) + log |det J_f(u)|.

Statistical tier (false-fail rate a = 1e-4 per assertion, as test_mcmc.py): a chain's estimate of
a posterior mean has standard error sd / sqrt(ESS) (Markov-chain CLT, ESS by ``gentf.ess``, capped
at the number of draws to stay conservative for antithetic chains). The posterior variance is
checked as the mean of the draws of (x - mu)^2, whose sd is sqrt(mu_4 - sigma^4) (mu_4 the exact
fourth central moment), with that series' own ESS. Exact tier: the unconstrained target and its
gradient against closed forms (scipy) and finite differences.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

import gentf
from gentf import bernoulli, beta, exponential, gamma, gen, normal, poisson, select, uniform
from gentf.inference._unconstrained import evaluate, needs_transform
from gentf.testing import assert_mean_close, finite_difference_gradient

A = 1e-4

# --- Beta-Bernoulli: p ~ Beta(2, 3), 10 flips with 7 ones: p | flips ~ Beta(2 + 7, 3 + 3) -------
FLIPS = [True, True, True, False, True, True, False, True, False, True]
POST = stats.beta(2 + sum(FLIPS), 3 + len(FLIPS) - sum(FLIPS))


@gen
def coin():
    p = beta(2.0, 3.0) @ "p"
    for i in range(len(FLIPS)):
        bernoulli(p) @ ("flip", i)


def coin_trace():
    return gentf.generate(coin, (), {("flip", i): f for i, f in enumerate(FLIPS)}, seed=0)[0]


def _ess(x):
    return min(float(gentf.ess(np.asarray(x, np.float64))), len(x))


def check_moments(samples, dist):
    """Posterior mean and variance of scalar draws against the exact ``dist`` (scipy)."""
    x = np.asarray(samples, np.float64)
    assert np.all(np.isfinite(x))
    mu, var = float(dist.mean()), float(dist.var())
    mu4 = (float(dist.stats(moments="k")) + 3) * var ** 2  # fourth central moment
    n_eff = _ess(x)
    assert n_eff > 100, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(x, mu, np.sqrt(var), n_eff=n_eff, false_fail_rate=A)
    sq = (x - mu) ** 2
    assert_mean_close(sq, var, np.sqrt(mu4 - var ** 2), n_eff=_ess(sq), false_fail_rate=A, what="variance")


# Trajectories: the posterior sd of logit(p) is ~0.55 (Beta(9, 6)), so L * eps = 0.6 is about a
# sixth of a period; tau = 0.15 gives MALA an acceptance rate of ~0.8.
BB_KERNELS = {
    "hmc": lambda t, s: gentf.hmc(t, select("p"), L=3, eps=0.2, seed=s),
    "mala": lambda t, s: gentf.mala(t, select("p"), 0.15, seed=s),
}


@pytest.mark.parametrize("name", sorted(BB_KERNELS))
def test_beta_bernoulli(name):
    _, samples, accepted = gentf.run_chain(BB_KERNELS[name], coin_trace(), 2100, seed=1)
    p = np.asarray(samples["p"])[100:]  # the chain starts at a prior draw: 100 steps of warm-up
    assert np.all((p > 0) & (p < 1))
    assert np.mean(accepted) > 0.5  # in logit space nothing is proposed outside (0, 1)
    check_moments(p, POST)


def test_beta_bernoulli_nuts():
    _, samples, accepted = gentf.nuts(coin_trace(), select("p"), num_samples=1000, num_warmup=200, seed=2)
    assert samples["p"].shape == (1000,)
    check_moments(samples["p"], POST)


# --- Gamma-Poisson: lam ~ Gamma(shape 3, scale 2), y_i ~ Poisson(lam): -------------------------
# lam | y ~ Gamma(shape 3 + sum y, rate 1/2 + n).
COUNTS = [4, 7, 3, 5, 6, 2, 5, 4]


@gen
def gamma_poisson():
    lam = gamma(3.0, 2.0) @ "lam"
    for i in range(len(COUNTS)):
        poisson(lam) @ ("y", i)


def test_gamma_poisson_hmc():
    trace = gentf.generate(gamma_poisson, (), {("y", i): c for i, c in enumerate(COUNTS)}, seed=0)[0]
    post = stats.gamma(3 + sum(COUNTS), scale=1 / (0.5 + len(COUNTS)))
    # u = softplus^-1(lam) ~ lam - 0.01 here: posterior sd of u ~ sd of lam = 0.73, so
    # L * eps = 1.2 is about a quarter of a period (2 pi 0.73)
    _, samples, _ = gentf.run_chain(lambda t, s: gentf.hmc(t, select("lam"), L=4, eps=0.3, seed=s),
                                    trace, 2100, seed=3)
    lam = np.asarray(samples["lam"])[100:]
    assert np.all(lam > 0)
    check_moments(lam, post)


# --- dependent supports, in a nested @gen call: x ~ Exp(1); y | x ~ Uniform(0, x) ---------------
# Both selected, no data: the chain targets the prior, E x = 1, E y = E x / 2 = 1/2,
# Var y = E[x^2] / 3 - 1/4 = 2/3 - 1/4 = 5/12. The map (u1, u2) -> (x, y) is triangular.
@gen
def stick():
    x = exponential(1.0) @ "x"
    uniform(0.0, x) @ "y"


@gen
def nested():
    stick() @ "s"
    normal(0.0, 1.0) @ "z"


def test_dependent_support_in_a_nested_call_hmc():
    trace = gentf.simulate(nested, (), seed=0)
    sel = select(("s", "x"), ("s", "y"), "z")
    assert needs_transform(trace, sel)
    _, samples, _ = gentf.run_chain(lambda t, s: gentf.hmc(t, sel, L=4, eps=0.3, seed=s), trace, 3000, seed=4)
    x, y, z = (np.asarray(samples[a]) for a in (("s", "x"), ("s", "y"), "z"))
    assert np.all((0 < y) & (y < x))
    check_moments(x, stats.expon())
    for draws, mu, sd in ((y, 0.5, np.sqrt(5 / 12)), (z, 0.0, 1.0)):
        assert_mean_close(draws, mu, sd, n_eff=_ess(draws), false_fail_rate=A)


# --- exact tier: the unconstrained target and its gradient --------------------------------------
@gen
def bounded():
    a = beta(tf.constant(2.0, tf.float64), 3.0) @ "a"
    g = gamma(tf.constant(2.5, tf.float64), 0.5) @ "g"
    b = uniform(tf.constant(-1.0, tf.float64), 2.0 + g) @ "b"  # depends on g
    m = normal(a * b, 1.0) @ "m"
    normal(m + g, 0.5) @ "obs"


def _sigmoid(u):
    return 1 / (1 + np.exp(-u))


def _log_pi_closed_form(u, obs):
    """log p(f(u)) + log |det J_f(u)| written out: f_a = sigmoid, f_g = softplus,
    f_b = -1 + (3 + g) sigmoid, f_m = identity."""
    ua, ug, ub, m = u
    a, g = _sigmoid(ua), np.logaddexp(0, ug)
    b = -1 + (3 + g) * _sigmoid(ub)
    log_p = (stats.beta(2, 3).logpdf(a) + stats.gamma(2.5, scale=0.5).logpdf(g)
             + stats.uniform(-1, 3 + g).logpdf(b) + stats.norm(a * b, 1).logpdf(m)
             + stats.norm(m + g, 0.5).logpdf(obs))
    log_det = (np.log(a * (1 - a)) + np.log(special.expit(ug))
               + np.log(3 + g) + np.log(_sigmoid(ub) * (1 - _sigmoid(ub))))
    return log_p + log_det


SEL = select("a", "g", "b", "m")


def _bounded_trace():
    return gentf.generate(bounded, (), {"obs": tf.constant(0.7, tf.float64)}, seed=5)[0]


def test_unconstrained_target_and_gradient():
    trace = _bounded_trace()
    _, u0, log_pi0, grad0, values = evaluate(trace, SEL, "test")
    # u0 = f^-1(x): the coordinates of the trace's own point, in visit order (a, g, b, m)
    assert list(values.addresses()) == [("a",), ("g",), ("b",), ("m",)]
    x = np.array([float(trace[k]) for k in "agbm"])
    np.testing.assert_allclose([_sigmoid(u0[0]), np.logaddexp(0, u0[1])], x[:2], rtol=1e-10)
    assert float(u0[3]) == x[3]  # identity coordinate
    for u in (np.asarray(u0), np.array([0.3, -1.2, 2.0, 0.4]), np.array([-2.0, 1.5, -0.5, -1.0])):
        new, _, log_pi, grad, values = evaluate(trace, SEL, "test", tf.constant(u))
        np.testing.assert_allclose(float(log_pi), _log_pi_closed_form(u, 0.7), rtol=1e-10)
        fd = finite_difference_gradient(lambda v: _log_pi_closed_form(v, 0.7), u)
        fd_gentf = finite_difference_gradient(
            lambda v: float(evaluate(trace, SEL, "test", tf.constant(v), gradient=False)[2]), u)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(grad, fd_gentf, rtol=1e-6, atol=1e-6)
        # the returned trace holds x = f(u) and scores it as the model does
        np.testing.assert_allclose(float(new.score), float(gentf.assess(bounded, (), new.get_choices())[0]),
                                   rtol=1e-12)
    np.testing.assert_allclose(log_pi0, _log_pi_closed_form(np.asarray(u0), 0.7), rtol=1e-10)
    np.testing.assert_allclose(grad0, evaluate(trace, SEL, "test", u0)[3], rtol=1e-10)


# --- unbounded choices are identity coordinates (u = x, no Jacobian) ----------------------------
@gen
def normal_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 0.5) @ "y"


def _hmc_reference(trace, sel, L, eps, seed):
    """The original (untransformed) HMC, written with choice_gradients + update."""
    from gentf.core.seeds import as_seed, split_seed
    s_mom, s_acc = tf.unstack(split_seed(as_seed(seed), 2))
    _, values, g = gentf.choice_gradients(trace, sel)
    x, g = gentf.to_array(values), gentf.to_array(g)
    m = tf.random.stateless_normal(tf.shape(x), s_mom)
    m0 = -0.5 * tf.reduce_sum(m * m)
    new = trace
    for _ in range(L):
        m = m + eps / 2 * g
        x = x + eps * m
        new = gentf.update(new, constraints=gentf.from_array(values, x))[0]
        g = gentf.to_array(gentf.choice_gradients(new, sel)[2])
        m = m + eps / 2 * g
    alpha = new.score - trace.score - 0.5 * tf.reduce_sum(m * m) - m0
    return new, bool(tf.math.log(tf.random.stateless_uniform([], s_acc)) < alpha)


def test_unbounded_choices_are_not_transformed():
    trace = gentf.generate(normal_normal, (), {"y": 1.0}, seed=0)[0]
    assert not needs_transform(trace, select("x"))
    assert needs_transform(coin_trace(), select("p"))
    for seed in range(3):
        new, accepted = gentf.hmc(trace, select("x"), L=5, eps=0.3, seed=seed)
        ref, ref_accepted = _hmc_reference(trace, select("x"), 5, 0.3, seed)
        assert bool(accepted) == ref_accepted
        # one replay gives log p and its gradient (the reference: update + choice_gradients), so
        # the two differ by float32 rounding only
        np.testing.assert_allclose(float(new["x"]), float(ref["x"]), rtol=1e-6)
        trace = new
    # in the unconstrained machinery a normal choice is an identity coordinate: u = x, no Jacobian
    _, u, log_pi, grad, _ = evaluate(trace, select("x"), "test")
    assert float(u[0]) == float(trace["x"]) and float(log_pi) == float(trace.score)
    np.testing.assert_allclose(grad, gentf.to_array(gentf.choice_gradients(trace, select("x"))[2]), rtol=1e-6)


def test_discrete_selection_with_a_bounded_choice_is_an_error():
    for kernel in (lambda t: gentf.hmc(t, select("p", ("flip", 0))), lambda t: gentf.mala(t, select("p", ("flip", 0)), 0.1)):
        with pytest.raises(gentf.NonDifferentiableError, match=r"(hmc|mala): the selection must hold only continuous.*flip"):
            kernel(coin_trace())


@gen
def beta_gamma():
    p = beta(2.0, 3.0) @ "p"
    g = gamma(2.0, 1.0) @ "g"
    normal(p + g, 0.5) @ "y"  # constant arguments' checks only: the whole chain compiles with XLA


def test_transformed_kernels_compile_with_xla():
    from gentf.core.compile import _owners
    trace = gentf.generate(beta_gamma, (), {"y": 1.0}, seed=0)[0]
    sel = select("p", "g")
    kernel = lambda t, s: gentf.hmc(t, sel, L=2, eps=0.3, seed=s)  # mala builds the same ops
    _, samples, _ = gentf.run_chain(kernel, trace, 20, seed=6, jit_compile=True)
    assert samples["p"].shape == (20,)
    assert not _owners[kernel].no_xla and _owners[kernel].programs
    _, samples, _ = gentf.nuts(trace, sel, num_samples=20, num_warmup=10, seed=6)
    assert np.all((np.asarray(samples["p"]) > 0) & (np.asarray(samples["p"]) < 1)) and np.all(np.asarray(samples["g"]) > 0)
    assert not _owners[beta_gamma].no_xla and _owners[beta_gamma].programs
