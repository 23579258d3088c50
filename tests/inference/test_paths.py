"""Path-compiled programs (``inference.paths``): models whose Python control flow branches on
random choices.

Draws: particle ``i`` of importance sampling is the eager execution ``generate(model, args, obs,
seed=split_seed(seed, N)[i])`` under the batched generator, choice for choice (discrete values
exactly, continuous values and weights to float32 rounding of the batched kernels).

Statistics (false-fail rate A = 1e-4 per assertion, z = z_{1-A/2}): the self-normalised estimate
``P = sum_i w_i h_i`` of ``P(is_line | y)`` has delta-method standard error
``sqrt(sum_i w_i^2 (h_i - P)^2)``; the reference is exact for the line branch (``quad`` over
the noise of a Gaussian marginal) and a numpy Monte Carlo estimate for the sine branch, whose
standard error enters the tolerance by the delta method. Five data points: three sine
parameters cannot fit them exactly, so the importance weights have finite variance.
"""
import math
import os
import sys

import numpy as np
import tensorflow as tf
from scipy import integrate, stats

import gentf
from gentf import gen, normal
from gentf.core.seeds import as_seed, split_seed, vectorizable_randomness
from gentf.inference.paths import PathTraces, path_owner
from gentf.testing.stats import z_value

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
from intro_to_modeling import combined_model  # noqa: E402  (Gen.jl's tutorial model)

A = 1e-4


XS = [-2.0, -1.0, 0.0, 1.0, 2.0]
YS = [-0.9, -0.5, 0.1, 0.4, 1.0]
OBS = {("y", i): y for i, y in enumerate(YS)}


def _eager(model, args, obs, seed, n):
    """The eager execution of each particle (what importance sampling's eager loop runs)."""
    seeds = tf.unstack(split_seed(as_seed(seed), n))
    with vectorizable_randomness():
        return [gentf.generate(model, args, obs, seed=s) for s in seeds]


def _assert_same_particles(traces, log_w, log_ml, eager):
    for i, (ref, ref_weight) in enumerate(eager):
        got, want = traces[i].get_choices(), ref.get_choices()
        assert sorted(a for a, _ in got.items()) == sorted(a for a, _ in want.items()), f"particle {i}"
        for addr, value in want.items():
            if value.dtype in (tf.bool, tf.int32):
                assert bool(tf.reduce_all(got[addr] == value)), f"particle {i} at {addr}"
            else:
                np.testing.assert_allclose(got[addr].numpy(), value.numpy(), rtol=1e-5, err_msg=f"particle {i} at {addr}")
        np.testing.assert_allclose(float(traces[i].score), float(ref.score), rtol=1e-5)
        n = len(eager)
        np.testing.assert_allclose(float(log_w[i] + log_ml) + math.log(n), float(ref_weight), rtol=1e-5)


def test_combined_model_path_compiled_draws_equal_eager_draws():
    traces, log_w, log_ml = gentf.importance_sampling(combined_model, (XS,), OBS, 24, seed=7)
    assert isinstance(traces, PathTraces) and len(traces) == 24
    assert {g.path[("is_line",)] for g in traces.groups} == {True, False}  # both branches, batched
    assert path_owner(combined_model).addresses == {("is_line",)}
    _assert_same_particles(traces, log_w, log_ml, _eager(combined_model, (XS,), OBS, 7, 24))


def test_importance_resampling_returns_the_chosen_particle():
    trace, log_ml = gentf.importance_resampling(combined_model, (XS,), OBS, 24, seed=8)
    s1, s2 = tf.unstack(split_seed(as_seed(8), 2))
    traces, log_w, log_ml_is = gentf.importance_sampling(combined_model, (XS,), OBS, 24, seed=s1)
    i = int(tf.random.stateless_categorical(log_w[None], 1, s2)[0, 0])
    assert float(log_ml) == float(log_ml_is)
    assert bool(trace["is_line"]) == traces.values(("is_line",))[i]
    np.testing.assert_allclose(float(trace.score), float(traces[i].score), rtol=1e-6)


