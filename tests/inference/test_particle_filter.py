"""Particle filter: log marginal likelihood against exact recursions (Kalman filter, HMM forward
algorithm), resampling and ESS bookkeeping, unweighted sampling, rejuvenation.

Log-ML tolerances. ``Z_hat`` is unbiased for ``Z``; for many particles ``log Z_hat`` is close to
normal with variance ``s^2`` and mean ``log Z - s^2 / 2`` (delta method). From ``R`` independent
runs (mean ``m``, sd ``s``) we test ``|m + s^2/2 - log Z| <= t_{1-a/2, R-1} * s / sqrt(R)``: a
Student-t interval, false-fail rate ``a`` under that normal approximation.
"""
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import categorical, gen, normal, select
from gentf.combinators import Unfold
from gentf.inference.mh import mh
from gentf.inference.particle_filter import (effective_sample_size, get_log_weights, get_traces,
                                             initialize_particle_filter, log_ml_estimate,
                                             maybe_resample, particle_filter_step, rejuvenate,
                                             sample_unweighted_traces)
from gentf.testing.stats import assert_prob_close

FALSE_FAIL = 1e-3

# --- linear-Gaussian state-space model ----------------------------------------------------
A, Q, R = 0.9, 1.0, 0.5
T = 8
YS = np.random.default_rng(0).normal(0.0, 1.5, size=T)


@gen
def ssm(steps):
    x = normal(tf.constant(0.0, tf.float64), 1.0) @ ("x", 0)
    normal(x, R) @ ("y", 0)
    for t in range(1, steps):
        x = normal(A * x, Q) @ ("x", t)
        normal(x, R) @ ("y", t)


def kalman(ys):
    """Exact ``log p(y_0..y_{T-1})`` and the filtered mean and variance of the last state."""
    m, p, ll = 0.0, 1.0, 0.0
    for t, y in enumerate(ys):
        if t > 0:
            m, p = A * m, A * A * p + Q * Q
        s = p + R * R
        ll += stats.norm.logpdf(y, m, math.sqrt(s))
        k = p / s
        m, p = m + k * (y - m), (1 - k) * p
    return ll, m, p


def run_ssm(num_particles, seed, rejuvenation=None):
    state = initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, num_particles, seed=seed)
    for t in range(1, T):
        maybe_resample(state, seed=(seed, 2 * t))
        particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): YS[t]}, seed=(seed, 2 * t + 1))
        if rejuvenation is not None:
            rejuvenate(state, rejuvenation, seed=(seed, 1000 + t))
    return state


def assert_log_ml(estimates, exact, false_fail_rate=FALSE_FAIL):
    est = np.asarray(estimates, np.float64)
    r, m, s = len(est), est.mean(), est.std(ddof=1)
    tol = stats.t.ppf(1 - false_fail_rate / 2, r - 1) * s / math.sqrt(r)
    assert abs(m + s * s / 2 - exact) <= tol, (m, s, exact, tol)


@pytest.mark.slow
def test_lgssm_log_ml_matches_kalman():
    exact = kalman(YS)[0]
    estimates = [float(log_ml_estimate(run_ssm(300, seed))) for seed in range(8)]
    assert_log_ml(estimates, exact)
    assert np.std(estimates) < 0.5  # the estimator is informative at this particle count


@gen
def ssm_kernel(t, x_prev):
    x = normal(A * x_prev, Q) @ "x"  # x_{-1} = 0 makes x_0 ~ N(0, Q = 1), as in ssm
    normal(x, R) @ "y"
    return x


ssm_chain = Unfold(ssm_kernel)


@pytest.mark.slow
def test_unfold_model_log_ml_matches_kalman():
    """The same model as an Unfold: each step extends the trace by one kernel call."""
    x0 = tf.constant(0.0, tf.float64)
    estimates = []
    for seed in range(8):
        state = initialize_particle_filter(ssm_chain, (1, x0), {(0, "y"): YS[0]}, 300, seed=seed)
        for t in range(1, T):
            maybe_resample(state, seed=(seed, 2 * t))
            particle_filter_step(state, (t + 1, x0), (gentf.UnknownChange, gentf.NoChange),
                                 {(t, "y"): YS[t]}, seed=(seed, 2 * t + 1))
        estimates.append(float(log_ml_estimate(state)))
    assert_log_ml(estimates, kalman(YS)[0])


