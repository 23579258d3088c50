"""Distributions: log densities against scipy.stats (float32 and float64, batch shapes), sample
shapes and dtypes, calibrated sample means, gradients against finite differences, domain errors
(eagerly and under tf.function), the support, and tfp_distribution."""
from typing import Callable, NamedTuple

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import special, stats

import gentf
from gentf.core.errors import DomainError
from gentf.modeling.distributions import (
    bernoulli, beta, beta_uniform, binom, broadcasted_normal, categorical, cauchy, dirichlet,
    exponential, gamma, geometric, inv_gamma, laplace, mvnormal, neg_binom, normal,
    piecewise_uniform, poisson, tfp_distribution, uniform, uniform_discrete)
from gentf.testing.stats import assert_mean_close, assert_prob_close

tfd = tfp.distributions
SEED = tf.constant([3, 7], tf.int64)


class Case(NamedTuple):
    id: str
    dist: object
    args: tuple
    values: list          # test points, each of the choice's shape
    ref: Callable         # ref(value, *args) -> elementwise log density (numpy, float64)
    kinds: str            # per argument: f float, p probability vector, c covariance, i integer
    vkind: str = "f"      # value: f float, p point of the simplex, d discrete (no gradient)


def _mvn_ref(x, mu, cov):
    x, mu = np.broadcast_arrays(np.asarray(x), np.asarray(mu))
    return np.array([stats.multivariate_normal.logpdf(xi, mi, cov)
                     for xi, mi in zip(x.reshape(-1, x.shape[-1]), mu.reshape(-1, x.shape[-1]))])


def _cat_ref(k, probs):
    k = np.asarray(k)
    return np.log(np.take_along_axis(np.broadcast_to(probs, k.shape + probs.shape[-1:]),
                                     k[..., None], -1)[..., 0])


def _dirichlet_ref(x, alpha):
    x, alpha = np.broadcast_arrays(np.asarray(x), np.asarray(alpha))
    return np.array([stats.dirichlet.logpdf(xi, ai) for xi, ai in
                     zip(x.reshape(-1, x.shape[-1]), alpha.reshape(-1, x.shape[-1]))])


def _beta_uniform_ref(x, theta, a, b):
    return np.logaddexp(np.log(theta) + stats.beta.logpdf(x, a, b), np.log1p(-theta))


