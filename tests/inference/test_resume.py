"""Checkpoints, summaries and progress of the inference loops (issue 10): ``run_chain`` in
segments equals one call bit for bit, an interrupted chain resumes bit for bit, a particle
filter saves and restores through ``tf.train.Checkpoint``, bad checkpoints raise
``CheckpointError`` and overwrite nothing, TensorBoard events are read back."""
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core.seeds import as_seed, split_seed
from gentf.inference import chain
from gentf.inference.particle_filter import (initialize_particle_filter, log_ml_estimate, maybe_resample,
                                             particle_filter_step)
from gentf.inference.resume import ParticleFilterCheckpoint
from gentf.learning.checkpoint import CheckpointError


@gen
def model():
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(3):
        normal(mu, 1.0) @ ("y", i)


def start():
    return gentf.generate(model, (), {("y", i): 0.5 * i for i in range(3)}, seed=0)[0]


def kernel(trace, seed):
    return gentf.mh(trace, select("mu"), seed=seed)


def same(a, b):
    """Two ``run_chain`` results are equal bit for bit (last trace, samples, acceptances)."""
    return (np.array_equal(a[1]["mu"], b[1]["mu"]) and np.array_equal(a[2], b[2])
            and a[0]["mu"].numpy() == b[0]["mu"].numpy() and a[1]["mu"].shape == b[1]["mu"].shape)


def test_step_seeds_are_a_function_of_seed_and_step():
    long = split_seed(as_seed(5), 1000).numpy()
    for n in (1, 7, 64, 999):
        assert np.array_equal(split_seed(as_seed(5), n).numpy(), long[:n])


@pytest.mark.parametrize("compile", [True, False])
def test_segmented_chain_equals_one_call(tmp_path, compile):
    whole = gentf.run_chain(kernel, start(), 20, seed=3, compile=compile, progress=False)
    segmented = gentf.run_chain(kernel, start(), 20, seed=3, compile=compile, progress=False,
                                checkpoint=str(tmp_path / "c"), checkpoint_every=7,
                                summary=str(tmp_path / "logs"), summary_every=3)
    assert same(whole, segmented)
    assert 0 < np.mean(whole[2]) < 1  # the flags are informative
    # checkpoint_secs=60 (the default): within a minute only the last step is saved
    assert sorted(f for f in os.listdir(tmp_path / "c") if f.endswith(".index")) == ["ckpt-20.index"]


def test_interrupted_chain_resumes_bit_for_bit(tmp_path, monkeypatch):
    gentf.seed(11)
    whole = gentf.run_chain(kernel, start(), 30, progress=False)  # unseeded: the base seed is saved
    gentf.seed(11)
    calls, real = [], chain._run

    def interrupted(kern, trace, seeds, *args):
        calls.append(len(seeds))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the third segment never finishes
        return real(kern, trace, seeds, *args)
    monkeypatch.setattr(chain, "_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gentf.run_chain(kernel, start(), 30, progress=False, checkpoint=str(tmp_path), checkpoint_every=8,
                        checkpoint_secs=0)
    monkeypatch.setattr(chain, "_run", real)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-16")
    gentf.seed(99)  # everything comes from the checkpoint
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=None)
    resumed = gentf.run_chain(kernel, start(), 30, progress=False, checkpoint=manager, checkpoint_every=8)
    assert same(whole, resumed)
    again = gentf.run_chain(kernel, start(), 30, progress=False, checkpoint=str(tmp_path))  # nothing left
    assert same(whole, again)


def test_bad_chain_checkpoints_raise_and_overwrite_nothing(tmp_path):
    gentf.run_chain(kernel, start(), 10, seed=3, progress=False, checkpoint=str(tmp_path), checkpoint_every=5)
    before = {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)}

    @gen
    def other():
        normal(0.0, 1.0) @ "mu"
        normal(0.0, 1.0) @ "nu"
    other_trace = gentf.simulate(other, (), seed=1)
    with pytest.raises(CheckpointError):
        gentf.run_chain(kernel, other_trace, 20, seed=3, progress=False, checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError, match="seed"):
        gentf.run_chain(kernel, start(), 20, seed=4, progress=False, checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError, match="past num_steps"):
        gentf.run_chain(kernel, start(), 5, seed=3, progress=False, checkpoint=str(tmp_path))
    assert {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)} == before
    data = [f for f in os.listdir(tmp_path) if f.startswith("ckpt-10.data")][0]
    with open(tmp_path / data, "r+b") as fh:
        fh.truncate(8)
    with pytest.raises(CheckpointError):
        gentf.run_chain(kernel, start(), 20, seed=3, progress=False, checkpoint=str(tmp_path))


