"""Several chains in one ``run_chain`` (issue 10, items 3 and 5): chain ``c`` is the single chain of
seed ``split_seed(seed, C)[c]``, samples come back as ``[chains, draws, ...]``, TensorBoard gets
R-hat and ESS of the draws so far (read back and compared with ``rhat`` / ``ess`` of the returned
samples), a multi-chain run resumes bit for bit, and chains can be placed per device."""
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select, uniform_discrete
from gentf.core.errors import ArgumentError
from gentf.core.seeds import as_seed, split_seed
from gentf.inference import chain, ess, rhat, to_arviz
from gentf.learning.checkpoint import CheckpointError

import jobs


@gen
def model():
    mu = normal(0.0, 1.0) @ "mu"
    w = normal(tf.zeros(2), 1.0) @ "w"
    for i in range(3):
        normal(mu + w[i % 2], 1.0) @ ("y", i)


OBSERVED = {("y", i): 0.5 * i for i in range(3)}


def starts(n=3):
    """``n`` overdispersed starting traces: prior draws of the latents, the same observations."""
    return [gentf.generate(model, (), OBSERVED, seed=10 + c)[0] for c in range(n)]


def kernel(trace, seed):
    return gentf.mh(trace, select("mu", "w"), seed=seed)


def same(a, b):
    """Two ``run_chain`` results (one chain or several) are equal bit for bit."""
    last_a, last_b = (a[0], b[0]) if isinstance(a[0], list) else ([a[0]], [b[0]])
    return (all(np.array_equal(a[1][k], b[1][k]) for k in ("mu", "w")) and np.array_equal(a[2], b[2])
            and len(last_a) == len(last_b)
            and all(np.array_equal(x["w"], y["w"]) and x["mu"].numpy() == y["mu"].numpy()
                    for x, y in zip(last_a, last_b)))


@pytest.mark.parametrize("compile", [True, False])
def test_each_chain_is_the_single_chain_of_its_seed(compile):
    traces, samples, accepted = gentf.run_chain(kernel, starts(), 12, seed=7, compile=compile, progress=False)
    assert samples["mu"].shape == (3, 12) and samples["w"].shape == (3, 12, 2) and accepted.shape == (3, 12)
    assert np.array_equal(samples[("y", 2)], np.full((3, 12), 1.0, np.float32))
    seeds = split_seed(as_seed(7), 3)
    for c, start in enumerate(starts()):
        one = gentf.run_chain(kernel, start, 12, seed=seeds[c], compile=compile, progress=False)
        assert same(one, (traces[c], gentf.choicemap({"mu": samples["mu"][c], "w": samples["w"][c]}),
                          accepted[c]))
    assert not np.array_equal(samples["mu"][0], samples["mu"][1])  # independent chains
    fewer = gentf.run_chain(kernel, starts(2), 12, seed=7, compile=compile, progress=False)
    assert np.array_equal(fewer[1]["w"], samples["w"][:2])  # adding chains leaves the others
    posterior = to_arviz(samples, chains=True).posterior
    assert posterior["w"].shape == (3, 12, 2) and posterior["y/2"].shape == (3, 12)


@gen
def jumpy():
    k = int(uniform_discrete(1, 2) @ "k")
    for i in range(k):
        normal(0.0, 1.0) @ ("x", i)


def test_trans_dimensional_chains_return_their_lists():
    jump = lambda trace, seed: gentf.mh(trace, select("k"), seed=seed)  # noqa: E731 -- regenerates k and the x's
    firsts = [gentf.simulate(jumpy, (), seed=c) for c in range(2)]
    traces, samples, accepted = gentf.run_chain(jump, firsts, 8, seed=2, progress=False)
    assert isinstance(samples, list) and [len(s) for s in samples] == [8, 8] and accepted.shape == (2, 8)
    ks = [[int(cm["k"]) for cm in chain_samples] for chain_samples in samples]
    assert any(len(set(k)) > 1 for k in ks)  # the chains do change dimension
    one = gentf.run_chain(jump, firsts[1], 8, seed=split_seed(as_seed(2), 2)[1], progress=False)
    assert [int(cm["k"]) for cm in one[1]] == ks[1] and np.array_equal(one[2], accepted[1])


