"""``train`` (Gen.jl's ``train!``): scores, callback, verbose, bad input, compilation, the tutorial.

Model: ``x ~ normal(theta, 1)``, so ``log p(x; theta) = -(x - theta)^2 / 2 - log(2 pi) / 2`` and
``d/dtheta = x - theta``; with ``FixedStepGradientDescent(s)`` one minibatch moves theta by
``s * sum_j (x_j - theta)`` (Gen.jl sums the minibatch's gradients).
"""
import itertools
import os
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf.core import compile as compiled
from gentf import (ADAM, FixedStepGradientDescent, ParamUpdate, categorical, choicemap, gen, normal,
                   param, train)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))


def lp(x, theta):
    return -0.5 * (x - theta) ** 2 - 0.5 * np.log(2 * np.pi)


def normal_model(theta0=0.5, runs=None):
    @gen
    def model():
        if runs is not None:
            runs.append(1)
        normal(param("theta"), 1.0) @ "x"
    gentf.init_param(model, "theta", tf.constant(theta0, tf.float64))
    return model


def counting_data(start=0.0):
    """``data_generator`` yielding x = start, start + 1, ... in order."""
    xs = itertools.count(start)
    return lambda: ((), choicemap({"x": float(next(xs))}))


def test_scores_are_mean_evaluation_log_density_after_each_epoch():
    """Per epoch: draw epoch_size examples, num_minibatch updates on minibatches of the whole
    epoch (order irrelevant: sum), then the mean log density of evaluation_size fresh examples."""
    s = 0.01
    model = normal_model()
    scores = train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(s), model),
                   num_epoch=3, epoch_size=3, num_minibatch=2, minibatch_size=3, evaluation_size=2, seed=0)
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64 and scores.shape == (3,)
    theta, x, want = 0.5, 0, []
    for _ in range(3):
        data = [x, x + 1, x + 2]
        for _ in range(2):
            theta += s * sum(d - theta for d in data)
        evaluation = [x + 3, x + 4]
        want.append(np.mean([lp(e, theta) for e in evaluation]))
        x += 5
    np.testing.assert_allclose(scores, want, rtol=1e-12)
    assert float(gentf.get_param(model, "theta")) == pytest.approx(theta, rel=1e-12)


def test_evaluation_size_defaults_to_epoch_size():
    model = normal_model()
    calls = []

    def data():
        calls.append(1)
        return (), choicemap({"x": 1.0})
    train(model, data, ParamUpdate(FixedStepGradientDescent(0.0), model), num_epoch=2, epoch_size=3,
          minibatch_size=2, seed=0)
    assert len(calls) == 2 * (3 + 3)


def test_evaluation_size_zero_gives_nan_scores():
    model = normal_model()
    scores = train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(0.01), model), num_epoch=2,
                   evaluation_size=0, seed=0)
    assert scores.shape == (2,) and np.all(np.isnan(scores))


def test_minibatch_is_a_random_subset_of_the_epoch():
    """minibatch_size < epoch_size: the update sums the gradients of distinct examples drawn from
    the epoch's data (a fresh permutation), and a fixed seed reproduces the choice."""
    xs = [0.0, 10.0, 100.0, 1000.0]

    def run(seed):
        model = normal_model(0.0)
        it = iter(xs * 2)
        train(model, lambda: ((), choicemap({"x": next(it)})), ParamUpdate(FixedStepGradientDescent(1.0), model),
              num_epoch=1, epoch_size=4, num_minibatch=1, minibatch_size=2, seed=seed)
        return float(gentf.get_param(model, "theta"))
    moved = {run(seed) for seed in range(8)}
    pair_sums = {a + b for a, b in itertools.combinations(xs, 2)}
    assert moved <= pair_sums and len(moved) > 1
    assert run(3) == run(3)


def test_seed_reproduces_scores():
    def run():
        model = normal_model()
        rng = np.random.default_rng(0)
        return train(model, lambda: ((), choicemap({"x": rng.normal()})), ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), model),
                     num_epoch=4, epoch_size=5, minibatch_size=2, num_minibatch=2, seed=7)
    np.testing.assert_array_equal(run(), run())