CASES = [
    Case("normal", normal, (0.3, 1.7), [-1.0, 0.3, 2.5], stats.norm.logpdf, "ff"),
    Case("normal_batch", normal, ([0.0, 1.0, -2.0], [1.0, 0.5, 2.0]), [[0.1, 1.2, -3.0]],
         stats.norm.logpdf, "ff"),
    Case("broadcasted_normal", broadcasted_normal, ([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], [0.5, 1.0, 2.0]),
         [[[0.2, 0.9, 3.0], [1.5, -1.0, 0.0]]], stats.norm.logpdf, "ff"),
    Case("beta", beta, (2.0, 3.0), [0.1, 0.5, 0.93], stats.beta.logpdf, "ff"),
    Case("beta_uniform", beta_uniform, (0.4, 2.0, 3.0), [0.1, 0.5, 0.93], _beta_uniform_ref, "fff"),
    Case("beta_uniform_batch", beta_uniform, ([0.2, 0.9], 2.0, [3.0, 0.5]), [[0.3, 0.8]],
         _beta_uniform_ref, "fff"),
    Case("cauchy", cauchy, (0.5, 2.0), [-3.0, 0.5, 10.0], stats.cauchy.logpdf, "ff"),
    Case("dirichlet", dirichlet, ([1.5, 2.0, 3.0],), [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]],
         _dirichlet_ref, "f", "p"),
    Case("dirichlet_batch", dirichlet, ([[1.5, 2.0, 3.0], [0.7, 1.0, 4.0]],),
         [[[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]], _dirichlet_ref, "f", "p"),
    Case("exponential", exponential, (1.5,), [0.3, 4.0], lambda x, r: stats.expon.logpdf(x, scale=1 / r), "f"),
    Case("gamma", gamma, (2.5, 1.5), [0.2, 1.0, 6.0], lambda x, k, s: stats.gamma.logpdf(x, k, scale=s), "ff"),
    Case("gamma_batch", gamma, ([2.5, 0.5, 4.0], 1.5), [[0.2, 1.0, 6.0]],
         lambda x, k, s: stats.gamma.logpdf(x, k, scale=s), "ff"),
    Case("inv_gamma", inv_gamma, (3.0, 2.0), [0.2, 1.0, 6.0],
         lambda x, k, s: stats.invgamma.logpdf(x, k, scale=s), "ff"),
    Case("laplace", laplace, (0.5, 2.0), [-3.0, 0.7, 4.0], stats.laplace.logpdf, "ff"),
    Case("mvnormal", mvnormal, ([0.5, -1.0], [[2.0, 0.3], [0.3, 1.0]]), [[0.0, 0.0], [1.0, -2.0]],
         _mvn_ref, "fc"),
    Case("mvnormal_3d", mvnormal, ([0.5, -1.0, 2.0], [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]]),
         [[0.0, 0.0, 1.5]], _mvn_ref, "fc"),
    Case("mvnormal_batch", mvnormal, ([[0.5, -1.0], [0.0, 2.0]], [[2.0, 0.3], [0.3, 1.0]]),
         [[[0.0, 0.0], [1.0, 1.0]]], _mvn_ref, "fc"),
    Case("piecewise_uniform", piecewise_uniform, ([0.0, 1.0, 2.5, 4.0], [0.2, 0.5, 0.3]), [0.5, 1.7, 3.9],
         lambda x, b, p: stats.rv_histogram((p, b), density=False).logpdf(x), "fp"),
    Case("uniform", uniform, (-1.0, 2.5), [-0.5, 2.0], lambda x, lo, hi: stats.uniform.logpdf(x, lo, hi - lo), "ff"),
    Case("bernoulli", bernoulli, (0.3,), [True, False], lambda x, p: stats.bernoulli.logpmf(x, p), "f", "d"),
    Case("bernoulli_batch", bernoulli, ([0.2, 0.9, 0.5],), [[True, False, True]],
         lambda x, p: stats.bernoulli.logpmf(x, p), "f", "d"),
    Case("binom", binom, (7, 0.35), [0, 3, 7], stats.binom.logpmf, "if", "d"),
    Case("binom_batch", binom, ([3, 10], [0.35, 0.8]), [[1, 9]], stats.binom.logpmf, "if", "d"),
    Case("categorical", categorical, ([0.2, 0.5, 0.3],), [0, 1, 2], _cat_ref, "p", "d"),
    Case("categorical_batch", categorical, ([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]],), [[2, 0], [1, 1]],
         _cat_ref, "p", "d"),
    Case("geometric", geometric, (0.3,), [0, 1, 5], lambda k, p: stats.geom.logpmf(np.asarray(k) + 1, p), "f", "d"),
    Case("neg_binom", neg_binom, (2.5, 0.4), [0, 3, 10], stats.nbinom.logpmf, "ff", "d"),
    Case("poisson", poisson, (3.5,), [0, 2, 9], stats.poisson.logpmf, "f", "d"),
    Case("poisson_batch", poisson, ([3.5, 0.2],), [[4, 0]], stats.poisson.logpmf, "f", "d"),
    Case("uniform_discrete", uniform_discrete, (2, 5), [2, 3, 5],
         lambda k, lo, hi: stats.randint.logpmf(k, lo, hi + 1), "ii", "d"),
]
IDS = [c.id for c in CASES]


def cast_args(case, dtype):
    """The case's arguments as numpy arrays: floats of ``dtype``, integers as ints."""
    return tuple(np.asarray(a, np.int64 if k == "i" else dtype) for a, k in zip(case.args, case.kinds))


def cast_value(case, v, dtype):
    if case.dist is bernoulli:
        return tf.constant(v, tf.bool)
    if case.vkind == "d":
        return tf.constant(v, tf.int32)
    return tf.constant(np.asarray(v, dtype))


def logpdf(dist, value, *args):
    return dist.logpdf(value, *dist.convert_args(args))