def _reference_p_line(m=4_000_000, seed=0):
    """(P(is_line | y), its standard error): exact line marginal, Monte Carlo sine marginal."""
    xs, ys = np.array(XS), np.array(YS)
    design = np.stack([xs, np.ones_like(xs)], 1)
    prior_cov = design @ np.diag([1.0, 4.0]) @ design.T  # slope ~ N(0, 1), intercept ~ N(0, 2^2)
    line = integrate.quad(lambda s: stats.multivariate_normal(np.zeros(len(xs)), prior_cov + s * s * np.eye(len(xs))
                                                              ).pdf(ys) * stats.gamma(1.0).pdf(s),
                          0, np.inf, epsabs=0, epsrel=1e-10, limit=200)[0]
    rng = np.random.default_rng(seed)
    lik = []
    for _ in range(m // 500_000):
        k = 500_000
        phase, period = rng.uniform(0, 2 * np.pi, k), rng.gamma(5.0, 1.0, k)
        amplitude, noise = rng.gamma(1.0, 1.0, k), rng.gamma(1.0, 1.0, k)
        mu = amplitude[:, None] * np.sin(2 * np.pi * xs[None] / period[:, None] + phase[:, None])
        lik.append(np.exp(stats.norm.logpdf(ys[None], mu, noise[:, None]).sum(1)))
    lik = np.concatenate(lik)
    sine, sine_se = lik.mean(), lik.std() / np.sqrt(len(lik))
    p = line / (line + sine)
    return p, p * (1 - p) * sine_se / sine  # d p / d sine = -p (1 - p) / sine


def test_posterior_probability_of_the_line_branch():
    p_ref, se_ref = _reference_p_line()
    traces, log_w, _ = gentf.importance_sampling(combined_model, (XS,), OBS, 20_000, seed=9)
    w = np.exp(np.asarray(log_w, np.float64))
    h = (traces.values(("is_line",)) == True).astype(np.float64)  # noqa: E712 (object array)
    p = float(np.sum(w * h))
    se = math.sqrt(float(np.sum(w ** 2 * (h - p) ** 2)))
    assert abs(p - p_ref) <= z_value(A) * math.hypot(se, se_ref), (p, p_ref, se, se_ref)


@gen
def continuous_branch():
    if normal(0.0, 1.0) @ "x" > 0:  # a continuous value: no path program can fix it
        normal(1.0, 1.0) @ "y"
    else:
        normal(-1.0, 1.0) @ "y"


def test_branch_on_a_continuous_value_runs_eagerly_with_its_reason():
    traces, log_w, log_ml = gentf.importance_sampling(continuous_branch, (), {"y": 0.4}, 12, seed=10)
    assert isinstance(traces, list) and len(traces) == 12
    reason = gentf.explain_compile(path_owner(continuous_branch))
    assert "DynamicStructureError" in reason and "not an unconstrained scalar discrete choice" in reason
    _assert_same_particles(traces, log_w, log_ml, _eager(continuous_branch, (), {"y": 0.4}, 10, 12))


@gen
def mixed(n):
    z = gentf.categorical(tf.constant([0.3, 0.7])) @ "z"  # arithmetic only: not a path address
    k = gentf.uniform_discrete(1, 3) @ "k"
    total = tf.gather(tf.constant([-1.0, 1.0]), z)
    for i in range(int(k)):  # control flow: k is a path address
        total += normal(0.0, 1.0) @ ("x", i)
    normal(total, 1.0) @ "y"


def test_only_choices_read_by_control_flow_become_path_addresses():
    traces, log_w, log_ml = gentf.importance_sampling(mixed, (0,), {"y": 0.5}, 32, seed=11)
    assert path_owner(mixed).addresses == {("k",)}
    assert sorted(g.path[("k",)] for g in traces.groups) == [1, 2, 3]
    _assert_same_particles(traces, log_w, log_ml, _eager(mixed, (0,), {"y": 0.5}, 11, 32))