def test_callback_once_per_epoch_with_epoch_and_score():
    model = normal_model()
    seen = []
    scores = train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(0.01), model), num_epoch=4,
                   epoch_size=2, minibatch_size=2, callback=lambda epoch, score: seen.append((epoch, score)), seed=0)
    assert [e for e, _ in seen] == [0, 1, 2, 3]
    assert all(isinstance(s, float) for _, s in seen)
    np.testing.assert_array_equal([s for _, s in seen], scores)


def test_verbose_prints_each_epoch(capsys):
    model = normal_model()
    scores = train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(0.01), model), num_epoch=3,
                   verbose=True, seed=0)
    out = capsys.readouterr()
    text = out.out + out.err
    for epoch, score in enumerate(scores):
        assert f"epoch {epoch}: est. objective value {score:.6g}" in text


@pytest.mark.parametrize("bad", [
    lambda: None,                                   # not a pair
    lambda: ((), choicemap(), 3),                   # a triple
    lambda: 5,                                      # not iterable
    lambda: ([1.0], choicemap({"x": 1.0}))[0],      # only the args
    lambda: (1.0, choicemap({"x": 1.0})),           # args not a tuple
])
def test_bad_data_generator_raises_argument_error(bad):
    model = normal_model()
    with pytest.raises(gentf.ArgumentError):
        train(model, bad, ParamUpdate(FixedStepGradientDescent(0.01), model), num_epoch=1)


@pytest.mark.parametrize("kwargs", [dict(epoch_size=2, minibatch_size=3), dict(epoch_size=2, minibatch_size=0)])
def test_bad_minibatch_size_raises_argument_error(kwargs):
    model = normal_model()
    with pytest.raises(gentf.ArgumentError):
        train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(0.01), model), **kwargs)


def test_static_model_epochs_run_compiled():
    """The model's Python body runs only while an epoch's tf.function is traced: far fewer times
    than generate is called (20 epochs x (4 + 4) = 160 generate calls)."""
    runs = []
    model = normal_model(0.0, runs)
    rng = np.random.default_rng(0)
    scores = train(model, lambda: ((), choicemap({"x": rng.normal(2.0)})), ParamUpdate(FixedStepGradientDescent(0.01), model),
                   num_epoch=20, epoch_size=4, num_minibatch=1, minibatch_size=4, seed=1)
    assert len(runs) <= 2 * (4 + 4), len(runs)  # one trace (maybe two), never per epoch
    assert np.all(np.isfinite(scores))
    assert 0.0 < float(gentf.get_param(model, "theta")) < 2.5


def test_static_model_new_runner_traces_once():
    runs = []
    model = normal_model(0.0, runs)
    update = ParamUpdate(FixedStepGradientDescent(0.01), model)
    data = counting_data()
    train(model, data, update, num_epoch=2, seed=1)
    first = len(runs)
    train(model, data, update, num_epoch=30, seed=1)
    assert len(runs) - first <= first


def test_random_structure_trains_eagerly(capsys):
    """A branch on a sampled value cannot be traced: train falls back to running eagerly, and the
    maths are unchanged (theta: 0 -> 0.1 -> 0.19 for x = 1, step 0.1)."""
    runs = []

    @gen
    def model():
        runs.append(1)
        k = normal(param("theta"), 1.0) @ "x"
        if k > 0:  # structure depends on a value
            normal(0.0, 1.0) @ "z"
        n = 0
        while bool(categorical(tf.constant([0.5, 0.5], tf.float64)) @ ("more", n)):  # random length
            n += 1
    gentf.init_param(model, "theta", tf.constant(0.0, tf.float64))
    scores = train(model, lambda: ((), choicemap({"x": 1.0})), ParamUpdate(FixedStepGradientDescent(0.1), model),
                   num_epoch=2, seed=0, verbose=True)
    assert "running eagerly" in capsys.readouterr().out
    np.testing.assert_allclose(float(gentf.get_param(model, "theta")), 0.19, rtol=1e-12)
    np.testing.assert_allclose(scores, [lp(1.0, 0.1), lp(1.0, 0.19)], rtol=1e-12)  # unconstrained: weight 0
    assert len(runs) >= 4  # eager: the body runs per generate