class StepKernel:
    """A kernel object exposing its step size (written to TensorBoard as ``step_size``)."""
    step_size = 0.25

    def __call__(self, trace, seed):
        return gentf.mala(trace, select("mu"), self.step_size, seed=seed)


def test_chain_summaries_are_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    trace, _, accepted = gentf.run_chain(StepKernel(), start(), 12, seed=2, progress=False,
                                         summary=str(tmp_path), summary_every=5)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    value = lambda tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
    flags = accepted.numpy().astype(float)
    rates = value("acceptance_rate")
    assert [s for s, _ in rates] == [5, 10, 12]
    np.testing.assert_allclose([r for _, r in rates], [flags[:5].mean(), flags[5:10].mean(), flags[10:].mean()])
    assert value("step_size") == [(5, 0.25), (10, 0.25), (12, 0.25)]
    assert value("log_joint")[-1][1] == pytest.approx(float(trace.get_score()))
    assert acc.Tags()["graph"]  # the compiled segment's graph


def test_chain_progress_bar_shows_acceptance_and_can_be_silenced(capsys, tmp_path):
    gentf.run_chain(kernel, start(), 6, seed=1, summary=str(tmp_path), summary_every=3)
    assert "acceptance=" in capsys.readouterr().err
    gentf.run_chain(kernel, start(), 6, seed=1, summary=str(tmp_path), summary_every=3, progress=False)
    assert capsys.readouterr().err == ""


# --- particle filter ------------------------------------------------------------------------
YS = [0.3, -0.5, 1.2, 0.8, 0.1, -0.7]


@gen
def ssm(steps):
    x = normal(tf.constant(0.0, tf.float64), 1.0) @ ("x", 0)
    normal(x, 0.5) @ ("y", 0)
    for t in range(1, steps):
        x = normal(0.9 * x, 1.0) @ ("x", t)
        normal(x, 0.5) @ ("y", t)


def advance(state, t):
    maybe_resample(state, seed=(7, 2 * t))
    particle_filter_step(state, (t + 1,), (gentf.UnknownChange,), {("y", t): YS[t]}, seed=(7, 2 * t + 1))


def fresh(n=16):
    return initialize_particle_filter(ssm, (1,), {("y", 0): YS[0]}, n, seed=7)


def test_particle_filter_state_resumes_bit_for_bit(tmp_path):
    whole = fresh()
    for t in range(1, len(YS)):
        advance(whole, t)
    state = fresh()
    view = ParticleFilterCheckpoint(state)
    for t in range(1, 4):
        advance(state, t)
        view.step.assign(t)
    path = tf.train.Checkpoint(filter=view).save(str(tmp_path / "pf"))
    resumed = fresh()  # a new process would build this the same way
    view = ParticleFilterCheckpoint(resumed)
    tf.train.Checkpoint(filter=view).restore(path).assert_consumed()
    assert int(view.step.numpy()) == 3
    for t in range(int(view.step.numpy()) + 1, len(YS)):
        advance(resumed, t)
    assert float(log_ml_estimate(resumed)) == float(log_ml_estimate(whole))
    assert np.array_equal(resumed.log_weights, whole.log_weights)
    assert np.array_equal(resumed.parents, whole.parents)
    for t in range(len(YS)):
        assert np.array_equal(resumed.traces[("x", t)], whole.traces[("x", t)])


def test_particle_filter_checkpoint_of_another_size_raises(tmp_path):
    state = fresh()
    advance(state, 1)
    path = tf.train.Checkpoint(filter=ParticleFilterCheckpoint(state)).save(str(tmp_path / "pf"))
    with pytest.raises(CheckpointError, match="particles"):
        tf.train.Checkpoint(filter=ParticleFilterCheckpoint(fresh(8))).restore(path)
