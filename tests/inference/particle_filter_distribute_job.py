"""A subprocess of ``test_particle_filter_distribute.py``: runs the same particle filters on one
device and under ``MirroredStrategy`` over 2 logical CPU devices, and prints the results as one
JSON line (logical devices must be configured before TensorFlow initialises, hence a process).

The filter: ``test_particle_filter``'s linear-Gaussian state-space model and its ``T = 8``
observations, ``N = 64`` particles, ``maybe_resample`` before every step (its gather runs in the
step's program) except at ``t = 4``, where a forced resampling is followed by an ``mh``
rejuvenation of ``x_3`` (the gather runs in the rejuvenation's program); seeds 0..7. And the
same model's first 3 observations filtered with ``test_particle_filter``'s locally optimal
proposals (initial and step). And ``test_particle_filter``'s ``Unfold`` filter (4 steps, 64
particles) wrapped whole in one ``tf.function`` (resampling decided in the graph).
"""
import json
import os
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: jobs
import jobs  # noqa: E402

STRATEGY = jobs.strategy("mirrored")

import gentf  # noqa: E402  (after the devices are configured)
from gentf import select  # noqa: E402
from gentf.inference import particle_filter as pf  # noqa: E402
from gentf.inference.mh import mh  # noqa: E402
from test_particle_filter import (YS, T, init_proposal, kalman, run_unfold, ssm, ssm_chain,  # noqa: E402
                                  step_proposal)

N, SEEDS, REJUVENATE_AT = 64, range(8), 4


def kernel(trace, seed):
    return mh(trace, select(("x", trace.args[0] - 1)), seed=seed)


def run(seed, n=N):
    state = pf.initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, n, seed=seed)
    resampled = 0
    for t in range(1, T):
        if t == REJUVENATE_AT:
            resampled += bool(pf.maybe_resample(state, ess_threshold=n + 1, seed=(seed, 2 * t)))
            before = pf.get_traces(state)[("x", t - 1)].numpy()[state.parents.numpy()]
            pf.rejuvenate(state, kernel, seed=(seed, 1000 + t))
            moved = int((pf.get_traces(state)[("x", t - 1)].numpy() != before).sum())
        else:
            resampled += bool(pf.maybe_resample(state, seed=(seed, 2 * t)))
        pf.particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): YS[t]}, seed=(seed, 2 * t + 1))
    traces = pf.get_traces(state)
    return {"x": [traces[("x", t)].numpy().tolist() for t in range(T)],
            "log_w": pf.get_log_weights(state).numpy().tolist(), "log_ml": float(pf.log_ml_estimate(state)),
            "parents": state.parents.numpy().tolist(), "resampled": resampled, "moved": moved}


def run_proposal(seed, steps=3):
    state = pf.initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, N, proposal=init_proposal,
                                          proposal_args=(YS[0],), seed=seed)
    for t in range(1, steps):
        pf.maybe_resample(state, seed=(seed, 2 * t))
        pf.particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): YS[t]},
                                proposal=step_proposal, proposal_args=(t, YS[t]), seed=(seed, 2 * t + 1))
    return {"x": [pf.get_traces(state)[("x", t)].numpy().tolist() for t in range(steps)],
            "log_w": pf.get_log_weights(state).numpy().tolist(), "log_ml": float(pf.log_ml_estimate(state))}


def unfold_filter(seed):
    state = run_unfold(ssm_chain, N, seed, steps=4)
    return pf.get_traces(state)[(3, "x")], pf.get_log_weights(state), pf.log_ml_estimate(state), state.parents


def as_lists(tensors):
    return [x.numpy().tolist() for x in tensors]


shards = []  # (operation, replica, lo, hi) of every shard the filter's programs ran
gather_shards = pf.gather_shards


def spy(strategy, fn, total, where):
    def shard(lo, hi):
        shards.append((where, gentf.core.distribute.replica_id(where), lo, hi))
        return fn(lo, hi)
    return gather_shards(strategy, shard, total, where)


pf.gather_shards = spy


def error(call):
    try:
        call()
    except gentf.ArgumentError as e:
        return str(e)


results = {"single": [run(s) for s in SEEDS], "single_proposal": [run_proposal(s) for s in SEEDS],
           "single_loop": as_lists(unfold_filter(tf.constant(5)))}
with STRATEGY.scope():
    results["distributed"] = [run(s) for s in SEEDS]
    results["distributed_proposal"] = [run_proposal(s) for s in SEEDS]
    results["distributed_loop"] = as_lists(tf.function(unfold_filter, autograph=False)(tf.constant(5)))
    results["uneven_init"] = error(lambda: run(0, n=15))
state = pf.initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, 15, seed=0)  # one device: any N
with STRATEGY.scope():
    results["uneven_step"] = error(lambda: pf.particle_filter_step(state, (2,), (gentf.UnknownChange,),
                                                                   {("y", 1): YS[1]}, seed=1))
results["shards"] = sorted(set(shards))
results["kalman"] = kalman(YS)[0]
results["replicas"] = STRATEGY.num_replicas_in_sync
print("RESULT " + json.dumps(results), flush=True)