@gen
def ssm_kernel_branching(t, x_prev):
    """``ssm_kernel`` with a Python branch on a value (always taken): the filter cannot be
    compiled, so its particles are a list and every operation runs eagerly."""
    x = normal(A * x_prev, Q) @ "x"
    if bool(tf.math.is_finite(x)):
        normal(x, R) @ "y"
    return x


def run_unfold(chain, num_particles, seed, steps=T):
    """Gen.jl's loop over an Unfold model; the seeds may be tensors (a filter compiled as a loop)."""
    x0 = tf.constant(0.0, tf.float64)
    state = initialize_particle_filter(chain, (1, x0), {(0, "y"): YS[0]}, num_particles, seed=seed)
    for t in range(1, steps):
        maybe_resample(state, seed=tf.stack([seed, 2 * t]))
        particle_filter_step(state, (t + 1, x0), (gentf.UnknownChange, gentf.NoChange),
                             {(t, "y"): YS[t]}, seed=tf.stack([seed, 2 * t + 1]))
    return state


@pytest.mark.slow
def test_unfold_log_ml_matches_kalman_batched_and_as_a_list():
    """The same filter, batched (one compiled program per step) and as a list of particles
    (eager); each passes the Student-t test of the module docstring at ``FALSE_FAIL``."""
    batched = [run_unfold(ssm_chain, 300, seed) for seed in range(8)]
    assert not isinstance(get_traces(batched[0]), list)
    assert_log_ml([float(log_ml_estimate(s)) for s in batched], kalman(YS)[0])
    listed = [run_unfold(Unfold(ssm_kernel_branching), 100, seed) for seed in range(8)]
    assert isinstance(get_traces(listed[0]), list) and len(get_traces(listed[0])) == 100
    assert_log_ml([float(log_ml_estimate(s)) for s in listed], kalman(YS)[0])


def test_same_draws_compiled_per_call_and_as_a_loop():
    """Gen.jl's loop (initialize, maybe_resample, step, rejuvenate with ``mh``) called step by
    step (one compiled program per step) or wrapped whole in a ``tf.function`` (maybe_resample
    decided in the graph): the same seed gives the same particles, weights and estimate."""
    kernel = lambda trace, seed: mh(trace, select((trace.args[0] - 1, "x")), seed=seed)  # noqa: E731

    def run(seed):
        state = run_unfold(ssm_chain, 64, seed, steps=4)
        rejuvenate(state, kernel, seed=tf.stack([seed, 99]))
        return log_ml_estimate(state), get_log_weights(state), get_traces(state)[(3, "x")], state.parents

    per_call = run(tf.constant(5))
    as_loop = tf.function(run, autograph=False)(tf.constant(5))
    for a, b in zip(per_call, as_loop):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(tf.reduce_max(per_call[3])) > 0  # it resampled (the ancestors are not all 0)


# the locally optimal proposal: x_t | x_{t-1}, y_t (and x_0 | y_0) in closed form
OPT_VAR = 1.0 / (1.0 / Q ** 2 + 1.0 / R ** 2)
INIT_VAR = 1.0 / (1.0 + 1.0 / R ** 2)


@gen
def init_proposal(y):
    normal(INIT_VAR * y / R ** 2, math.sqrt(INIT_VAR)) @ ("x", 0)


@gen
def step_proposal(trace, t, y):
    mean = OPT_VAR * (A * trace[("x", t - 1)] / Q ** 2 + y / R ** 2)
    normal(mean, math.sqrt(OPT_VAR)) @ ("x", t)