# --- log densities --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_logpdf_matches_scipy(case, dtype):
    args = cast_args(case, dtype)
    all_int = all(k == "i" for k in case.kinds)
    score_dtype = tf.float64 if dtype == np.float64 and not all_int else tf.float32
    for v in case.values:
        got = logpdf(case.dist, cast_value(case, v, dtype), *args)
        ref_args = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]
        ref_v = np.asarray(v, np.float64) if case.vkind != "d" else np.asarray(v)
        want = np.sum(case.ref(ref_v, *ref_args))
        assert got.dtype == score_dtype
        if score_dtype == tf.float64:
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
        else:
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_samples_have_the_choice_shape_and_dtype_and_finite_scores(case):
    # float64 (dtype propagation) only for unbatched cases: each new dtype/shape retraces TFP's samplers.
    for dtype in (np.float32,) if "_batch" in case.id else (np.float32, np.float64):
        args = case.dist.convert_args(cast_args(case, dtype))
        float_args = any(k != "i" for k in case.kinds)
        want = (tf.bool if case.dist is bernoulli else tf.int32 if case.vkind == "d"
                else tf.as_dtype(dtype))
        for i in range(2 if dtype == np.float32 else 1):
            x = case.dist.sample(tf.constant([i, 11], tf.int64), *args)
            assert x.dtype == want == case.dist.value_dtype(*args)
            assert x.shape == np.shape(case.values[0])
            lp = case.dist.logpdf(x, *args)
            assert lp.dtype == (tf.as_dtype(dtype) if float_args else tf.float32)
            assert np.isfinite(lp.numpy()), (case.id, x, lp)


def test_call_outside_a_model_returns_a_sample():
    gentf.seed(0)
    x = normal(0.0, 1.0)
    assert isinstance(x, tf.Tensor) and x.dtype == tf.float32 and x.shape == ()
    assert normal(np.float64(0.0) * np.ones(4), 1.0).dtype == tf.float64
    assert normal(tf.zeros(4, tf.float64), 1.0).shape == (4,)
    k = categorical([0.1, 0.9])
    assert k.dtype == tf.int32 and 0 <= int(k) <= 1
    assert bernoulli(0.5).dtype == tf.bool
    assert mvnormal(tf.zeros(3), tf.eye(3)).shape == (3,)
    assert 3 <= int(uniform_discrete(3, 4)) <= 4


# --- sample means ---------------------------------------------------------------------------
# Each check draws n i.i.d. samples in one vectorised call (a batch of n identical parameters) and
# asserts |mean - mu| <= z * sd / sqrt(n) with z = Phi^-1(1 - a/2) for a two-sided false-fail rate
# a = 1e-6 (z = 4.89): by the CLT the sample mean is ~ N(mu, sd^2 / n), n = 100000 (gentf.testing.stats).
N = 100_000
MEAN_CASES = [
    # (id, dist, args with the batch, mean, sd)
    ("normal", normal, lambda: (tf.fill([N], 1.5), 2.0), 1.5, 2.0),
    ("gamma", gamma, lambda: (tf.fill([N], 2.5), 1.5), 2.5 * 1.5, np.sqrt(2.5) * 1.5),
    ("inv_gamma", inv_gamma, lambda: (tf.fill([N], 5.0), 2.0), 2.0 / 4.0, 2.0 / (4.0 * np.sqrt(3.0))),
    ("beta_uniform", beta_uniform, lambda: (tf.fill([N], 0.3), 2.0, 6.0),
     0.3 * 0.25 + 0.7 * 0.5, np.sqrt(0.3 * (0.25 ** 2 + 0.25 * 0.75 / 9) + 0.7 / 3 - 0.425 ** 2)),
    ("binom", binom, lambda: (10, tf.fill([N], 0.3)), 3.0, np.sqrt(10 * 0.3 * 0.7)),
    ("geometric", geometric, lambda: (tf.fill([N], 0.3),), 0.7 / 0.3, np.sqrt(0.7) / 0.3),
    ("neg_binom", neg_binom, lambda: (tf.fill([N], 2.5), 0.4), 2.5 * 0.6 / 0.4, np.sqrt(2.5 * 0.6) / 0.4),
    ("poisson", poisson, lambda: (tf.fill([N], 3.5),), 3.5, np.sqrt(3.5)),
    ("categorical", categorical, lambda: (tf.tile([[0.2, 0.5, 0.3]], [N, 1]),), 1.1, np.sqrt(0.5 + 1.2 - 1.21)),
    ("uniform_discrete", uniform_discrete, lambda: (tf.fill([N], 2), 5), 3.5, np.sqrt((4 ** 2 - 1) / 12)),
    ("piecewise_uniform", piecewise_uniform, lambda: (tf.tile([[0.0, 1.0, 3.0]], [N, 1]), [0.4, 0.6]),
     0.4 * 0.5 + 0.6 * 2.0, np.sqrt(0.4 / 3 + 0.6 * (4 + 1 / 3) - 1.4 ** 2)),
]