def test_vectorized_categorical_model_compiled_and_learns():
    """A softmax-regression-style model with one vectorised categorical choice."""
    rng = np.random.default_rng(0)
    D, K = 4, 3
    true_w = rng.normal(size=(D, K)) * 3

    @gen
    def model(xs):
        logits = tf.matmul(xs, param("W"))
        categorical(tf.nn.softmax(logits, axis=1)) @ "ys"
    gentf.init_param(model, "W", tf.zeros((D, K), tf.float64))

    def data():
        xs = rng.normal(size=(32, D))
        p = np.exp(xs @ true_w)
        p /= p.sum(1, keepdims=True)
        ys = np.array([rng.choice(K, p=row) for row in p], dtype=np.int32)
        return (xs,), choicemap({"ys": ys})
    scores = train(model, data, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model), num_epoch=60, seed=0)
    assert scores[-5:].mean() > scores[:5].mean() + 5.0


def test_tutorial_reaches_090_on_digits():
    import tutorial
    start = time.perf_counter()
    data = gentf.datasets.load_digits()
    acc, _, scores = tutorial.run_softmax(data, iters=200, step=1e-2, vectorized=True, seed=0)
    assert acc >= 0.90, acc
    assert scores.shape == (200,) and scores[-20:].mean() > scores[:20].mean()
    # the per-choice model (the tutorial's ("y", i) addresses) gives the same scores
    a = tutorial.run_softmax(data, iters=3, step=1e-2, vectorized=True, batch_size=8, seed=0)
    b = tutorial.run_softmax(data, iters=3, step=1e-2, vectorized=False, batch_size=8, seed=0)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-10)
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("seed", [None, -5, (-3, -2**31)])
def test_any_seed_is_accepted(seed):
    """Default seeds come from gentf's generator as int32 pairs, often negative (regression)."""
    for _ in range(4):
        model = normal_model()
        scores = train(model, counting_data(), ParamUpdate(FixedStepGradientDescent(0.01), model), num_epoch=1,
                       epoch_size=3, minibatch_size=2, seed=seed)
        assert np.isfinite(scores).all()


def test_one_pass_accumulation_equals_generate_then_accumulate():
    """Inside a compiled epoch, ``train`` accumulates from one ``generate`` under a tape with
    the sampled values held constant; that is ``accumulate_param_gradients`` of the generated
    trace (which replays it): same accumulators, for a model whose sampled latent depends on a
    parameter (a pathwise gradient would differ), with a nested call and an eager TFFunction."""
    from gentf.learning.train import generate_accumulating
    W = tf.Variable([[0.3], [-0.2]], dtype=tf.float64)
    f = gentf.TFFunction(lambda x: tf.matmul(x, W)[:, 0], variables=[W])

    @gen
    def part(mu):
        z = normal(mu * param("a"), 1.0) @ "z"
        normal(z + mu, 0.5) @ "y"

    @gen
    def model(xs):
        means = f(xs) @ "f"
        for i in range(2):
            part(means[i]) @ i
    gentf.init_param(part, "a", tf.constant(1.5, tf.float64))
    xs = tf.constant([[1.0, 2.0], [0.5, -1.0]], tf.float64)
    obs = choicemap({(0, "y"): 0.7, (1, "y"): -0.4})

    def accumulators():
        return [gentf.get_param_grad(part, "a").numpy(), gentf.get_param_grad_tf_var(f, W).numpy()]

    def reset():
        gentf.zero_param_grad(part, "a")
        gentf.get_param_grad_tf_var(f, W).assign(tf.zeros_like(W))

    def replayed(xs):
        trace, _ = gentf.generate(model, (xs,), obs, seed=4)
        gentf.accumulate_param_gradients(trace)
    reset()
    tf.function(replayed, autograph=False)(xs)
    expected = accumulators()
    reset()
    tf.function(lambda xs: generate_accumulating(model, (xs,), obs, 4), autograph=False)(xs)
    got = accumulators()
    assert np.all(expected[0] != 0) and np.all(expected[1] != 0)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def update_state(update):
    """Every Variable a checkpoint of ``update`` saves (parameters, accumulators, slots, counter)."""
    return {name: np.array(var.numpy()) for name, var in update._checkpoint_children().items()}


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_failed_check_in_a_compiled_epoch_leaves_the_state_as_it_was(jit_compile):
    """TF orders a graph's assertions only among themselves, and XLA asserts nothing: the
    compiled epoch's accumulation and step must wait for the checks, or a DomainError would
    come after a step on bad values."""
    @gen
    def model(xs):
        categorical(tf.exp(tf.matmul(xs, param("W")))) @ "ys"  # unnormalised: not a probability vector
    gentf.init_param(model, "W", tf.fill((3, 2), tf.constant(0.1, tf.float64)))
    update = ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), model)
    data = lambda: ((np.ones((4, 3)),), choicemap({"ys": np.zeros(4, np.int32)}))  # noqa: E731
    before = update_state(update)
    for _ in range(2):  # the first call traces the epoch program, the second runs it cached
        with pytest.raises(gentf.DomainError, match="categorical at address 'ys': probs must sum to 1"):
            train(model, data, update, num_epoch=2, progress=False, jit_compile=jit_compile)
        assert not gentf.explain_compile(model)  # it ran compiled
        after = update_state(update)
        assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)


