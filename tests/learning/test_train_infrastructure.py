"""train's infrastructure: tf.data input, tf.train.Checkpoint of gentf objects and resume,
TensorBoard summaries, progress bar (issue 10)."""
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import ADAM, ParamUpdate, choicemap, gen, normal, param, train
from gentf.core import compile as compiled
from gentf.learning.checkpoint import CheckpointError
from gentf.tf.function import TFFunction


def regression():
    @gen
    def model(x):
        normal(param("a") * x + param("b"), 1.0) @ "y"
        normal(param("b"), 1.0) @ ("z", 1)
    gentf.init_param(model, "a", tf.constant(0.3, tf.float64))
    gentf.init_param(model, "b", tf.constant(-0.2, tf.float64))
    return model


XS = np.linspace(-1, 1, 40)
YS = 2.0 * XS + 0.5


def dataset():
    return tf.data.Dataset.from_tensor_slices(((XS,), {"y": YS, "z": {1: YS - XS}}))


def generator():
    it = iter(range(len(XS)))
    def draw():
        i = next(it)
        return (XS[i],), choicemap({"y": YS[i], ("z", 1): YS[i] - XS[i]})
    return draw


KW = dict(num_epoch=4, epoch_size=4, num_minibatch=2, minibatch_size=3, evaluation_size=2, seed=3, progress=False)


def test_dataset_equals_generator_and_runs_as_one_program():
    m1, m2 = regression(), regression()
    s1 = train(m1, generator(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m1), **KW)
    u2 = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m2)
    s2 = train(m2, dataset(), u2, **KW)
    np.testing.assert_allclose(s2, s1, rtol=1e-12)
    for name in ("a", "b"):
        assert float(gentf.get_param(m2, name)) == pytest.approx(float(gentf.get_param(m1, name)), rel=1e-12)
    programs = [fn for key, fn in compiled._state(m2).programs.items() if key[0][0][0] == "train-dataset"]
    assert len(programs) == 1 and programs[0].experimental_get_tracing_count() == 1
    assert not compiled.is_dynamic(m2)


def test_bad_dataset_raises_argument_error():
    with pytest.raises(gentf.ArgumentError):
        m = regression()
        train(m, tf.data.Dataset.from_tensor_slices(XS), ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), m))


def test_exhausted_dataset_raises_argument_error():
    m = regression()
    with pytest.raises(gentf.ArgumentError, match="ran out in epoch 0"):
        train(m, dataset().take(5), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **KW)


def test_dataset_with_jit_compile_gives_the_same_scores():
    m1, m2 = regression(), regression()
    a = train(m1, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m1), **KW)
    b = train(m2, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m2), jit_compile=True, **KW)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def _params(m):
    return [gentf.get_param(m, n).numpy() for n in ("a", "b")]


def test_resume_is_bit_exact(tmp_path):
    kw = dict(KW, num_epoch=6, seed=None)
    gentf.seed(11)
    m = regression()
    full = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **kw)
    gentf.seed(11)
    m = regression()
    part = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path),
                 checkpoint_every=2, **dict(kw, num_epoch=3))
    # checkpoint_secs=60 (the default): within a minute only the last epoch is saved
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".index")) == ["ckpt-3.index"]
    m = regression()  # fresh objects, fresh global seed: everything comes from the checkpoint
    gentf.seed(99)
    resumed = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path),
                    checkpoint_every=3, **kw)
    assert np.array_equal(part, full[:3]) and np.array_equal(resumed, full)
    m_full = regression()
    tf.train.Checkpoint(gentf_train=gentf.learning.checkpoint.TrainState(
        m_full, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m_full), [0, 0])).read(
        tf.train.latest_checkpoint(str(tmp_path))).expect_partial()
    assert all(np.array_equal(a, b) for a, b in zip(_params(m), _params(m_full)))
    assert sorted(os.listdir(tmp_path))[-1].startswith("ckpt-6")


def test_mismatched_or_corrupt_checkpoint_raises_and_overwrites_nothing(tmp_path):
    m = regression()
    train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path), **KW)
    before = {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)}

    @gen
    def other(x):
        normal(param("c") * x, 1.0) @ "y"
    gentf.init_param(other, "c", tf.constant(1.0, tf.float64))
    with pytest.raises(CheckpointError):
        train(other, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), other), checkpoint=str(tmp_path), **KW)
    m = regression()
    with pytest.raises(CheckpointError, match="seed"):
        train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path),
              **dict(KW, seed=4))
    assert {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)} == before
    data = [f for f in os.listdir(tmp_path) if ".data-" in f and f.startswith("ckpt-4")][0]
    with open(tmp_path / data, "r+b") as fh:
        fh.truncate(8)
    m = regression()
    with pytest.raises(CheckpointError):
        train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path), **KW)


