"""Importance sampling against exact posteriors and marginal likelihoods.

Tolerances (false-fail rate a = 1e-4 per assertion, z = z_{1-a/2}): a self-normalised IS
estimate of a posterior mean has standard error ~ sd / sqrt(ESS_IS), ESS_IS = 1 / sum w_i^2
(Kong's approximation); ``log p_hat(y)`` has standard error ~ sqrt((N / ESS_IS - 1) / N) (delta
method, with E[w^2] / E[w]^2 estimated by N / ESS_IS).
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

import gentf
from gentf import bernoulli, beta, gen, normal
from gentf.testing.stats import assert_mean_close, z_value

A = 1e-4
FLIPS = [True, True, False, True, True, True, False, True, False, True]  # 7 heads, 3 tails


@gen
def coin():
    p = beta(1.0, 1.0) @ "p"
    for i in range(len(FLIPS)):
        bernoulli(p) @ ("flip", i)


COIN_OBS = {("flip", i): f for i, f in enumerate(FLIPS)}
POST = stats.beta(1 + 7, 1 + 3)
LOG_ML = special.betaln(8, 4) - special.betaln(1, 1)


@gen
def normal_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 0.5) @ "y"


@gen
def wide_proposal():
    normal(0.5, 1.5) @ "x"


NN_MEAN, NN_SD = 0.8, np.sqrt(0.2)  # x | y=1: precision 1 + 4, mean 4 * 1 / 5
NN_LOG_ML = stats.norm(0, np.sqrt(1.25)).logpdf(1.0)


def _check(values, log_w, log_ml, mean, sd, exact_log_ml):
    w = np.exp(np.asarray(log_w, np.float64))
    ess = 1.0 / np.sum(w ** 2)
    n = len(w)
    assert_mean_close(np.sum(w * values)[None], mean, sd, n_eff=ess, false_fail_rate=A)
    tol = z_value(A) * np.sqrt((n / ess - 1) / n)
    assert abs(float(log_ml) - exact_log_ml) < tol


def test_beta_bernoulli_batched():
    traces, log_w, log_ml = gentf.importance_sampling(coin, (), COIN_OBS, 1000, seed=1)
    assert traces["p"].shape == (1000,)  # particles are a batch axis of one trace
    _check(np.asarray(traces["p"]), log_w, log_ml, POST.mean(), POST.std(), LOG_ML)


def test_normal_normal_custom_proposal():
    traces, log_w, log_ml = gentf.importance_sampling(normal_normal, (), {"y": 1.0}, 4000,
                                                      proposal=wide_proposal, seed=2)
    _check(np.asarray(traces["x"]), log_w, log_ml, NN_MEAN, NN_SD, NN_LOG_ML)


def test_importance_resampling_draws_from_posterior():
    # 200 independent SIR draws (each from 500 particles): the mean of the draws has sd
    # ~ NN_SD / sqrt(200) plus the SIR bias O(1/500), negligible here.
    xs = [float(gentf.importance_resampling(normal_normal, (), {"y": 1.0}, 500, seed=s)[0]["x"])
          for s in range(200)]
    assert_mean_close(np.array(xs), NN_MEAN, NN_SD, false_fail_rate=A)


@gen
def dynamic(n):
    k = int(gentf.uniform_discrete(1, 2) @ "k")  # the structure depends on a random value
    for i in range(k):
        normal(0.0, 1.0) @ ("x", i)
    normal(0.0, 1.0) @ "y"


def test_dynamic_model_runs_one_batched_program_per_path():
    traces, log_w, log_ml = gentf.importance_sampling(dynamic, (0,), {"y": 0.3}, 20, seed=3)
    assert isinstance(traces, gentf.inference.paths.PathTraces) and len(traces) == 20
    assert sorted(g.path[("k",)] for g in traces.groups) == [1, 2]  # k is a path address
    assert all(len(list(traces[i].get_choices().get_submap("x").items())) == int(traces[i]["k"]) for i in range(20))
    np.testing.assert_allclose(float(log_ml), stats.norm.logpdf(0.3), rtol=1e-5)


MEANS = [-1.0, 0.5, 2.0]


@gen
def mixture():
    z = gentf.categorical(tf.constant([0.2, 0.5, 0.3])) @ "z"
    normal(tf.gather(tf.constant(MEANS), z), 1.0) @ "y"
    u = gentf.uniform(0.0, 1.0) @ "u"
    bernoulli(u) @ "flip"


def _while_ops(fn):
    """The loop ops in every graph of a compiled function (its own and its library's)."""
    found = []
    for cf in fn._list_all_concrete_functions():
        graph_def = cf.graph.as_graph_def()
        found += [n.op for n in graph_def.node if "While" in n.op]
        found += [n.op for f in graph_def.library.function for n in f.node_def if "While" in n.op]
    return found


def test_noise_based_choices_are_batched_without_a_particle_loop():
    # Posterior: P(z = k | y) ∝ prior_k N(y; mean_k, 1); u | flip = true ~ Beta(2, 1), mean 2/3.
    traces, log_w, log_ml = gentf.importance_sampling(mixture, (), {"y": 1.2, "flip": True}, 20_000, seed=4)
    w = np.exp(np.asarray(log_w, np.float64))
    ess = 1.0 / np.sum(w ** 2)
    lik = stats.norm(MEANS, 1.0).pdf(1.2) * np.array([0.2, 0.5, 0.3])
    for k in range(3):
        p = lik[k] / lik.sum()
        assert_mean_close(np.sum(w * (np.asarray(traces["z"]) == k))[None], p, np.sqrt(p * (1 - p)),
                          n_eff=ess, false_fail_rate=A, what=f"P(z={k})")
    assert_mean_close(np.sum(w * np.asarray(traces["u"]))[None], 2 / 3, np.sqrt(1 / 18), n_eff=ess,
                      false_fail_rate=A, what="E[u]")
    np.testing.assert_allclose(float(log_ml), np.log(lik.sum() / 2), atol=z_value(A) * np.sqrt(
        (len(w) / ess - 1) / len(w)))
    compiled = [f for f in gentf.core.compile._owners[mixture].programs.values() if hasattr(f, "_list_all_concrete_functions")]
    assert compiled and all(not _while_ops(f) for f in compiled)


@gen
def line(xs):
    slope = normal(0.0, 1.0) @ "slope"
    normal(slope * xs, 0.5) @ "ys"


@pytest.mark.parametrize("jit_compile", [True, False])
def test_batched_trace_stores_arguments_and_observations_once(jit_compile):
    xs = tf.constant([0.0, 1.0, 2.0])
    ys = tf.constant([0.1, 0.9, 2.2])
    traces, _, _ = gentf.importance_sampling(line, (xs,), {"ys": ys}, 64, seed=5, jit_compile=jit_compile)
    assert traces["slope"].shape == (64,) and traces.score.shape == (64,)
    np.testing.assert_array_equal(traces.args[0].numpy(), xs.numpy())  # not copied 64 times
    np.testing.assert_array_equal(traces["ys"].numpy(), ys.numpy())
    for i in (0, 17, 63):  # particle i is the trace generate gives for its choices
        one = gentf.particle(traces, i)
        exact = gentf.generate(line, (xs,), {"ys": ys, "slope": traces["slope"][i]})[0]
        np.testing.assert_allclose(float(one.score), float(exact.score), rtol=1e-5)
        np.testing.assert_array_equal(one["ys"].numpy(), ys.numpy())
        assert float(one["slope"]) == float(traces["slope"][i])
    some = gentf.particle(traces, tf.constant([3, 5]))  # a batch of two: still shares ys
    assert some["slope"].shape == (2,) and some["ys"].shape == (3,) and some.shared == traces.shared


def test_gen_jl_positional_call_forms():
    """Gen.jl's orders ``(model, args, obs, proposal, proposal_args, n)`` and ``(model, args,
    obs, n)`` are the keyword form's calls (same seed, same numbers)."""
    by_keyword = gentf.importance_sampling(normal_normal, (), {"y": 1.0}, num_samples=300,
                                           proposal=wide_proposal, proposal_args=(), seed=7)
    positional = gentf.importance_sampling(normal_normal, (), {"y": 1.0}, wide_proposal, (), 300, seed=7)
    np.testing.assert_array_equal(positional[0]["x"], by_keyword[0]["x"])
    np.testing.assert_array_equal(positional[1], by_keyword[1])
    _check(np.asarray(positional[0]["x"]), positional[1], positional[2], NN_MEAN, NN_SD, NN_LOG_ML)
    internal = gentf.importance_sampling(normal_normal, (), {"y": 1.0}, 300, seed=7)
    np.testing.assert_array_equal(internal[1], gentf.importance_sampling(
        normal_normal, (), {"y": 1.0}, num_samples=300, seed=7)[1])
    trace, log_ml = gentf.importance_resampling(normal_normal, (), {"y": 1.0}, wide_proposal, (), 300, seed=7)
    again, log_ml_kw = gentf.importance_resampling(normal_normal, (), {"y": 1.0}, num_samples=300,
                                                   proposal=wide_proposal, seed=7)
    assert float(trace["x"]) == float(again["x"]) and float(log_ml) == float(log_ml_kw)


def test_call_form_errors_are_named():
    with pytest.raises(gentf.ArgumentError, match="num_samples"):
        gentf.importance_sampling(normal_normal, (), {"y": 1.0}, wide_proposal, ())
    with pytest.raises(gentf.ArgumentError, match="twice"):
        gentf.importance_sampling(normal_normal, (), {"y": 1.0}, 10, num_samples=10)
    for call in (gentf.importance_sampling, gentf.importance_resampling):
        for n in (0, -3):
            with pytest.raises(gentf.ArgumentError, match=f"{call.__name__}: num_samples must be at least 1, got {n}"):
                call(normal_normal, (), {"y": 1.0}, n, seed=0)
        with pytest.raises(gentf.ArgumentError, match="num_samples must be at least 1, got 0"):
            call(normal_normal, (), {"y": 1.0}, wide_proposal, (), 0, seed=0)
