"""Line searches and proposals reject trial points outside the support instead of raising:
``map_optimize`` backtracks (Gen.jl), ``hmc``/``mala`` reject, ``elliptical_slice`` shrinks its
bracket, even when the bad point makes a downstream distribution argument invalid; the GFI
outside these algorithms still raises ``DomainError``."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gamma, gen, mvnormal, normal, select


@gen
def noisy():
    noise = gamma(1.0, 1.0) @ "noise"
    normal(0.0, noise) @ "y"


@gen
def scale_from_normal():
    s = normal(1.0, 0.3) @ "s"  # unbounded: samplers move it on its own scale
    normal(0.0, s) @ "y"


@pytest.mark.parametrize("compile", [False, True])
def test_map_optimize_backtracks_out_of_the_support(compile):
    """At noise = 5, y = 0: d/dnoise log p = -1 - 1/noise = -1.2. Steps 10 and 5 give noise < 0
    (score -inf: the normal's scale is invalid), 2.5 gives noise = 2 with a higher score."""
    trace, _ = gentf.generate(noisy, (), {"noise": 5.0, "y": 0.0})
    new = gentf.map_optimize(trace, select("noise"), max_step_size=10.0, tau=0.5, compile=compile)
    np.testing.assert_allclose(new["noise"], 5.0 - 2.5 * 1.2, rtol=1e-6)
    np.testing.assert_allclose(new.score, -2.0 - np.log(2.0) - 0.5 * np.log(2 * np.pi), rtol=1e-6)


def test_the_gfi_still_raises_outside_the_algorithms():
    trace, _ = gentf.generate(noisy, (), {"noise": 5.0, "y": 0.0})
    with pytest.raises(gentf.DomainError, match="normal at address 'y': std must be positive"):
        gentf.update(trace, constraints={"noise": -1.0})


def test_hmc_and_mala_reject_invalid_trial_points_eagerly():
    trace, _ = gentf.generate(scale_from_normal, (), {"s": 0.2, "y": 0.1})
    rejected = 0
    for seed in range(20):  # eps = 1 moves s by ~1: often below 0
        for new, accepted in (gentf.hmc(trace, select("s"), L=3, eps=1.0, seed=seed),
                              gentf.mala(trace, select("s"), tau=0.5, seed=seed)):
            assert float(new["s"]) > 0 and np.isfinite(new.score)
            rejected += not bool(accepted)
    assert rejected > 0


@pytest.mark.parametrize("jit_compile", [True, False])
def test_compiled_chains_reject_invalid_trial_points(jit_compile):
    trace, _ = gentf.generate(scale_from_normal, (), {"s": 0.2, "y": 0.1})
    for kernel in (lambda t, s: gentf.hmc(t, select("s"), L=3, eps=1.0, seed=s),
                   lambda t, s: gentf.mala(t, select("s"), tau=0.5, seed=s)):
        last, samples, accepted = gentf.run_chain(kernel, trace, 30, seed=1, jit_compile=jit_compile,
                                                  progress=False)
        assert np.all(np.asarray(samples["s"]) > 0) and not np.all(accepted)


@gen
def ellipse_scale():
    x = mvnormal(tf.zeros(1), tf.eye(1)) @ "x"
    normal(0.0, x[0]) @ "y"  # invalid on half of every ellipse


def test_elliptical_slice_shrinks_past_invalid_points():
    trace, _ = gentf.generate(ellipse_scale, (), {"x": tf.constant([0.8]), "y": 0.3})
    for seed in range(10):
        trace = gentf.elliptical_slice(trace, "x", tf.zeros(1), tf.eye(1), seed=seed)
        assert float(trace["x"][0]) > 0 and np.isfinite(trace.score)