def _used_xla(model):
    """Was one of the model's epoch programs compiled with XLA?"""
    return any(key[1] is True for key in compiled._state(model).programs if key[0] != "concrete")


def test_epochs_compile_with_xla_by_default_when_small(monkeypatch):
    """``jit_compile="auto"``: XLA for an epoch program of at most ``XLA_MAX_OPS`` ops (the same
    scores as without it), a plain graph beyond, and a plain graph for a dataset's epochs."""
    scores = {}
    for jit_compile in ("auto", False):
        model = normal_model(0.5)
        setting = {} if jit_compile == "auto" else {"jit_compile": False}  # "auto": the default
        scores[jit_compile] = train(model, counting_data(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model),
                                    num_epoch=5, seed=3, progress=False, **setting)
        assert _used_xla(model) == (jit_compile == "auto")
    np.testing.assert_allclose(scores["auto"], scores[False], rtol=1e-12)
    monkeypatch.setattr(compiled, "XLA_MAX_OPS", 5)
    model = normal_model(0.5)
    train(model, counting_data(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model), num_epoch=2, progress=False)
    assert not _used_xla(model)
    monkeypatch.undo()

    @gen
    def shifted(a):
        normal(param("theta") + a, 1.0) @ "x"
    gentf.init_param(shifted, "theta", tf.constant(0.5, tf.float64))
    data = tf.data.Dataset.from_tensor_slices(((np.zeros(4),), {"x": np.arange(4.0)})).repeat()
    train(shifted, data, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), shifted), num_epoch=2, progress=False)
    assert not _used_xla(shifted)


def test_epochs_that_draw_keep_tf_draws_by_default():
    """XLA's Philox stream differs from TF's, so ``"auto"`` compiles an epoch that samples a
    latent choice without XLA: the default's scores are ``jit_compile=False``'s bit for bit
    (``jit_compile=True``'s differ: other draws)."""
    def latent_model():
        @gen
        def model():
            z = normal(param("theta"), 1.0) @ "z"
            normal(z, 1.0) @ "x"
        gentf.init_param(model, "theta", tf.constant(0.5, tf.float64))
        return model
    scores = []
    for setting in ({}, {"jit_compile": False}, {"jit_compile": True}):
        model = latent_model()
        scores.append(train(model, counting_data(), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model),
                            num_epoch=3, seed=5, progress=False, **setting))
        assert _used_xla(model) == (setting.get("jit_compile") is True)
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.allclose(scores[2], scores[1])


# --- batched datasets whose last batch is partial ---------------------------------------------------
def _batched_classifier(runs, seed=0):
    """A vectorised model over a batch ``x`` ``[B, 3]``: ``y ~ categorical(softmax(Dense(x)))``
    (a Keras layer in a TFFunction), a latent ``h ~ normal(zeros([B, 2]), 1)`` sized by
    ``tf.shape``, and ``v ~ normal(a x_0 + b + h_0 / 10, 1)``; the same initial values for a seed."""
    rng = np.random.default_rng(seed)
    layer = tf.keras.layers.Dense(4, dtype="float64")
    layer.build((None, 3))
    layer.set_weights([rng.normal(size=(3, 4)), rng.normal(size=4)])
    net = gentf.TFFunction(lambda x: tf.nn.softmax(layer(x)), variables=layer.trainable_variables)

    @gen
    def model(x):
        runs.append(1)  # the Python body runs only while a program is traced
        categorical(net(x) @ "net") @ "y"
        h = normal(tf.zeros([tf.shape(x)[0], 2], tf.float64), 1.0) @ "h"
        normal(param("a") * x[:, 0] + param("b") + 0.1 * h[:, 0], 1.0) @ "v"
    gentf.init_param(model, "a", tf.constant(0.3, tf.float64))
    gentf.init_param(model, "b", tf.constant(-0.2, tf.float64))
    return model, net, layer


