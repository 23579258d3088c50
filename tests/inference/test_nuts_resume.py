"""``nuts`` with checkpoints and summaries (issue 10): the chain runs in segments continuing
from TFP's kernel results; an interrupted run resumes bit for bit, mismatched checkpoints raise
``CheckpointError`` and overwrite nothing, TensorBoard scalars are read back, and the segmented
chain still targets the posterior."""
import importlib
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import beta, bernoulli, gen, normal, select
from gentf.learning.checkpoint import CheckpointError
from gentf.testing.stats import assert_mean_close

nuts_module = importlib.import_module("gentf.inference.nuts")
A = 1e-4  # false-fail rate of the statistical check


@gen
def normal_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 0.5) @ "y"


NN_MEAN, NN_SD = 0.8, np.sqrt(0.2)  # x | y=1: precision 1 + 4 = 5, mean 4 * 1 / 5


def nn_trace():
    return gentf.generate(normal_normal, (), {"y": 1.0}, seed=0)[0]


def run(path, num_samples=40, **kwargs):
    kwargs.setdefault("seed", 3)
    return gentf.nuts(nn_trace(), select("x"), num_samples=num_samples, num_warmup=20, checkpoint=path,
                      checkpoint_every=10, progress=False, **kwargs)


def same(a, b):
    return (np.array_equal(a[1]["x"], b[1]["x"]) and np.array_equal(a[2], b[2])
            and a[0]["x"].numpy() == b[0]["x"].numpy() and a[1]["x"].shape == b[1]["x"].shape)


def files(path):
    return {f: open(os.path.join(path, f), "rb").read() for f in os.listdir(path)}


def test_interrupted_nuts_resumes_bit_for_bit(tmp_path, monkeypatch):
    whole = run(str(tmp_path / "whole"), checkpoint_secs=0)
    assert whole[1]["x"].shape == (40,) and 0 < np.mean(whole[2]) <= 1
    # interrupted by fewer samples (a segment boundary of the longer run), then resumed
    short = run(str(tmp_path / "short"), num_samples=20)
    assert np.array_equal(short[1]["x"], whole[1]["x"][:20])
    assert same(whole, run(str(tmp_path / "short"), num_samples=40))
    # interrupted by an exception in the third segment (inside warm-up: the adaptation state is restored)
    calls, real = [], nuts_module.run_compiled

    def interrupted(owner, key, *args):
        if key[0] == "nuts-segment":
            calls.append(key)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real(owner, key, *args)
    monkeypatch.setattr(nuts_module, "run_compiled", interrupted)
    gentf.seed(11)
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path / "cut"), seed=None, checkpoint_secs=0)
    monkeypatch.setattr(nuts_module, "run_compiled", real)
    assert tf.train.latest_checkpoint(str(tmp_path / "cut")).endswith("ckpt-20")  # end of warm-up
    gentf.seed(99)  # the base seed comes from the checkpoint
    resumed = run(str(tmp_path / "cut"), seed=None)
    gentf.seed(11)
    assert same(resumed, run(str(tmp_path / "uncut"), seed=None))


def test_bad_nuts_checkpoints_raise_and_overwrite_nothing(tmp_path):
    run(str(tmp_path), num_samples=20)
    before = files(tmp_path)
    with pytest.raises(CheckpointError, match="num_warmup"):
        gentf.nuts(nn_trace(), select("x"), num_samples=40, num_warmup=10, seed=3, checkpoint=str(tmp_path),
                   checkpoint_every=10, progress=False)
    with pytest.raises(CheckpointError, match="seed"):
        run(str(tmp_path), seed=4)
    with pytest.raises(CheckpointError, match="past"):
        run(str(tmp_path), num_samples=10)
    assert files(tmp_path) == before


def test_nuts_summaries_are_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    trace, _, accepted = gentf.nuts(nn_trace(), select("x"), num_samples=40, num_warmup=20, seed=2,
                                    summary=str(tmp_path), summary_every=10, progress=False)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    value = lambda tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
    steps = [10, 20, 30, 40, 50, 60]
    rates = value("acceptance_rate")
    assert [s for s, _ in rates] == steps
    flags = accepted.numpy().astype(float)
    np.testing.assert_allclose([r for _, r in rates[2:]], flags.reshape(4, 10).mean(1), rtol=1e-6)
    sizes = value("step_size")
    assert [s for s, _ in sizes] == steps and all(v > 0 for _, v in sizes)
    assert len({v for _, v in sizes[2:]}) == 1  # adaptation ends with the warm-up
    assert value("log_joint")[-1][1] == pytest.approx(float(trace.get_score()))
    assert acc.Tags()["graph"]


@gen
def coin():
    p = beta(1.0, 1.0) @ "p"
    for i in range(4):
        bernoulli(p) @ ("flip", i)


def test_bounded_nuts_resumes_bit_for_bit(tmp_path):
    # the transformed chain (on logit p) saves its unconstrained position
    trace = gentf.generate(coin, (), {("flip", i): i != 2 for i in range(4)}, seed=0)[0]
    go = lambda path, n: gentf.nuts(trace, select("p"), num_samples=n, num_warmup=10, seed=5, checkpoint=path,
                                    checkpoint_every=10, progress=False)
    whole = go(str(tmp_path / "a"), 20)
    go(str(tmp_path / "b"), 10)
    resumed = go(str(tmp_path / "b"), 20)
    assert np.array_equal(whole[1]["p"], resumed[1]["p"]) and np.array_equal(whole[2], resumed[2])
    assert np.all((whole[1]["p"].numpy() > 0) & (whole[1]["p"].numpy() < 1))


def test_segmented_nuts_matches_the_exact_posterior(tmp_path):
    # N(0, 1) prior, y = 1 observed with sd 0.5: x | y ~ N(0.8, 0.2). With false-fail rate A, the
    # error of the mean of n_eff effective draws is within z(A) * sd / sqrt(n_eff).
    _, samples, _ = gentf.nuts(nn_trace(), select("x"), num_samples=1000, num_warmup=300, seed=3,
                               summary=str(tmp_path), summary_every=100, progress=False)
    x = np.asarray(samples["x"], np.float64)
    n_eff = min(float(gentf.ess(x)), len(x))  # NUTS can be antithetic: capping keeps the bound conservative
    assert n_eff > 50, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(x, NN_MEAN, NN_SD, n_eff=n_eff, false_fail_rate=A)
