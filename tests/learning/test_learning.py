"""ParamUpdate's rules against hand-computed trajectories, and train's semantics."""
import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import (ADAM, FixedStepGradientDescent, GradientDescent, ParamUpdate, TFFunction, choicemap,
                   gen, normal, param, train)

C = 3.0  # log p = -(C - theta)^2 / 2 + const, so g = C - theta


def quadratic_model():
    @gen
    def model():
        normal(param("theta"), 1.0) @ "x"
    gentf.init_param(model, "theta", tf.constant(0.5, tf.float64))
    return model


def step(model, update):
    trace, _ = gentf.generate(model, (), choicemap({"x": C}))
    gentf.accumulate_param_gradients(trace)
    update.apply()


def expected(conf, steps, theta=0.5):
    out, m, v = [], 0.0, 0.0
    for t in range(1, steps + 1):
        g = C - theta
        if isinstance(conf, FixedStepGradientDescent):
            theta += conf.step_size * g
        elif isinstance(conf, GradientDescent):
            theta += conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + t) * g
        else:
            m = conf.beta1 * m + (1 - conf.beta1) * g
            v = conf.beta2 * v + (1 - conf.beta2) * g * g
            theta += conf.learning_rate * (m / (1 - conf.beta1 ** t)) / (np.sqrt(v / (1 - conf.beta2 ** t)) + conf.epsilon)
        out.append(theta)
    return np.array(out)


CONFS = [FixedStepGradientDescent(0.1), GradientDescent(0.2, 2.0), ADAM(0.1, 0.9, 0.999, 1e-8)]


@pytest.mark.parametrize("conf", CONFS, ids=repr)
@pytest.mark.parametrize("compiled", [False, True])
def test_rule_matches_textbook_on_quadratic(conf, compiled):
    model = quadratic_model()
    update = ParamUpdate(conf, model)
    apply = tf.function(update.apply) if compiled else update.apply
    got = []
    for _ in range(5):
        trace, _ = gentf.generate(model, (), choicemap({"x": C}))
        gentf.accumulate_param_gradients(trace)
        apply()
        got.append(float(gentf.get_param(model, "theta")))
        assert float(gentf.get_param_grad(model, "theta")) == 0.0
    np.testing.assert_allclose(got, expected(conf, 5), rtol=1e-12)


def test_keras_optimizer_ascends():
    model = quadratic_model()
    update = ParamUpdate(keras.optimizers.SGD(0.1), {model: ["theta"]})
    for _ in range(3):
        step(model, update)
    np.testing.assert_allclose(float(gentf.get_param(model, "theta")),
                               expected(FixedStepGradientDescent(0.1), 3)[-1], rtol=1e-6)  # Keras: float32 lr


def graph_linear():
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float64, shape=())
        w = tf.compat.v1.Variable(np.float64(0.5))
        y = w * x
    return TFFunction([w], [x], y), w


@pytest.mark.parametrize("conf", CONFS + [keras.optimizers.SGD(0.1)], ids=repr)
def test_graph_form_tffunction_params(conf):
    f, w = graph_linear()

    @gen
    def model():
        normal(f(1.0) @ "f", 1.0) @ "x"
    update = ParamUpdate(conf, (f, [w]))
    for _ in range(4):
        step(model, update)
    want = expected(conf if isinstance(conf, gentf.learning.UpdateConf) else FixedStepGradientDescent(0.1), 4)[-1]
    np.testing.assert_allclose(gentf.runtf(f, w), want, rtol=1e-12 if hasattr(conf, "step") else 1e-6)
    assert gentf.runtf(f, gentf.get_param_grad_tf_var(f, w)) == 0.0


def test_eager_tffunction_params():
    w = tf.Variable(np.float64(0.5))
    f = TFFunction(lambda x: w * x, variables=[w])

    @gen
    def model():
        normal(f(tf.constant(1.0, tf.float64)) @ "f", 1.0) @ "x"
    update = ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), f)
    for _ in range(4):
        step(model, update)
    np.testing.assert_allclose(w.numpy(), expected(ADAM(0.1, 0.9, 0.999, 1e-8), 4)[-1], rtol=1e-12)


def test_train_scores_callback_and_sum_scaling():
    model = quadratic_model()
    xs = iter(np.arange(100, dtype=np.float64))
    seen = []
    scores = train(model, lambda: ((), choicemap({"x": next(xs)})), ParamUpdate(FixedStepGradientDescent(0.01), model),
                   num_epoch=2, epoch_size=3, num_minibatch=1, minibatch_size=3, evaluation_size=2,
                   callback=lambda e, s: seen.append((e, s)), seed=0)
    # epoch 0: data 0,1,2 (sum of gradients, Gen.jl's scale 1); evaluation on 3,4
    theta = 0.5 + 0.01 * sum(x - 0.5 for x in (0, 1, 2))
    lp = lambda x, th: -0.5 * (x - th) ** 2 - 0.5 * np.log(2 * np.pi)
    s0 = (lp(3, theta) + lp(4, theta)) / 2
    theta += 0.01 * sum(x - theta for x in (5, 6, 7))
    s1 = (lp(8, theta) + lp(9, theta)) / 2
    assert scores.shape == (2,) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, [s0, s1], rtol=1e-12)
    assert [e for e, _ in seen] == [0, 1] and np.allclose([s for _, s in seen], scores)


def test_train_is_compiled_for_a_static_model():
    runs = []

    @gen
    def model():
        runs.append(1)
        normal(param("theta"), 1.0) @ "x"
    gentf.init_param(model, "theta", tf.constant(0.0, tf.float64))
    update = ParamUpdate(FixedStepGradientDescent(0.01), model)
    data = lambda: ((), choicemap({"x": np.random.rand()}))
    train(model, data, update, num_epoch=3, seed=1)
    after_three = len(runs)
    train(model, data, update, num_epoch=20, seed=1)
    assert len(runs) - after_three <= after_three  # a new runner traces once, never per epoch


def test_train_falls_back_to_eager_for_dynamic_structure():
    @gen
    def model():
        k = normal(param("theta"), 1.0) @ "x"
        if k > 0:  # structure depends on a value: cannot be traced
            normal(0.0, 1.0) @ "z"
    gentf.init_param(model, "theta", tf.constant(0.0, tf.float64))
    scores = train(model, lambda: ((), choicemap({"x": 1.0})), ParamUpdate(FixedStepGradientDescent(0.1), model),
                   num_epoch=2, seed=0)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    np.testing.assert_allclose(float(gentf.get_param(model, "theta")), 0.19, rtol=1e-12)


def _tutorial():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tutorial.py")
    spec = importlib.util.spec_from_file_location("tutorial", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tutorial_reaches_090_on_digits():
    tutorial = _tutorial()
    acc, _, scores = tutorial.run_softmax(gentf.datasets.load_digits(), iters=200, step=1e-2, vectorized=True, seed=0)
    assert acc >= 0.90 and scores.shape == (200,) and scores[-1] > scores[0]


def test_tutorial_per_choice_equals_vectorized():
    tutorial = _tutorial()
    data = gentf.datasets.load_digits()
    a = tutorial.run_softmax(data, iters=3, step=1e-2, vectorized=True, batch_size=8, seed=0)
    b = tutorial.run_softmax(data, iters=3, step=1e-2, vectorized=False, batch_size=8, seed=0)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-10)