@pytest.mark.parametrize("sizes", [dict(epoch_size=3, num_minibatch=2, minibatch_size=2, evaluation_size=3),
                                   dict(epoch_size=1, num_minibatch=1, minibatch_size=1, evaluation_size=1)])
def test_dataset_batched_with_a_partial_last_batch_trains_like_a_generator_of_the_same_batches(sizes):
    """10 examples ``.batch(4)`` (batches of 4, 4, 2, repeated; element shapes ``[None, ...]``, which
    the old ``train`` rejected): the scores and parameters equal those of a ``data_generator``
    yielding the same batches in the same order (float64, rtol 1e-12), and the epoch is one
    program traced once (the model's Python body runs once per ``generate`` of one trace: no
    retrace for the partial batch). With ``epoch_size=3`` the minibatches pick the partial batch
    by permutation (``tf.switch_case``)."""
    rng = np.random.default_rng(1)
    n, b = 10, 4
    xs, ys = rng.normal(size=(n, 3)), rng.integers(0, 4, n).astype(np.int32)
    vs = 2.0 * xs[:, 0] + 0.5
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys, vs)).batch(b).map(
        lambda x, y, v: ((x,), {"y": y, "v": v})).repeat()
    assert dataset.element_spec[0][0].shape.as_list() == [None, 3]
    batches = [(xs[i:i + b], ys[i:i + b], vs[i:i + b]) for i in range(0, n, b)]
    order = itertools.cycle(batches)

    def generator():
        x, y, v = next(order)
        return (x,), choicemap({"y": y, "v": v})
    kw = dict(num_epoch=4, seed=3, progress=False, jit_compile=False, **sizes)
    runs = []
    m1, net1, layer1 = _batched_classifier(runs)
    s1 = train(m1, dataset, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m1, net1), **kw)
    m2, net2, layer2 = _batched_classifier([])
    s2 = train(m2, generator, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), m2, net2), **kw)
    np.testing.assert_allclose(s1, s2, rtol=1e-12)
    for name in ("a", "b"):
        np.testing.assert_allclose(float(gentf.get_param(m1, name)), float(gentf.get_param(m2, name)), rtol=1e-12)
    for w1, w2 in zip(layer1.get_weights(), layer2.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-12)
    assert abs(float(gentf.get_param(m1, "a")) - 0.3) > 1e-3  # it trained
    programs = [fn for key, fn in compiled._state(m1).programs.items() if key[0][0][0] == "train-dataset"]
    assert len(programs) == 1 and programs[0].experimental_get_tracing_count() == 1
    per_trace = sizes["num_minibatch"] * sizes["minibatch_size"] + sizes["evaluation_size"]
    assert len(runs) == per_trace, (len(runs), per_trace)  # one trace for 4 epochs and 3 batch shapes
    assert not compiled.is_dynamic(m1)


def test_a_model_that_needs_a_static_batch_length_raises_a_named_error():
    """A Python loop over ``x.shape[0]`` cannot run on a ``.batch(b)`` dataset's unknown leading
    dimension: ``ArgumentError`` saying so (the model is not marked dynamic); with
    ``drop_remainder=True`` it trains compiled."""
    @gen
    def model(x):
        hs = tf.stack([normal(tf.constant(0.0, tf.float64), 1.0) @ ("h", i) for i in range(x.shape[0])])
        normal(param("a") * x + 0.1 * hs, 1.0) @ "y"
    gentf.init_param(model, "a", tf.constant(0.3, tf.float64))
    xs = np.linspace(0.0, 1.0, 10)
    data = tf.data.Dataset.from_tensor_slices(((xs,), {"y": 2.0 * xs}))
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model)
    kw = dict(num_epoch=2, epoch_size=2, minibatch_size=2, seed=0, progress=False)
    with pytest.raises(gentf.ArgumentError, match=r"needs static shapes.*drop_remainder=True"):
        train(model, data.batch(4).repeat(), update, **kw)
    assert not compiled.is_dynamic(model)
    scores = train(model, data.batch(4, drop_remainder=True).repeat(), update, **kw)
    assert np.all(np.isfinite(scores)) and not compiled.is_dynamic(model)
