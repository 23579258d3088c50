"""Checkpoints, TensorBoard summaries and progress bars of ``black_box_vi`` / ``black_box_vimco``
and ``SVI.run`` / ``svi`` (issue 10): a resumed run equals the uninterrupted one bit for bit,
events are read back, a mismatched checkpoint raises ``CheckpointError``."""
import os

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, get_param, init_param, normal, param
from gentf.inference.amortized import SVI, svi
from gentf.inference.vi import black_box_vi, black_box_vimco
from gentf.learning import ADAM, ParamUpdate
from gentf.learning.checkpoint import CheckpointError

F64 = tf.float64


@gen
def model():
    z = normal(tf.constant(0.0, F64), 1.0) @ "z"
    normal(z, 0.5) @ "y"


@gen
def family():
    normal(param("mu"), tf.exp(param("log_std"))) @ "z"


def fresh_update():
    init_param(family, "mu", tf.constant(-1.0, F64))
    init_param(family, "log_std", tf.constant(0.5, F64))
    return ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), family)


def params():
    return [get_param(family, n).numpy() for n in ("mu", "log_std")]


def vi(iters, **kw):
    return black_box_vi(model, (), {"y": 1.5}, family, (), fresh_update(), iters=iters, samples_per_iter=8,
                        **dict(dict(seed=2, progress=False), **kw))


def events(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc, [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


@pytest.mark.parametrize("fn", ["vi", "vimco"])
def test_vi_resumes_bit_for_bit(tmp_path, fn):
    run = vi if fn == "vi" else lambda iters, **kw: black_box_vimco(
        model, (), {"y": 1.5}, family, (), fresh_update(), 3, iters=iters, samples_per_iter=4,
        **dict(dict(seed=2, progress=False), **kw))
    full_estimate, _, full = run(7)
    full_params = params()
    run(4, checkpoint=str(tmp_path), checkpoint_every=3, checkpoint_secs=0)  # saves at 3 and 4: "interrupted" at 4
    estimate, traces, resumed = run(7, checkpoint=str(tmp_path), checkpoint_every=3)
    assert resumed == full and estimate == full_estimate and traces is not None
    assert all(np.array_equal(a, b) for a, b in zip(params(), full_params))
    assert np.std(full) > 0  # the estimates are informative
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-7")
    _, traces, again = run(7, checkpoint=str(tmp_path))  # nothing left to run
    assert again == full and traces is None


def test_vi_bad_checkpoints_raise_and_overwrite_nothing(tmp_path):
    vi(3, checkpoint=str(tmp_path))
    before = {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)}

    @gen
    def other():
        normal(param("m"), 1.0) @ "z"
    init_param(other, "m", tf.constant(0.0, F64))
    with pytest.raises(CheckpointError):
        black_box_vi(model, (), {"y": 1.5}, other, (), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), other),
                     iters=5, samples_per_iter=8, seed=2, progress=False, checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError, match="seed"):
        vi(5, checkpoint=str(tmp_path), seed=3)
    assert {f: open(tmp_path / f, "rb").read() for f in os.listdir(tmp_path)} == before


def test_vi_summaries_and_progress(tmp_path, capsys):
    _, _, history = vi(5, summary=str(tmp_path), histogram_every=2, progress=True)
    assert "objective=" in capsys.readouterr().err
    acc, objective = events(tmp_path, "objective")
    assert [s for s, _ in objective] == list(range(5))
    np.testing.assert_allclose([float(v) for _, v in objective], history, rtol=1e-6)
    mu = [t for t in acc.Tags()["tensors"] if t.startswith("params/") and "mu" in t]
    assert mu and [e.step for e in acc.Tensors(mu[0])] == [0, 2, 4]
    assert acc.Tags()["graph"]  # the compiled iteration's graph
    vi(2)
    assert capsys.readouterr().err == ""


# --- SVI --------------------------------------------------------------------------------------
@gen
def lg_model(x):
    z = normal(tf.zeros_like(x), tf.ones_like(x)) @ "z"
    normal(param("w") * z + param("b"), 1.0) @ "x"


@gen
def lg_guide(x):
    normal(param("a") * x + param("c"), tf.exp(param("log_s")) * tf.ones_like(x)) @ "z"


NAMES = ((lg_model, ("w", "b")), (lg_guide, ("a", "c", "log_s")))
DATA = tf.data.Dataset.from_tensor_slices(tf.constant(np.random.default_rng(3).normal(1.0, 2.0, 64), F64)).batch(16)


def svi_update():
    for fn, names in NAMES:
        for name, value in zip(names, (0.5, 0.1, 0.2)):
            init_param(fn, name, tf.constant(value, F64))
    return ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), lg_model, lg_guide)


def svi_params():
    return [get_param(fn, n).numpy() for fn, names in NAMES for n in names]


def data_fn(x):
    return (x,), (x,), {"x": x}


def test_svi_resumes_bit_for_bit(tmp_path):
    _, full = svi(lg_model, lg_guide, DATA, svi_update(), data_fn, num_epochs=5, seed=1, progress=False)
    full_params = svi_params()
    manager = lambda: tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=None)
    SVI(lg_model, lg_guide, svi_update(), data_fn).run(DATA, 2, seed=1, checkpoint=manager())
    resumed = SVI(lg_model, lg_guide, svi_update(), data_fn).run(DATA, 5, seed=1, checkpoint=manager())
    assert resumed == full and len({h["objective"] for h in full}) == 5
    assert all(np.array_equal(a, b) for a, b in zip(svi_params(), full_params))


def test_svi_summaries_images_and_progress(tmp_path, capsys):
    def images(epoch):
        return {"decoded": tf.fill([2, 4, 4, 1], 0.1 * epoch)}
    _, history = svi(lg_model, lg_guide, DATA, svi_update(), data_fn, num_epochs=3, seed=1,
                     summary=str(tmp_path), images=images)
    assert "objective=" in capsys.readouterr().err
    acc, objective = events(tmp_path, "objective")
    for key in ("objective", "loglik", "kl"):
        np.testing.assert_allclose([float(v) for _, v in events(tmp_path, key)[1]], [h[key] for h in history],
                                   rtol=1e-6)
    assert [s for s, _ in objective] == [0, 1, 2]
    assert [e.step for e in acc.Tensors("decoded")] == [0, 1, 2]
    assert any(t.startswith("params/") for t in acc.Tags()["tensors"]) and acc.Tags()["graph"]