@pytest.mark.slow
def test_lgssm_custom_proposal_log_ml_matches_kalman():
    exact = kalman(YS)[0]
    estimates = []
    for seed in range(8):
        state = initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, 100, proposal=init_proposal,
                                           proposal_args=(YS[0],), seed=seed)
        if seed == 0:  # the optimal proposal makes every initial weight p(y_0) = N(y_0; 0, sqrt(1 + R^2))
            np.testing.assert_allclose(get_log_weights(state).numpy(),
                                       stats.norm.logpdf(YS[0], 0, math.sqrt(1 + R * R)), rtol=1e-10)
        for t in range(1, T):
            maybe_resample(state, seed=(seed, 2 * t))
            particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): YS[t]},
                                 proposal=step_proposal, proposal_args=(t, YS[t]), seed=(seed, 2 * t + 1))
        estimates.append(float(log_ml_estimate(state)))
    assert_log_ml(estimates, exact)


def test_batched_particles_and_weights():
    state = initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, 50, seed=3)
    traces = get_traces(state)
    assert traces[("x", 0)].shape == (50,)  # one trace, leading particle axis
    # with the prior as proposal the initial log weight is log p(y_0 | x_0)
    expected = stats.norm.logpdf(YS[0], traces[("x", 0)].numpy(), R)
    np.testing.assert_allclose(get_log_weights(state).numpy(), expected, rtol=1e-10)
    inc = particle_filter_step(state, (2,), (gentf.UnknownChange,), {("y", 1): YS[1]}, seed=4)
    expected = stats.norm.logpdf(YS[1], get_traces(state)[("x", 1)].numpy(), R)
    np.testing.assert_allclose(inc.numpy(), expected, rtol=1e-10)


def test_step_that_replaces_a_choice_is_an_error():
    state = initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, 10, seed=0)
    with pytest.raises(gentf.GentfError, match="updated or deleted"):
        particle_filter_step(state, (2,), (gentf.UnknownChange,), {("y", 0): 0.0, ("y", 1): YS[1]}, seed=1)


def test_rejuvenation_keeps_filtering_distribution():
    """MH on the last state (prior proposal) leaves p(x_{T-1} | y) invariant. Particles after a
    resampling share ancestors; we count ``n_eff = ESS / 4`` (conservative for the last state,
    which the final weights make nearly independent)."""
    kernel = lambda trace, seed: mh(trace, select(("x", trace.args[0] - 1)), seed=seed)  # noqa: E731
    state = run_ssm(400, seed=11, rejuvenation=kernel)
    _, mean, var = kalman(YS)
    w = tf.exp(get_log_weights(state) - tf.reduce_logsumexp(get_log_weights(state))).numpy()
    xs = get_traces(state)[("x", T - 1)].numpy()
    ess = float(effective_sample_size(tf.math.log(w)))
    tol = stats.norm.ppf(1 - FALSE_FAIL / 2) * math.sqrt(var / (ess / 4))
    assert abs(float(np.sum(w * xs)) - mean) <= tol


# --- discrete hidden Markov model ------------------------------------------------------------
INIT = np.array([0.6, 0.3, 0.1])
TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
EMIT = np.array([[0.7, 0.2, 0.1], [0.1, 0.7, 0.2], [0.2, 0.1, 0.7]])
OBS = np.array([0, 0, 1, 2, 2, 1, 0, 2])


@gen
def hmm(steps):
    z = categorical(tf.constant(INIT)) @ ("z", 0)
    categorical(tf.gather(tf.constant(EMIT), z)) @ ("y", 0)
    for t in range(1, steps):
        z = categorical(tf.gather(tf.constant(TRANS), z)) @ ("z", t)
        categorical(tf.gather(tf.constant(EMIT), z)) @ ("y", t)


def forward(obs):
    alpha = INIT * EMIT[:, obs[0]]
    for y in obs[1:]:
        alpha = (alpha @ TRANS) * EMIT[:, y]
    return math.log(alpha.sum())


