"""The particle filter under ``tf.distribute`` (issue 10): particles sharded among the replicas
of a ``MirroredStrategy`` over 2 logical CPU devices give exactly the single-device filter.

``particle_filter_distribute_job.py`` (a fresh process: logical devices must be configured
before TensorFlow initialises) runs ``test_particle_filter``'s linear-Gaussian state-space model
over its 8 observations with 64 particles, ``maybe_resample`` (ESS below N/2) before every step
and, midway, a forced resampling followed by an ``mh`` rejuvenation, for 8 seeds, once on one
device and once inside ``strategy.scope()``; and the first 3 observations with the locally
optimal proposals of ``test_particle_filter`` (initial and step proposals); and its ``Unfold``
filter (4 steps) per call on one device and wrapped whole in one ``tf.function`` under the
strategy. Initialize, step and
rejuvenate run particles 0..31 on replica 0 and 32..63 on replica 1 with the single-device
per-particle seeds, on the globally resampled population; weights, resampling and the log-ML use
all 64 weights. So every particle, log
weight, ancestor index and log-ML must be bitwise equal to the single-device ones, and the
log-ML estimates pass ``test_particle_filter``'s Student-t test against the Kalman filter.
"""
import os

import numpy as np
import pytest

import jobs
from test_particle_filter import FALSE_FAIL, assert_log_ml

JOB = os.path.join(os.path.dirname(__file__), "particle_filter_distribute_job.py")


@pytest.fixture(scope="module")
def result():
    return jobs.run(JOB, timeout=900)[0]


def test_sharded_filter_equals_single_device_bitwise(result):
    assert result["replicas"] == 2
    for single, dist in zip(result["single"], result["distributed"], strict=True):
        assert dist == single  # particles x_0..x_9, log weights, parents, log-ML, resampling count
    assert all(run["resampled"] >= 2 for run in result["single"])  # resampling (global) happened
    assert all(run["moved"] > 0 for run in result["single"])  # rejuvenation accepted moves
    # rejuvenation and resampling: particles are distinct and share ancestors
    last = result["single"][0]
    assert len(set(last["x"][-1])) > 32 and len(set(last["parents"])) < 64


def test_sharded_filter_with_proposals_equals_single_device_bitwise(result):
    for single, dist in zip(result["single_proposal"], result["distributed_proposal"], strict=True):
        assert dist == single
    assert np.std(result["single_proposal"][0]["x"][2]) > 0.1  # 64 distinct proposed states


def test_filter_compiled_as_one_loop_under_the_strategy_equals_single_device_per_call(result):
    x, log_w, log_ml, parents = result["distributed_loop"]
    assert [x, log_w, log_ml, parents] == result["single_loop"]
    assert max(parents) > 0 and len(set(x)) > 1  # it resampled (in the graph)


def test_every_operation_ran_one_half_on_each_replica(result):
    shards = {tuple(s) for s in result["shards"]}
    for where in ("initialize_particle_filter", "particle_filter_step", "rejuvenate"):
        assert {s for s in shards if s[0] == where} == {(where, 0, 0, 32), (where, 1, 32, 64)}


def test_sharded_log_ml_matches_kalman(result):
    assert_log_ml([run["log_ml"] for run in result["distributed"]], result["kalman"], FALSE_FAIL)
    assert np.std([run["log_ml"] for run in result["distributed"]]) > 0  # 8 different seeds


def test_uneven_particle_count_is_a_named_error(result):
    assert result["uneven_init"].startswith(
        "initialize_particle_filter: 15 particles do not split evenly among the 2 replicas")
    assert result["uneven_step"].startswith(
        "particle_filter_step: 15 particles do not split evenly among the 2 replicas")
