"""A checkpoint directory whose index file ``checkpoint`` is garbage raises ``CheckpointError``
naming the file and changes nothing (no file in the directory, no Variable), in every loop; a
killed save's ``ckpt-N_temp/`` folder is removed by the next save, the good checkpoints kept.

On the old code a garbage index was ignored (TF's ``get_checkpoint_state`` logs a ``ParseError``
and returns None): ``train`` restarted at epoch 0 and its saves replaced the good checkpoints
(binary garbage raised ``UnicodeDecodeError``, an empty file ``ValueError``); and nothing
removed a ``_temp`` folder."""
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import ADAM, ParamUpdate, gen, normal, param, select, train
from gentf.learning.checkpoint import CheckpointError


def regression():
    @gen
    def model(x):
        normal(param("a") * x + param("b"), 1.0) @ "y"
    gentf.init_param(model, "a", tf.constant(0.3, tf.float64))
    gentf.init_param(model, "b", tf.constant(-0.2, tf.float64))
    return model


XS = np.linspace(-1, 1, 40)


def dataset():
    return tf.data.Dataset.from_tensor_slices(((XS,), {"y": 2.0 * XS + 0.5}))


KW = dict(num_epoch=4, epoch_size=4, num_minibatch=2, minibatch_size=3, evaluation_size=2, seed=3, progress=False)


def fresh():
    m = regression()
    return m, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m)


def snapshot(directory):
    """Every path under ``directory`` with its mtime and (for a file) its bytes."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            data = open(path, "rb").read() if name in files else None
            out[os.path.relpath(path, directory)] = (os.stat(path).st_mtime_ns, data)
    return out


def values(update):
    """Every Variable a checkpoint of ``update`` saves (parameters, accumulators, slots, counter)."""
    return {name: np.array(var.numpy()) for name, var in update._checkpoint_children().items()}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A directory holding ckpt-2..4 of a 4-epoch run."""
    path = tmp_path_factory.mktemp("good")
    m, update = fresh()
    train(m, dataset(), update, checkpoint=str(path), checkpoint_every=1, checkpoint_secs=0, **KW)
    assert sorted(f for f in os.listdir(path) if f.endswith(".index")) == ["ckpt-2.index", "ckpt-3.index",
                                                                            "ckpt-4.index"]
    return path


GARBAGE = {
    "text": b"hello, world\n",
    "binary": b"\xff\xfe\x00\x9c garbage \x80",
    "empty": b"",
    "NUL bytes": b"\x00" * 64,
    "truncated": b'model_checkpoint_path: "ckp',
    "wrong type": b"model_checkpoint_path: 4\n",
    "no latest": b'all_model_checkpoint_paths: "ckpt-4"\n',
    "missing latest": b'model_checkpoint_path: "ckpt-40"\nall_model_checkpoint_paths: "ckpt-40"\n',
}


def corrupt(tmp_path, good, raw):
    path = tmp_path / "c"
    shutil.copytree(good, path)
    with open(path / "checkpoint", "wb") as f:
        f.write(raw)
    return path


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_index_raises_and_changes_nothing(tmp_path, good, case):
    path = corrupt(tmp_path, good, GARBAGE[case])
    before = snapshot(path)
    m, update = fresh()
    start = values(update)
    with pytest.raises(CheckpointError, match="index file") as info:
        train(m, dataset(), update, checkpoint=str(path), **KW)
    assert os.path.join(str(path), "checkpoint") in str(info.value)
    assert "ckpt-4" in str(info.value)  # the good checkpoints it holds are named
    assert snapshot(path) == before
    assert same(values(update), start)


def test_every_loop_and_a_given_manager_check_the_index(tmp_path, good):
    """train, black_box_vi (``Loop``), run_chain and nuts (``inference.resume``) open their
    checkpoints through ``manager_for``; a given manager's directory is checked too."""
    path = corrupt(tmp_path, good, GARBAGE["text"])
    before = snapshot(path)

    @gen
    def chain_model():
        normal(0.0, 1.0) @ "mu"
    trace = gentf.simulate(chain_model, (), seed=1)
    kernel = lambda t, seed: gentf.mh(t, select("mu"), seed=seed)

    @gen
    def family():
        normal(param("mu"), 1.0) @ "mu"
    gentf.init_param(family, "mu", tf.constant(-1.0, tf.float64))
    vi_update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), family)
    m, update = fresh()
    start = values(vi_update), values(update)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(path), max_to_keep=None)
    runs = {
        "train": lambda: train(m, dataset(), update, checkpoint=manager, **KW),
        "black_box_vi": lambda: gentf.black_box_vi(chain_model, (), {}, family, (), vi_update, iters=3,
                                                   samples_per_iter=4, seed=2, progress=False,
                                                   checkpoint=str(path)),
        "run_chain": lambda: gentf.run_chain(kernel, trace, 5, seed=3, progress=False, checkpoint=str(path)),
        "nuts": lambda: gentf.nuts(trace, select("mu"), num_samples=5, num_warmup=5, seed=3, jit_compile=False,
                                   progress=False, checkpoint=str(path)),
    }
    for where, run in runs.items():
        with pytest.raises(CheckpointError, match=f"^{where}: the checkpoint index file"):
            run()
    assert snapshot(path) == before
    assert same(values(vi_update), start[0]) and same(values(update), start[1])


KILLED = r'''
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from tensorflow.python.checkpoint import functional_saver
import test_checkpoint_index as t
from gentf import train
real = functional_saver.gen_io_ops.merge_v2_checkpoints
def dying(prefixes, prefix, *args, **kwargs):
    if str(prefix.numpy()).endswith("ckpt-3'"):  # the shards are in ckpt-3_temp/, not yet merged
        os.kill(os.getpid(), signal.SIGKILL)
    return real(prefixes, prefix, *args, **kwargs)
functional_saver.gen_io_ops.merge_v2_checkpoints = dying
m, update = t.fresh()
train(m, t.dataset(), update, checkpoint=sys.argv[1], checkpoint_every=1, checkpoint_secs=0, **t.KW)
'''


def test_killed_save_leftovers_are_removed_by_the_next_save(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path), here], capture_output=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    assert os.listdir(tmp_path / "ckpt-3_temp")  # the killed save's shards
    stale = "checkpoint.tmp" + "0123456789abcdef" * 2  # what a killed index write leaves
    open(tmp_path / stale, "w").write('model_checkpoint_path: "ckpt-3"\n')
    kept = {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path) if f.startswith(("ckpt-1.", "ckpt-2."))}
    assert len(kept) == 4

    before = snapshot(tmp_path)  # a run that raises leaves the leftovers too
    m, update = fresh()
    with pytest.raises(CheckpointError, match="seed"):
        train(m, dataset(), update, checkpoint=str(tmp_path), **dict(KW, seed=4))
    assert snapshot(tmp_path) == before

    m, update = fresh()  # resumes from ckpt-2; checkpoint_every=100: saves only ckpt-4
    resumed = train(m, dataset(), update, checkpoint=str(tmp_path), **KW)
    assert sorted(os.listdir(tmp_path)) == sorted(["checkpoint", "ckpt-4.index", "ckpt-4.data-00000-of-00001"]
                                                  + list(kept))
    assert all(open(tmp_path / f, "rb").read() == data for f, data in kept.items())
    m_full, update_full = fresh()
    assert np.array_equal(resumed, train(m_full, dataset(), update_full, **KW))
    assert same(values(update), values(update_full))