@pytest.mark.parametrize("mid,dist,make_args,mean,sd", MEAN_CASES, ids=[m[0] for m in MEAN_CASES])
def test_sample_mean(mid, dist, make_args, mean, sd):
    x = dist.sample(SEED, *dist.convert_args(make_args()))
    assert x.shape == (N,)
    assert_mean_close(x.numpy(), mean, sd, false_fail_rate=1e-6, what=mid)


def test_uniform_discrete_includes_both_ends():
    # Each of the 3 values has probability 1/3; count / n within the binomial CLT bound
    # z * sqrt(p (1 - p) / n), z for a two-sided false-fail rate of 1e-6 per value.
    x = uniform_discrete.sample(SEED, tf.fill([30_000], 4), 6).numpy()
    assert set(np.unique(x)) == {4, 5, 6}
    for k in (4, 5, 6):
        assert_prob_close(int(np.sum(x == k)), x.size, 1 / 3, false_fail_rate=1e-6, what=f"P({k})")


def test_bernoulli_frequency():
    # Same bound as above, for P(true) = 0.3.
    x = bernoulli.sample(SEED, tf.fill([50_000], 0.3)).numpy()
    assert_prob_close(int(x.sum()), x.size, 0.3, false_fail_rate=1e-6, what="P(true)")


# --- gradients ------------------------------------------------------------------------------
def _directions(kind, shape):
    """Perturbation directions that keep an argument valid: unit vectors for floats, e_i - e_j
    along the last axis for probability vectors, E_ij + E_ji for covariance matrices."""
    shape = tuple(shape)
    if kind == "f":
        for idx in np.ndindex(*shape):
            v = np.zeros(shape)
            v[idx] = 1.0
            yield v
    elif kind == "p":
        for lead in np.ndindex(*shape[:-1]):
            for i in range(shape[-1] - 1):
                v = np.zeros(shape)
                v[lead + (i,)], v[lead + (i + 1,)] = 1.0, -1.0
                yield v
    elif kind == "c":
        for i in range(shape[-1]):
            for j in range(i, shape[-1]):
                v = np.zeros(shape)
                v[..., i, j] = v[..., j, i] = 1.0
                yield v


