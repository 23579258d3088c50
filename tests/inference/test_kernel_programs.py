"""The per-call programs of ``hmc`` and ``elliptical_slice``: HMC's leapfrog steps are one while
loop (the program does not grow with ``L``) and follow the exact leapfrog dynamics; elliptical
slice's whitened prior ratio samples a correlated Gaussian posterior exactly.

Statistical assertions use the false-fail rate a = 1e-4 each: a chain's mean has standard error
sd / sqrt(ESS) (``gentf.ess``); a covariance entry S_ij estimated from ESS draws has standard
error sqrt((S_ii S_jj + S_ij^2) / ESS) (Gaussian fourth moments)."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core import compile as compiled
from gentf.core.seeds import as_seed, split_seed
from gentf.inference._compile import kernel_owner
from gentf.inference.gradient import UNROLL_MAX
from gentf.testing.stats import assert_mean_close, z_value

A = 1e-4
SD_Y = 0.5
Y2 = np.array([0.7, -0.4])


@gen
def gaussian2():
    x = normal(tf.zeros(2, tf.float64), 1.0) @ "x"
    normal(x, SD_Y) @ "y"


def _programs_ops(owner):
    state = compiled._owners.get(owner)
    return sorted(compiled.num_ops(p.graph) for k, p in state.programs.items() if k[0] == "concrete")


def test_hmc_program_does_not_grow_with_the_number_of_leapfrog_steps():
    # beyond UNROLL_MAX steps the leapfrog is a while loop whose body is traced once
    trace = gentf.generate(gaussian2, (), {"y": Y2}, seed=0)[0]
    for L in (UNROLL_MAX + 1, 3 * UNROLL_MAX):
        for s in range(2):  # the first call runs eagerly, the second compiles
            trace, _ = gentf.hmc(trace, select("x"), L=L, eps=0.1, seed=s)
    ops = _programs_ops(kernel_owner(gaussian2, "hmc"))
    assert len(ops) == 2 and ops[0] == ops[1], ops


def _leapfrog_reference(x, seed, L, eps):
    """HMC on log p(x) = -|x|^2 / 2 - |y - x|^2 / (2 s^2) + c with its closed-form gradient, with
    the kernel's momentum and acceptance draws (``split_seed`` of the call's seed)."""
    s_mom, s_acc = tf.unstack(split_seed(as_seed(seed), 2))
    m0 = tf.random.stateless_normal([2], s_mom, dtype=tf.float64).numpy()
    log_p = lambda x: -0.5 * x @ x - 0.5 * (Y2 - x) @ (Y2 - x) / SD_Y ** 2
    grad = lambda x: -x + (Y2 - x) / SD_Y ** 2
    z, m = x.copy(), m0.copy()
    for _ in range(L):
        m = m + eps / 2 * grad(z)
        z = z + eps * m
        m = m + eps / 2 * grad(z)
    alpha = log_p(z) - log_p(x) - 0.5 * m @ m + 0.5 * m0 @ m0
    log_u = np.log(tf.random.stateless_uniform([], s_acc, dtype=tf.float64).numpy())
    return (z, True) if log_u < alpha else (x, False)


@pytest.mark.parametrize("L", [7, UNROLL_MAX + 3])  # unrolled, while loop
def test_hmc_follows_the_exact_leapfrog_dynamics_eagerly_and_compiled(L):
    trace = gentf.generate(gaussian2, (), {"y": Y2}, seed=1)[0]
    accepts = []
    eps = 1.0 / L
    for seed in range(4):  # call 1 eager, calls 2-4 the compiled program
        x = np.asarray(trace["x"])
        trace, accepted = gentf.hmc(trace, select("x"), L=L, eps=eps, seed=seed)
        ref, ref_accepted = _leapfrog_reference(x, seed, L, eps)
        assert bool(accepted) == ref_accepted
        np.testing.assert_allclose(trace["x"], ref, rtol=1e-10, atol=1e-12)
        accepts.append(ref_accepted)
    assert any(accepts)


# Elliptical slice with a correlated, non-centred prior x ~ N(M0, C0) and y ~ N(B x, s^2 I):
# x | y ~ N(S (C0^-1 M0 + B'y / s^2), S), S = (C0^-1 + B'B / s^2)^-1.
M0 = np.array([0.5, -0.3])
C0 = np.array([[1.0, 0.8], [0.8, 1.5]])
B = np.array([[1.0, 0.0], [1.0, 1.0], [0.5, -1.0]])
S_ES = 0.8
Y3 = np.array([0.9, 0.2, 1.1])
POST_COV = np.linalg.inv(np.linalg.inv(C0) + B.T @ B / S_ES ** 2)
POST_MEAN = POST_COV @ (np.linalg.solve(C0, M0) + B.T @ Y3 / S_ES ** 2)


@gen
def correlated():
    x = gentf.mvnormal(tf.constant(M0), tf.constant(C0)) @ "x"
    normal(tf.linalg.matvec(tf.constant(B), x), S_ES) @ "y"


def test_elliptical_slice_samples_a_correlated_gaussian_posterior():
    trace = gentf.generate(correlated, (), {"y": Y3}, seed=0)[0]
    kernel = lambda t, s: gentf.elliptical_slice(t, "x", M0.tolist(), C0.tolist(), seed=s)
    _, samples, _ = gentf.run_chain(kernel, trace, 3000, seed=5)
    w = np.asarray(samples["x"])
    n_eff = min(float(tf.reduce_min(gentf.ess(w[None]))), len(w))
    assert n_eff > 200, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(w, POST_MEAN, np.sqrt(np.diag(POST_COV)), n_eff=n_eff, false_fail_rate=A)
    sd_cov = np.sqrt((np.outer(np.diag(POST_COV), np.diag(POST_COV)) + POST_COV ** 2) / n_eff)
    assert np.all(np.abs(np.cov(w.T) - POST_COV) <= z_value(A) * sd_cov)