def events(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc, {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
                 for tag in acc.Tags()["tensors"]}


def test_segmented_chains_equal_one_call_and_write_rhat(tmp_path):
    whole = gentf.run_chain(kernel, starts(), 20, seed=5, progress=False)
    traces, samples, accepted = segmented = gentf.run_chain(
        kernel, starts(), 20, seed=5, progress=False, summary=str(tmp_path / "logs"), summary_every=7,
        checkpoint=str(tmp_path / "c"), checkpoint_every=10)
    assert same(whole, segmented)
    acc, scalars = events(tmp_path / "logs")
    ends = [7, 14, 20]
    for tag in ("rhat/mu", "rhat/w", "ess/mu", "ess/w", "acceptance_rate", "log_joint/chain_2"):
        assert [s for s, _ in scalars.get(tag, [])] == ends, (tag, sorted(scalars))
    assert not [t for t in scalars if t.startswith(("rhat/y", "ess/y"))]  # observations never move
    flags = accepted.numpy().astype(float)
    for k, end in enumerate(ends):
        prefix = gentf.choicemap({"mu": samples["mu"][:, :end], "w": samples["w"][:, :end]})
        r, n = rhat(prefix), ess(prefix)
        assert scalars["rhat/mu"][k][1] == np.float32(r["mu"])
        assert scalars["rhat/w"][k][1] == np.float32(np.max(r["w"]))  # the worse element
        assert scalars["ess/mu"][k][1] == np.float32(n["mu"])
        assert scalars["ess/w"][k][1] == np.float32(np.min(n["w"]))
        begin = ends[k - 1] if k else 0
        assert scalars["acceptance_rate"][k][1] == pytest.approx(flags[:, begin:end].mean())
        for c in range(3):
            assert scalars[f"acceptance_rate/chain_{c}"][k][1] == pytest.approx(flags[c, begin:end].mean())
    for c in range(3):
        assert scalars[f"log_joint/chain_{c}"][-1][1] == pytest.approx(float(traces[c].get_score()))
    assert all(np.isfinite(v) for _, v in scalars["rhat/mu"] + scalars["ess/w"])
    assert acc.Tags()["graph"]  # the compiled segment's graph


def test_interrupted_chains_resume_bit_for_bit(tmp_path, monkeypatch):
    gentf.seed(11)
    whole = gentf.run_chain(kernel, starts(), 30, progress=False)  # unseeded: the base seed is saved
    gentf.seed(11)
    calls, real = [], chain._run

    def interrupted(kern, trace, seeds, *args):
        calls.append(len(seeds))
        if len(calls) == 8:
            raise KeyboardInterrupt  # the third segment's last chain never finishes
        return real(kern, trace, seeds, *args)
    monkeypatch.setattr(chain, "_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gentf.run_chain(kernel, starts(), 30, progress=False, checkpoint=str(tmp_path), checkpoint_every=8,
                        checkpoint_secs=0)
    monkeypatch.setattr(chain, "_run", real)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-16")
    gentf.seed(99)  # everything comes from the checkpoint
    resumed = gentf.run_chain(kernel, starts(), 30, progress=False, checkpoint=str(tmp_path), checkpoint_every=8)
    assert same(whole, resumed)


def test_mismatched_multichain_checkpoints_raise_and_overwrite_nothing(tmp_path):
    gentf.run_chain(kernel, starts(), 10, seed=3, progress=False, checkpoint=str(tmp_path), checkpoint_every=5)
    before = {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)}
    with pytest.raises(CheckpointError):  # gentf's own directory: every saved chain must be restored
        gentf.run_chain(kernel, starts(2), 20, seed=3, progress=False, checkpoint=str(tmp_path))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=None)
    with pytest.raises(CheckpointError, match="holds 3 chains, not 2"):
        gentf.run_chain(kernel, starts(2), 20, seed=3, progress=False, checkpoint=manager)
    with pytest.raises(CheckpointError):  # a single chain from a multi-chain checkpoint
        gentf.run_chain(kernel, starts(1)[0], 20, seed=3, progress=False, checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError, match="seed"):
        gentf.run_chain(kernel, starts(), 20, seed=4, progress=False, checkpoint=str(tmp_path))
    assert {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)} == before


def test_bad_arguments_raise():
    with pytest.raises(ArgumentError, match="empty"):
        gentf.run_chain(kernel, [], 5, seed=1)
    with pytest.raises(ArgumentError, match="plain graphs"):
        gentf.run_chain(kernel, starts(2), 5, seed=1, devices=["/CPU:0"], jit_compile=True)


JOB = os.path.join(os.path.dirname(__file__), "multichain_devices_job.py")
CPU = "/job:localhost/replica:0/task:0/device:CPU:"


def test_chains_are_placed_per_device():
    result, stderr = jobs.run(JOB, TF_CPP_MIN_LOG_LEVEL="0")
    assert result["devices"] == [CPU + "0", CPU + "1", CPU + "0"]  # chain c on devices[c % 2]
    assert result["same"]  # placing changes no draw
    log = stderr.split("PLACEMENT-START")[1].split("PLACEMENT-END")[0]
    placed = re.findall(r"placer\.cc:\d+\] (\S+): \((\w+)\): (\S+)", log)
    # the chain program's body (its sample writes, random draws and loop) is placed on CPU:1 for
    # chain 1 (chains 0 and 2 reuse the program instance placed on CPU:0 by the unplaced run)
    for op in ("TensorListSetItem", "StatelessRandomGetKeyCounter", "NextIteration"):
        assert CPU + "1" in {device for _, kind, device in placed if kind == op}, op
