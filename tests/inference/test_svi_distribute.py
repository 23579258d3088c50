"""``SVI`` under ``tf.distribute`` (issue 10 item 6): data-parallel amortised VI equals the
one-device run.

Each check runs ``svi_distribute_job.py`` in fresh processes (logical devices and strategies must
be configured before TensorFlow initialises). Three models, each trained 20 steps (2 epochs of 10
minibatches of 8, ADAM): a linear-Gaussian VAE with float64 @gen params (ELBO, 2 particles,
pathwise gradients), a two-component mixture with a discrete latent (ELBO, 3 particles,
score-function gradients with leave-one-out baselines) and a small float32 VAE whose encoder and
decoder are Keras models (IWAE, 3 particles). The one-device run splits each minibatch into 2
microbatches (``num_microbatches=2``); under a 2-replica strategy the default splits it the same
way and runs one microbatch per replica, with the same seeds, and all-reduces the accumulated
gradients before the one update. Each replica's computation is the one-device microbatch's and
the sum of two values does not depend on its order, so the parameters and metrics must agree;
they are compared to 1e-10 (float64) and 1e-5 (float32), the issue's bounds (measured: equal bit
for bit).
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import ADAM, ArgumentError, ParamUpdate

import jobs
import svi_models

JOB = os.path.join(os.path.dirname(__file__), "svi_distribute_job.py")
F64 = tf.float64


def _check(result):
    assert result["replicas"] == 2 and result["microbatches"] == 2
    assert result["kinds"] == ["MirroredVariable", "SyncOnReadVariable"]
    single, dist = result["single"], result["distributed"]
    for name, atol in (("linear_gaussian", 1e-10), ("mixture", 1e-10), ("vae", 1e-5)):
        assert len(single[name]["history"]) == 2
        for d, s in zip(dist[name]["params"], single[name]["params"]):
            np.testing.assert_allclose(d, s, rtol=0, atol=atol)
        for d, s in zip(dist[name]["history"], single[name]["history"]):
            np.testing.assert_allclose([d[k] for k in s], list(s.values()), rtol=0, atol=atol)
    # training moved the parameters: w and the mixture's mu0 started at 0.5 and -1.0
    assert abs(single["linear_gaussian"]["params"][0] - 0.5) > 0.1
    assert abs(single["mixture"]["params"][0] + 1.0) > 0.1
    assert "num_microbatches must be a positive multiple of the 2 replicas" in result["errors"]["microbatches"]
    assert "leading sizes [7] does not split into 2 equal microbatches" in result["errors"]["uneven"]


def test_mirrored_strategy_on_two_logical_cpus_matches_single_device():
    _check(jobs.run(JOB, "mirrored")[0])


def test_multi_worker_mirrored_strategy_two_local_workers_matches_single_device():
    results = [r for r, _ in jobs.run_two_workers(JOB, "multiworker")]
    for r in results:
        _check(r)
    assert results[0]["distributed"] == results[1]["distributed"]  # the workers agree


# --- in this process: a one-device strategy --------------------------------------------------------
def _linear_gaussian():
    """A fresh ``svi_models.linear_gaussian`` and its ADAM update."""
    model, guide = svi_models.linear_gaussian()
    return model, guide, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model, guide)


def _data_fn(x):
    return (x,), (x,), {"x": x}


DATA = tf.data.Dataset.from_tensor_slices(tf.constant(np.random.default_rng(1).normal(1.0, 2.0, 32), F64)).batch(8)


def test_svi_refuses_parameters_made_outside_the_strategy_scope():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    model, guide, _ = _linear_gaussian()  # parameters made outside the scope
    with strategy.scope():
        update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model, guide)
        with pytest.raises(ArgumentError, match="SVI: the Variable 'w:0' was not created in the scope"):
            gentf.SVI(model, guide, update, _data_fn)


def test_a_one_replica_strategy_runs_the_one_device_program_and_resumes(tmp_path):
    """Built in a one-device ``MirroredStrategy``'s scope (mirrored parameters, sync-on-read
    accumulators) and run outside it (the strategy found from the parameters), SVI equals the
    run without a strategy bit for bit; so does a run checkpointed after one epoch and resumed,
    inside the scope, by new objects (saving every 3 steps)."""
    model, guide, update = _linear_gaussian()
    _, plain = gentf.svi(model, guide, DATA, update, _data_fn, num_particles=2, num_epochs=2, seed=3,
                         progress=False)
    want = [v.numpy() for v in update.variables]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model, guide, update = _linear_gaussian()
    assert type(update.accumulators[0]).__name__ == "SyncOnReadVariable"
    engine, history = gentf.svi(model, guide, DATA, update, _data_fn, num_particles=2, num_epochs=2, seed=3,
                                progress=False)
    assert engine._strategy is strategy and engine.num_microbatches == 1
    assert history == plain
    assert all(np.array_equal(v.numpy(), w) for v, w in zip(update.variables, want))
    run = dict(num_particles=2, seed=3, progress=False, checkpoint=str(tmp_path), checkpoint_steps=3)
    with strategy.scope():
        model, guide, update = _linear_gaussian()
        gentf.svi(model, guide, DATA, update, _data_fn, num_epochs=1, **run)
        model, guide, update = _linear_gaussian()
        ran = []
        _, resumed = gentf.svi(model, guide, DATA, update, _data_fn, num_epochs=2,
                               callback=lambda epoch, metrics: ran.append(epoch), **run)
    assert ran == [1] and resumed == plain  # epoch 0 restored, epoch 1 run
    assert all(np.array_equal(v.numpy(), w) for v, w in zip(update.variables, want))