def test_gen_functions_tffunctions_and_updates_are_checkpointable(tmp_path):
    import keras
    m = regression()
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    eager = TFFunction(dense)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3])
        w = tf.compat.v1.Variable(tf.ones([3, 2]), name="W")
        y = tf.matmul(x, w)
    graph_fn = TFFunction([w], [x], y)
    update = ParamUpdate(keras.optimizers.Adam(0.1), eager)
    eager.param_grad_var(dense.kernel).assign(tf.ones([3, 2]))
    update.apply()
    path = tf.train.Checkpoint(model=m, eager=eager, graph=graph_fn, update=update).save(str(tmp_path / "c"))
    saved_opt = [v.numpy().copy() for v in update.conf.variables]
    saved_kernel = dense.kernel.numpy().copy()
    gentf.set_param(m, "a", 7.0)
    dense.kernel.assign(tf.zeros([3, 2]))
    graph_fn.trained_variable(w).assign(tf.zeros([3, 2]))
    update.apply()
    tf.train.Checkpoint(model=m, eager=eager, graph=graph_fn, update=update).restore(path).assert_existing_objects_matched()
    assert float(gentf.get_param(m, "a")) == 0.3
    assert np.array_equal(dense.kernel.numpy(), saved_kernel)
    assert all(np.array_equal(v.numpy(), s) for v, s in zip(update.conf.variables, saved_opt))
    assert np.array_equal(gentf.runtf(graph_fn, w), np.ones([3, 2]))  # the session view is in sync


def test_summaries_are_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    m = regression()
    scores = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), summary=str(tmp_path),
                   histogram_every=2, **KW)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]
    events = acc.Tensors("objective")
    assert [e.step for e in events] == list(range(4))
    np.testing.assert_allclose([tf.make_ndarray(e.tensor_proto) for e in events], scores, rtol=1e-6)
    for name in ("a", "b"):
        assert any(t.startswith("params/") and name in t for t in tags)
        assert any(t.startswith("grads/") and name in t for t in tags)
    grads = acc.Tensors([t for t in tags if t.startswith("grads/")][0])
    assert [g.step for g in grads] == [0, 2, 3] and np.any(tf.make_ndarray(grads[0].tensor_proto)[:, 2] > 0)
    assert acc.Graph() is not None or acc.Tags()["graph"]


def test_progress_bar_shows_objective_and_can_be_silenced(capsys):
    m = regression()
    train(m, generator(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **dict(KW, progress=True))
    assert "objective=" in capsys.readouterr().err
    train(m, generator(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **dict(KW, progress=False))
    assert capsys.readouterr().err == ""


def test_user_checkpoint_manager_resumes(tmp_path):
    def run(num_epoch):
        m = regression()
        update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=None)
        return train(m, dataset(), update, checkpoint=manager, **dict(KW, num_epoch=num_epoch)), _params(m)
    first, _ = run(2)
    resumed, params = run(4)
    m = regression()
    full = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **KW)
    assert np.array_equal(resumed, full) and np.array_equal(first, full[:2])
    assert all(np.array_equal(a, b) for a, b in zip(params, _params(m)))


KILLED = r'''
import os, signal, sys
sys.path.insert(0, sys.argv[2])
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management as cm
import test_train_infrastructure as t
from gentf import ADAM, ParamUpdate, train
real = cm.update_checkpoint_state_internal
def dying(save_dir, model_checkpoint_path, *args, **kwargs):
    if model_checkpoint_path.endswith("ckpt-3"):  # its files are written, the index is not updated
        for f in os.listdir(sys.argv[1]):
            if f.startswith("ckpt-3.data"):
                open(os.path.join(sys.argv[1], f), "r+b").truncate(4)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(save_dir, model_checkpoint_path, *args, **kwargs)
cm.update_checkpoint_state_internal = dying
m = t.regression()
train(m, t.dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=sys.argv[1], checkpoint_every=1,
      checkpoint_secs=0, **t.KW)
'''


def test_kill_during_checkpoint_write_leaves_previous_checkpoint_usable(tmp_path):
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path), here], capture_output=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    m = regression()
    resumed = train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), checkpoint=str(tmp_path), **KW)
    m_full = regression()
    full = train(m_full, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m_full), **KW)
    assert np.array_equal(resumed, full)
    assert all(np.array_equal(a, b) for a, b in zip(_params(m), _params(m_full)))


def test_no_dataset_iterator_outlives_train():
    """The compiled-epoch cache lives as long as the model; it must not keep the dataset's
    iterator (one destroyed only at interpreter exit blocks the exit on its prefetch threads)."""
    import gc
    from tensorflow.python.data.ops.iterator_ops import OwnedIterator

    def alive():
        gc.collect()
        return sum(isinstance(o, OwnedIterator) for o in gc.get_objects())
    before = alive()
    m = regression()
    train(m, dataset(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m), **KW)
    assert alive() == before
