"""``train`` and ``importance_sampling`` under ``tf.distribute`` (issue 10): data-parallel
training and sharded particles equal their single-device runs.

Each check runs ``distribute_job.py`` in fresh processes (logical devices and strategies must be
configured before TensorFlow initialises). The models, each trained 20 steps (10 epochs of 2
minibatches of 4, ADAM): linear regression with float64 @gen params, and seed 000's softmax
regression as an eager-form TFFunction (float32) and as a graph-form one (float64). The
distributed run splits every minibatch between 2 replicas and all-reduces the gradients, so it must end at the single-device parameters
(float64: to rounding; float32: the summation order differs, within 1e-5). Importance sampling
with 16 particles (Bayesian linear regression) must give exactly the single-device particles,
log weights and log-ML.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import ArgumentError, FixedStepGradientDescent, ParamUpdate, choicemap, gen, normal, param, train

import jobs

JOB = os.path.join(os.path.dirname(__file__), "distribute_job.py")


def _check(result):
    assert result["replicas"] == 2
    assert result["kinds"] == ["MirroredVariable", "SyncOnReadVariable"]
    single, dist = result["single"], result["distributed"]
    np.testing.assert_allclose(dist["linear"]["w"], single["linear"]["w"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(dist["linear"]["b"], single["linear"]["b"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(dist["linear"]["scores"], single["linear"]["scores"], rtol=0, atol=1e-10)
    for d, s in zip(dist["softmax"]["params"], single["softmax"]["params"]):
        np.testing.assert_allclose(d, s, rtol=0, atol=1e-5)
    np.testing.assert_allclose(dist["softmax"]["scores"], single["softmax"]["scores"], rtol=0, atol=1e-5)
    for d, s in zip(dist["graph_softmax"]["params"], single["graph_softmax"]["params"]):
        np.testing.assert_allclose(d, s, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dist["graph_softmax"]["scores"], single["graph_softmax"]["scores"], rtol=0, atol=1e-10)
    # importance sampling, particles sharded 8 + 8: the same per-particle seeds give the same
    # particles, and the gathered weights are normalised once, globally
    assert dist["importance"] == single["importance"]
    assert np.std(single["importance"]["slope"]) > 0.5  # 16 distinct particles
    assert "importance_sampling: 15 particles do not split evenly among the 2 replicas" in result["uneven"]
    # training moved the parameters (the comparison is not between two untouched models)
    assert abs(single["linear"]["b"]) > 0.1


def test_mirrored_strategy_on_two_logical_cpus_matches_single_device():
    _check(jobs.run(JOB, "mirrored")[0])


def test_multi_worker_mirrored_strategy_two_local_workers_matches_single_device():
    results = [r for r, _ in jobs.run_two_workers(JOB, "multiworker")]
    for r in results:
        _check(r)
    assert results[0]["distributed"] == results[1]["distributed"]  # the workers agree


def _line(theta=0.5):
    @gen
    def model():
        normal(param("theta"), 1.0) @ "x"
    gentf.init_param(model, "theta", tf.constant(theta, tf.float64))
    return model


def test_train_refuses_parameters_made_outside_the_strategy_scope():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])  # one device: no process needed
    model = _line()  # parameter (and its accumulator) made outside the scope
    with strategy.scope():
        update = ParamUpdate(FixedStepGradientDescent(0.1), model)
        with pytest.raises(ArgumentError, match="train: the Variable 'theta:0' was not created in the scope"):
            train(model, lambda: ((), choicemap({"x": 1.0})), update, seed=0, progress=False)


def test_train_under_a_strategy_refuses_jit_compile_and_runs_without():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _line()
        update = ParamUpdate(FixedStepGradientDescent(0.1), model)
    data = lambda: ((), choicemap({"x": 1.0}))  # noqa: E731
    with pytest.raises(ArgumentError, match="jit_compile is not supported under a tf.distribute strategy"):
        train(model, data, update, seed=0, progress=False, jit_compile=True)
    train(model, data, update, num_epoch=2, seed=0, progress=False)  # the strategy found from the params
    assert float(gentf.get_param(model, "theta")) == pytest.approx(0.5 + 0.05 + 0.045, rel=1e-12)


def test_gradients_accumulated_outside_the_replicas_count_once():
    """A model built in the scope, ``accumulate_param_gradients`` called by hand outside
    ``strategy.run``: the tape sees the parameter's local copy, whose gradient goes to the
    accumulator's copy on the same device; the accumulator reads d/dtheta log p = x - theta."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _line(0.5)
    trace, _ = gentf.generate(model, (), choicemap({"x": 2.0}), seed=0)
    gentf.accumulate_param_gradients(trace)
    assert float(gentf.get_param_grad(model, "theta")) == pytest.approx(1.5, rel=1e-12)
    with strategy.scope():
        gentf.accumulate_param_gradients(trace, scale=2.0)
    assert float(gentf.get_param_grad(model, "theta")) == pytest.approx(4.5, rel=1e-12)
