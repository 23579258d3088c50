"""Simulation-based calibration (Talts et al. 2018) of MH, HMC and NUTS.

Model: x ~ N(0, 1); y_j ~ N(x, 0.5), j = 1..3 (one vector choice). For each of R replications,
(x*, y) ~ p (``simulate``); a chain targeting p(x | y) yields L thinned draws; the rank of x*
among them, ``#{draws < x*}`` in ``0..L``, is uniform when the sampler is exact and the draws are
independent. Each chain starts at x* itself (a draw from p(x | y), so the chain is stationary
from the first step) and discards a burn-in of ``THIN`` steps before every kept draw is ``THIN``
steps apart, which makes the draws nearly independent of x* and of each other (lag-THIN
autocorrelations are small for these kernels). Ranks are tested with a chi-square test over
``BINS`` equal bins (L + 1 divisible by BINS): false-fail rate a = 1e-3 per sampler.

All R replications of a sampler run in ONE compiled graph: ``tf.map_fn`` over per-replication
seeds of (simulate, run the chain), the chain itself being run_chain's compiled while loop.
"""
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core.seeds import split_seed
from gentf.testing import assert_uniform_ranks

A = 1e-3
R, L, BINS = 200, 49, 10  # ranks take L + 1 = 50 values: 5 per bin
SEL = select("x")


@gen
def model():
    x = normal(tf.constant(0.0, tf.float64), 1.0) @ "x"
    normal(x * tf.ones(3, tf.float64), 0.5) @ "y"


def _ranks(draws_fn, seed, num_replications=R):
    """Ranks of x* among the draws, for ``num_replications`` replications in one graph."""
    @tf.function(autograph=False)
    def run(seeds):
        def one(seed):
            s_sim, s_chain = tf.unstack(split_seed(seed, 2))
            trace = gentf.simulate(model, (), seed=s_sim)
            draws = draws_fn(trace, s_chain)
            return tf.reduce_sum(tf.cast(draws < trace["x"], tf.int32))
        return tf.map_fn(one, seeds, fn_output_signature=tf.int32)

    ranks = run(split_seed(tf.constant([seed, 0], tf.int64), num_replications)).numpy()
    assert ranks.min() >= 0 and ranks.max() <= L
    return ranks


def _chain_draws(kernel, thin):
    def draws(trace, seed):
        _, samples, _ = gentf.run_chain(kernel, trace, thin * (L + 1), seed=seed)
        return tf.reshape(samples["x"], [-1])[2 * thin - 1::thin]  # burn-in thin, then every thin-th
    return draws


@pytest.mark.slow
def test_sbc_mh_selection():
    # prior proposal: acceptance ~ posterior sd / prior sd ~ 0.28, so thin by 10
    kernel = lambda t, s: gentf.mh(t, SEL, seed=s)
    assert_uniform_ranks(_ranks(_chain_draws(kernel, 10), 1), L + 1, BINS, A, "SBC ranks (mh)")


@pytest.mark.slow
def test_sbc_hmc():
    # posterior sd ~ 0.28 (precision 1 + 3 / 0.25 = 13): trajectory 4 x 0.15 = 0.6 ~ a third of a period
    kernel = lambda t, s: gentf.hmc(t, SEL, L=4, eps=0.15, seed=s)
    assert_uniform_ranks(_ranks(_chain_draws(kernel, 3), 2), L + 1, BINS, A, "SBC ranks (hmc)")


@pytest.mark.slow
def test_sbc_nuts():
    def draws(trace, seed):
        _, samples, _ = gentf.nuts(trace, SEL, num_samples=2 * (L + 1), num_warmup=50, step_size=0.2, seed=seed)
        return tf.reshape(samples["x"], [-1])[3::2]  # L = 49 draws, 2 apart
    assert_uniform_ranks(_ranks(draws, 3), L + 1, BINS, A, "SBC ranks (nuts)")