@pytest.mark.slow
def test_hmm_log_ml_matches_forward_algorithm():
    exact = forward(OBS)
    estimates = []
    for seed in range(8):
        state = initialize_particle_filter(hmm, (1,), {("y", 0): OBS[0]}, 200, seed=seed)
        for t in range(1, len(OBS)):
            maybe_resample(state, seed=(seed, 2 * t))
            particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): OBS[t]},
                                 seed=(seed, 2 * t + 1))
        estimates.append(float(log_ml_estimate(state)))
    assert_log_ml(estimates, exact)


# --- resampling, ESS and unweighted sampling -----------------------------------------------------
@gen
def one_choice():
    normal(tf.constant(0.0, tf.float64), 1.0) @ "x"


def test_effective_sample_size():
    log_w = tf.math.log(tf.constant([0.5, 0.25, 0.25], tf.float64))
    assert float(effective_sample_size(log_w)) == pytest.approx(1 / (0.25 + 0.0625 + 0.0625))


def test_maybe_resample_threshold_and_log_ml_bookkeeping():
    state = initialize_particle_filter(one_choice, (), None, 4, seed=0)
    assert not maybe_resample(state, seed=1)  # equal weights: ESS = N >= N/2
    state.log_weights = tf.math.log(tf.constant([0.97, 0.01, 0.01, 0.01], tf.float64)) + 2.0
    before = float(log_ml_estimate(state))
    xs = get_traces(state)["x"].numpy()
    assert maybe_resample(state, seed=2)  # ESS = 1.06 < 2
    # the gather is deferred to the next step's program; reading the traces applies it
    np.testing.assert_array_equal(get_traces(state)["x"].numpy(), xs[state.parents.numpy()])
    np.testing.assert_array_equal(get_log_weights(state).numpy(), np.zeros(4))
    assert float(state.log_ml_est) == pytest.approx(before)  # log-mean weight moved into log_ml_est
    assert float(log_ml_estimate(state)) == pytest.approx(before)
    assert state.parents.shape == (4,)
    assert not maybe_resample(state, ess_threshold=1.0, seed=3)
    assert maybe_resample(state, ess_threshold=5.0, seed=4)


def test_sample_unweighted_traces_follows_weights():
    state = initialize_particle_filter(one_choice, (), None, 3, seed=0)
    probs = np.array([0.7, 0.2, 0.1])
    state.log_weights = tf.constant(np.log(probs) - 5.0)
    n = 20000
    samples = sample_unweighted_traces(state, n, seed=1)
    xs = get_traces(state)["x"].numpy()
    drawn = samples["x"].numpy()
    for i in range(3):
        assert_prob_close(int(np.sum(drawn == xs[i])), n, probs[i], false_fail_rate=FALSE_FAIL)


# --- a model whose structure depends on random values: particles as a list -----------------------
@gen
def switching(steps):
    for t in range(steps):
        if bool(gentf.bernoulli(0.5) @ ("b", t)):
            normal(tf.constant(0.0, tf.float64), 1.0) @ ("y", t)
        else:
            normal(tf.constant(2.0, tf.float64), 1.0) @ ("y", t)


def test_dynamic_model_runs_as_a_list_and_is_exact():
    """Independent steps: p(y_t) = 0.5 N(y_t; 0, 1) + 0.5 N(y_t; 2, 1). Without resampling the
    estimate is log mean(w) over the particles; its sd is about sd(w) / (mean(w) sqrt(N)) (delta
    method), and we assert within 5 of those (false-fail rate below 1e-6, normal approximation)."""
    ys = [0.3, 1.7]
    state = initialize_particle_filter(switching, (1,), {("y", 0): ys[0]}, 300, seed=0)
    particle_filter_step(state, (2,), (gentf.UnknownChange,), {("y", 1): ys[1]}, seed=1)
    assert isinstance(get_traces(state), list)
    exact = sum(math.log(0.5 * stats.norm.pdf(y, 0, 1) + 0.5 * stats.norm.pdf(y, 2, 1)) for y in ys)
    w = np.exp(get_log_weights(state).numpy())
    rel_sd = w.std() / w.mean() / math.sqrt(len(w))
    assert abs(float(log_ml_estimate(state)) - exact) <= 5 * rel_sd