# Concentrations exactly 1, where TF's xlogy drops the gradient of (alpha - 1) log x (see
# distributions._xlogy_grad_fix); dirichlet_batch above has one too.
AT_ONE = [
    Case("beta_alpha_1", beta, (1.0, 1.0), [0.3], stats.beta.logpdf, "ff"),
    Case("beta_uniform_alpha_1", beta_uniform, (0.4, 1.0, 2.0), [0.3], _beta_uniform_ref, "fff"),
    Case("gamma_shape_1", gamma, (1.0, 2.0), [0.7], lambda x, k, s: stats.gamma.logpdf(x, k, scale=s), "ff"),
    Case("dirichlet_alpha_1", dirichlet, ([1.0, 1.0, 2.0],), [[0.2, 0.3, 0.5]], _dirichlet_ref, "f", "p"),
]
GRAD_CASES = [c for c in CASES + AT_ONE if any(k != "i" for k in c.kinds)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_gradients_match_finite_differences(case):
    # Central differences in float64 with h = 1e-6: truncation O(h^2) ~ 1e-12, rounding
    # ~ eps |f| / h ~ 1e-9, so a 1e-6 tolerance leaves a wide margin.
    h = 1e-6
    args = list(case.dist.convert_args(cast_args(case, np.float64)))
    for v in case.values[:2]:
        value = cast_value(case, v, np.float64)
        items = [(i, k) for i, k in enumerate(case.kinds) if k != "i"]
        with tf.GradientTape() as tape:
            tape.watch([args[i] for i, _ in items])
            if case.vkind != "d":
                tape.watch(value)
            lp = case.dist.logpdf(value, *args)
        grads = tape.gradient(lp, [args[i] for i, _ in items] + ([value] if case.vkind != "d" else []))
        targets = items + ([("value", case.vkind)] if case.vkind != "d" else [])
        for (i, kind), g in zip(targets, grads):
            x0 = value if i == "value" else args[i]
            g = np.zeros(x0.shape) if g is None else g.numpy()

            def f(x):
                if i == "value":
                    return case.dist.logpdf(x, *args).numpy()
                a = list(args)
                a[i] = x
                return case.dist.logpdf(value, *a).numpy()
            for d in _directions(kind, x0.shape):
                fd = (f(x0 + h * d) - f(x0 - h * d)) / (2 * h)
                np.testing.assert_allclose(np.sum(g * d), fd, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{case.id}: d/d{i} along {d}")


def test_categorical_probs_gradient_is_gen_s():
    # Gen.jl: d/dprobs log probs[k] = e_k / probs[k].
    probs = tf.constant([0.2, 0.5, 0.3], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(probs)
        lp = categorical.logpdf(tf.constant(1), probs)
    np.testing.assert_allclose(tape.gradient(lp, probs), [0.0, 2.0, 0.0])


# --- domain errors and the support ----------------------------------------------------------
BAD_ARGS = [
    (bernoulli, (1.5,), "prob must be in"), (bernoulli, (-0.1,), "prob must be in"),
    (beta, (-1.0, 1.0), "alpha must be positive"), (beta, (1.0, 0.0), "beta must be positive"),
    (beta_uniform, (1.2, 1.0, 1.0), "theta must be in"), (beta_uniform, (0.5, 0.0, 1.0), "alpha must be positive"),
    (beta_uniform, (0.5, 1.0, -2.0), "beta must be positive"),
    (binom, (-1, 0.5), "n must be nonnegative"), (binom, (2.5, 0.5), "n must be an integer"),
    (binom, (3, 1.5), "p must be in"),
    (categorical, ([0.5, 0.6],), "probs must sum to 1"), (categorical, ([1.2, -0.2],), "probs must be nonnegative"),
    (categorical, ([[0.5, 0.5], [0.5, 0.6]],), "probs must sum to 1"),
    (cauchy, (0.0, -1.0), "gamma must be positive"),
    (dirichlet, ([1.0, 0.0],), "alpha must be positive"),
    (exponential, (0.0,), "rate must be positive"),
    (gamma, (1.0, -1.0), "scale must be positive"), (gamma, (0.0, 1.0), "shape must be positive"),
    (geometric, (0.0,), "p must be in"), (geometric, (1.5,), "p must be in"),
    (inv_gamma, (-1.0, 1.0), "shape must be positive"), (inv_gamma, (1.0, 0.0), "scale must be positive"),
    (laplace, (0.0, -1.0), "scale must be positive"),
    (mvnormal, ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "cov must be positive definite"),
    (mvnormal, ([0.0, 0.0], [[1.0, 0.0], [0.0, 0.0]]), "cov must be positive definite"),
    (mvnormal, ([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), "cov must be symmetric"),
    (mvnormal, ([0.0, 0.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "cov must be a square matrix"),
    (mvnormal, ([0.0, 0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]), "mu must have shape"),
    (neg_binom, (0.0, 0.5), "r must be positive"), (neg_binom, (1.0, 0.0), "p must be in"),
    (neg_binom, (1.0, 1.5), "p must be in"),
    (normal, (0.0, -1.0), "std must be positive"), (normal, (0.0, 0.0), "std must be positive"),
    (normal, ([0.0, 0.0], [1.0, -1.0]), "std must be positive"),
    (piecewise_uniform, ([0.0, 2.0, 1.0], [0.5, 0.5]), "bounds must be strictly increasing"),
    (piecewise_uniform, ([0.0, 1.0, 2.0], [0.5, 0.6]), "probs must sum to 1"),
    (piecewise_uniform, ([0.0, 1.0], [0.5, 0.5]), "probs must have len"),
    (poisson, (-1.0,), "lambda must be nonnegative"),
    (uniform, (1.0, 0.0), "low must be less than high"), (uniform, (1.0, 1.0), "low must be less than high"),
    (uniform_discrete, (3, 1), "low must be less than or equal to high"),
    (uniform_discrete, (0.5, 2), "low must be an integer"),
    (broadcasted_normal, ([0.0, 1.0], -1.0), "std must be positive"),
]


@pytest.mark.parametrize("dist,args,message", BAD_ARGS, ids=[f"{d.name}-{i}" for i, (d, _, _) in enumerate(BAD_ARGS)])
def test_domain_error(dist, args, message):
    with pytest.raises(DomainError, match=f"{dist.name}: {message}"):
        dist(*args)


def test_probs_tolerance_follows_dtype():
    # sqrt(eps): ~3.5e-4 in float32, ~1.5e-8 in float64.
    categorical([0.3, 0.7 + 1e-5])
    with pytest.raises(DomainError):
        categorical(np.array([0.3, 0.7 + 1e-5]))
    categorical(np.array([0.3, 0.7 + 1e-9]))


NEG_INF = -np.inf
SUPPORT = [
    # (dist, args, value, expected log density): boundaries, degenerate parameters, outside
    (beta, (2.0, 3.0), [-0.5, 1.5, 0.0, 1.0], NEG_INF), (beta, (1.0, 1.0), [0.0, 1.0], 0.0),
    (beta_uniform, (0.5, 2.0, 3.0), [-0.1, 1.1], NEG_INF), (beta_uniform, (0.0, 2.0, 3.0), [0.0, 1.0], 0.0),
    (beta_uniform, (0.0, 0.5, 2.0), [0.0], 0.0), (beta, (0.5, 2.0), [0.0], np.inf),
    (exponential, (2.0,), [-1.0], NEG_INF), (exponential, (2.0,), [0.0], np.log(2.0)),
    (gamma, (2.0, 1.0), [-1.0, 0.0], NEG_INF), (gamma, (1.0, 0.5), [-1.0], NEG_INF),
    (inv_gamma, (2.0, 1.0), [0.0, -1.0], NEG_INF),
    (uniform, (0.0, 2.0), [-0.1, 2.1], NEG_INF), (uniform, (0.0, 2.0), [0.0, 2.0], -np.log(2.0)),
    (piecewise_uniform, ([0.0, 1.0, 3.0], [0.5, 0.5]), [-0.1, 3.1], NEG_INF),
    (dirichlet, ([1.0, 2.0],), [[0.7, 0.7], [1.2, -0.2]], NEG_INF),
    (bernoulli, (0.0,), [True], NEG_INF), (bernoulli, (0.0,), [False], 0.0), (bernoulli, (1.0,), [True], 0.0),
    (binom, (5, 0.3), [-1, 6], NEG_INF), (binom, (5, 0.0), [0], 0.0), (binom, (5, 1.0), [5], 0.0),
    (binom, (5, 1.0), [4], NEG_INF),
    (categorical, ([0.2, 0.8],), [-1, 2, 7], NEG_INF), (categorical, ([0.0, 1.0],), [0], NEG_INF),
    (categorical, ([0.0, 1.0],), [1], 0.0),
    (geometric, (0.3,), [-1], NEG_INF), (geometric, (1.0,), [0], 0.0), (geometric, (1.0,), [1], NEG_INF),
    (neg_binom, (2.0, 0.5), [-1], NEG_INF), (neg_binom, (2.0, 1.0), [0], 0.0), (neg_binom, (2.0, 1.0), [1], NEG_INF),
    (poisson, (2.0,), [-1], NEG_INF), (poisson, (0.0,), [0], 0.0), (poisson, (0.0,), [1], NEG_INF),
    (uniform_discrete, (2, 4), [1, 5], NEG_INF), (uniform_discrete, (2, 2), [2], 0.0),
]


@pytest.mark.parametrize("dist,args,values,expected", SUPPORT,
                         ids=[f"{d.name}-{i}" for i, (d, _, _, _) in enumerate(SUPPORT)])
def test_support_and_degenerate_parameters(dist, args, values, expected):
    cargs = dist.convert_args(args)
    dist.validate(cargs, None)
    for v in values:
        value = tf.constant(v, dist.value_dtype(*cargs))
        lp = dist.logpdf(value, *cargs).numpy()
        assert not np.isnan(lp)
        if np.isinf(expected):
            assert lp == expected, (dist.name, args, v, lp)
        else:
            np.testing.assert_allclose(lp, expected, rtol=1e-6, atol=1e-7)


def test_integer_valued_logpdf_rejects_non_integers():
    assert poisson.logpdf(1.5, tf.constant(2.0)).numpy() == NEG_INF
    assert categorical.logpdf(0.5, tf.constant([0.5, 0.5])).numpy() == NEG_INF
    assert np.isfinite(poisson.logpdf(2.0, tf.constant(2.0)).numpy())


# --- tf.function ----------------------------------------------------------------------------
COMPILED = [c for c in CASES if c.id in (
    "normal_batch", "gamma", "categorical_batch", "mvnormal_batch", "uniform_discrete",
    "piecewise_uniform", "bernoulli_batch")]


@pytest.mark.parametrize("case", COMPILED, ids=[c.id for c in COMPILED])
def test_logpdf_and_sample_same_under_tf_function(case):
    args = cast_args(case, np.float64)
    value = cast_value(case, case.values[0], np.float64)

    def run():
        cargs = case.dist.convert_args(args)
        case.dist.validate(cargs, None)
        return case.dist.logpdf(value, *cargs), case.dist.sample(SEED, *cargs)
    (lp_e, x_e), (lp_g, x_g) = run(), tf.function(run)()
    np.testing.assert_allclose(lp_g.numpy(), lp_e.numpy(), rtol=1e-12)
    # same draws; graph rewrites may reorder float ops, so equal up to rounding
    np.testing.assert_allclose(x_g.numpy(), x_e.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dist,args", [
    (normal, (0.0, -1.0)), (categorical, ([0.5, 0.6],)), (mvnormal, ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])),
    (uniform_discrete, (3, 1)), (neg_binom, (1.0, 0.0))], ids=lambda a: getattr(a, "name", ""))
def test_domain_error_under_tf_function(dist, args):
    @tf.function
    def run():
        cargs = dist.convert_args(args)
        dist.validate(cargs, ("x", 1))
        return dist.logpdf(dist.sample(SEED, *cargs), *cargs)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"DomainError: {dist.name} at address"):
        run()


def test_call_inside_tf_function_validates():
    @tf.function
    def draw(std):
        return normal(0.0, std)
    assert draw(tf.constant(2.0)).shape == ()
    with pytest.raises(tf.errors.InvalidArgumentError, match="DomainError: normal: std must be positive"):
        draw(tf.constant(-2.0))


# --- tfp_distribution -----------------------------------------------------------------------
iid_normal = tfp_distribution(lambda loc: tfd.Independent(tfd.Normal(loc, 1.0), 1), name="iid_normal")
mixture = tfp_distribution(lambda w, locs, scales: tfd.MixtureSameFamily(
    tfd.Categorical(probs=w), tfd.Normal(locs, scales)))
mvn_diag = tfp_distribution(tfd.MultivariateNormalDiag)


def test_tfp_independent():
    loc = np.array([0.5, -1.0, 2.0])
    x = iid_normal(loc)
    assert x.shape == (3,) and x.dtype == tf.float64 and iid_normal.name == "iid_normal"
    assert iid_normal.discrete is False
    v = np.array([0.0, 0.1, 1.0])
    np.testing.assert_allclose(logpdf(iid_normal, v, loc), stats.norm.logpdf(v, loc).sum(), rtol=1e-10)
    assert iid_normal(loc.astype(np.float32)).dtype == tf.float32


def test_tfp_mixture_same_family():
    w, locs, scales = [0.3, 0.7], [-1.0, 2.0], [0.5, 1.5]
    assert mixture(w, locs, scales).shape == ()
    for v in (-1.2, 0.4, 3.0):
        want = special.logsumexp(np.log(w) + stats.norm.logpdf(v, locs, scales))
        np.testing.assert_allclose(logpdf(mixture, v, w, locs, scales), want, rtol=1e-5)
    lp64 = logpdf(mixture, 0.4, np.array(w), locs, scales)
    assert lp64.dtype == tf.float64


def test_tfp_multivariate_normal_diag_and_gradient():
    loc, scale = tf.constant([0.5, -1.0], tf.float64), tf.constant([2.0, 0.5], tf.float64)
    v = tf.constant([1.0, 0.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(loc)
        lp = mvn_diag.logpdf(v, *mvn_diag.convert_args((loc, scale)))
    want = stats.multivariate_normal.logpdf(v, loc, np.diag(scale.numpy() ** 2))
    np.testing.assert_allclose(lp, want, rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(lp, loc), (v - loc) / scale ** 2, rtol=1e-10)
    assert mvn_diag(loc, scale).shape == (2,)


def test_tfp_distribution_discreteness_and_int_args():
    counts = tfp_distribution(lambda n: tfd.Categorical(logits=tf.zeros([n])))
    (n,) = counts.convert_args((4,))
    assert n.dtype == tf.int32
    k = counts(4)
    assert k.dtype == tf.int32 and counts.discrete is True
    np.testing.assert_allclose(counts.logpdf(tf.constant(2), n), -np.log(4), rtol=1e-6)
    assert tfp_distribution(tfd.Poisson, discrete=True).discrete is True


# --- inside a model -------------------------------------------------------------------------
def test_choices_in_a_model_score_their_logpdf():
    @gentf.gen
    def model():
        z = normal(0.0, 1.0) @ "z"
        k = categorical([0.2, 0.8]) @ "k"
        b = bernoulli(0.3) @ "b"
        n = neg_binom(2.0, 0.4) @ "n"
        v = mvnormal(tf.zeros(2), tf.constant([[1.0, 0.5], [0.5, 2.0]])) @ "v"
        return z, k, b, n, v

    cm = {"z": 0.5, "k": 1, "b": True, "n": 3, "v": np.array([0.1, -0.2], np.float32)}
    trace, w = gentf.generate(model, (), cm, seed=1)
    want = (stats.norm.logpdf(0.5) + np.log(0.8) + np.log(0.3) + stats.nbinom.logpmf(3, 2.0, 0.4)
            + stats.multivariate_normal.logpdf([0.1, -0.2], [0, 0], [[1.0, 0.5], [0.5, 2.0]]))
    np.testing.assert_allclose(w, want, rtol=1e-5)
    np.testing.assert_allclose(trace.score, want, rtol=1e-5)
    assert trace["k"].dtype == tf.int32 and trace["b"].dtype == tf.bool


def test_degenerate_parameters_sample_their_only_value():
    for dist, args, want in [(neg_binom, (2.0, 1.0), 0), (geometric, (1.0,), 0), (poisson, (0.0,), 0),
                             (binom, (5, 1.0), 5), (bernoulli, (1.0,), True), (uniform_discrete, (3, 3), 3),
                             (categorical, ([0.0, 1.0, 0.0],), 1)]:
        assert dist(*args).numpy() == want, dist.name


def test_logpdf_and_sample_compile_with_xla():
    # XLA's float32 lgamma differs from TF's kernel in the last bits, hence atol.
    cases = [c for c in CASES if c.id in ("normal_batch", "categorical_batch", "mvnormal", "neg_binom",
                                          "uniform_discrete")]
    values = [cast_value(c, c.values[0], np.float32) for c in cases]
    args = [c.dist.convert_args(cast_args(c, np.float32)) for c in cases]

    @tf.function(jit_compile=True)
    def run():
        return [(c.dist.logpdf(v, *a), c.dist.sample(SEED, *a)) for c, v, a in zip(cases, values, args)]
    for c, v, a, (lp, x) in zip(cases, values, args, run()):
        np.testing.assert_allclose(lp, c.dist.logpdf(v, *a), rtol=1e-5, atol=1e-5, err_msg=c.id)
        assert x.dtype == c.dist.value_dtype(*a) and x.shape == v.shape


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 40.0])
def test_gamma_and_uniform_discrete_noise_samplers_match_the_law_and_batch_like_a_loop(shape):
    # gentf's own samplers (Marsaglia-Tsang on Threefry/Philox noise; floor of uniform noise):
    # Kolmogorov-Smirnov against scipy (rejects at p < 1e-6), under both generators; and
    # tf.vectorized_map over seeds gives the loop's numbers (no per-particle loop needed).
    from gentf.core.seeds import split_seed, vectorizable_randomness
    for batched in (False, True):
        with vectorizable_randomness(batched):
            x = gamma.sample(tf.constant([1, 2]), tf.fill([20_000], tf.constant(shape, tf.float64)),
                             tf.constant(2.0, tf.float64)).numpy()
            k = uniform_discrete.sample(tf.constant([3, 4]), tf.constant(-2), tf.fill([20_000], 3)).numpy()
        assert stats.kstest(x, stats.gamma(shape, scale=2.0).cdf).pvalue > 1e-6
        assert stats.chisquare(np.bincount(k + 2, minlength=6)).pvalue > 1e-6 and k.min() == -2 and k.max() == 3
    seeds = split_seed(tf.constant([5, 6]), 16)
    draw = lambda s: gamma.sample(s, tf.constant(shape), tf.constant(1.0))  # noqa: E731
    with vectorizable_randomness():
        batch = tf.function(lambda s: tf.vectorized_map(draw, s, fallback_to_while_loop=False), autograph=False)(seeds)
        loop = [draw(s).numpy() for s in tf.unstack(seeds)]
    np.testing.assert_allclose(batch.numpy(), loop, rtol=1e-5)
