"""Each update rule against its textbook trajectory, computed by hand in numpy.

The log density is quadratic: ``log p = sum_k -(x_k - theta_k)^2 / 2 + const`` for a vector
parameter ``theta``, so ``d log p / d theta = x - theta``. Each step generates the model with
*two* data points and accumulates both gradients before ``apply()`` (Gen.jl sums them), so the
accumulated gradient is ``g = (X1 - theta) + (X2 - theta)``. The rules (Gen.jl's documented
formulas, gradient *ascent*), at iteration ``t = 1, 2, ...``:

- ``FixedStepGradientDescent(s)``:  ``theta += s g``
- ``GradientDescent(s0, beta)``:    ``theta += s0 (beta + 1) / (beta + t) g``
- ``ADAM(lr, b1, b2, eps)`` (Kingma & Ba, bias-corrected): ``m = b1 m + (1 - b1) g``,
  ``v = b2 v + (1 - b2) g^2``, ``theta += lr m_hat / (sqrt(v_hat) + eps)``
- a Keras optimizer minimises ``-log p``: it is given ``-g``.

Parameters: a @gen function's ``param`` (eager ``apply`` and inside ``tf.function``), an
eager-form TFFunction's ``tf.Variable`` (a callable and a Keras layer) and a graph-form
TFFunction's ``tf.compat.v1.Variable``. After every ``apply()`` the accumulators are zero.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import (ADAM, FixedStepGradientDescent, GradientDescent, ParamUpdate, TFFunction, choicemap,
                   gen, normal, param)

THETA0 = np.array([0.5, -1.0, 2.0])
X1 = np.array([3.0, -1.0, 2.5])
X2 = np.array([1.0, 4.0, -2.0])
STEPS = 6


# --- the textbook trajectories ------------------------------------------------------------
def textbook(rule, steps=STEPS, theta=THETA0):
    """The parameter after each of ``steps`` updates of ``rule``, by hand in numpy."""
    theta, out = np.array(theta, dtype=np.float64), []
    m = v = velocity = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = (X1 - theta) + (X2 - theta)
        kind, *h = rule
        if kind == "fixed":
            (s,) = h
            theta = theta + s * g
        elif kind == "decay":
            s0, beta = h
            theta = theta + s0 * (beta + 1.0) / (beta + t) * g
        elif kind == "adam":
            lr, b1, b2, eps = h
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g ** 2
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            theta = theta + lr * m_hat / (np.sqrt(v_hat) + eps)
        elif kind == "keras_sgd":  # keras.optimizers.SGD(lr, momentum) on the loss -log p
            lr, mom = h
            velocity = mom * velocity - lr * (-g)
            theta = theta + velocity
        else:
            raise AssertionError(kind)
        out.append(theta.copy())
    return np.array(out)


def test_textbook_helper_by_hand():
    """The helper itself, first steps worked out on paper for theta0 = 0.5 (first coordinate)."""
    g1 = (3.0 - 0.5) + (1.0 - 0.5)  # 3.0
    assert textbook(("fixed", 0.1), 1)[0, 0] == pytest.approx(0.5 + 0.1 * g1)
    assert textbook(("decay", 0.1, 2.0), 1)[0, 0] == pytest.approx(0.5 + 0.1 * g1)  # t=1: s0
    theta1 = 0.5 + 0.1 * g1
    g2 = 4.0 - 2 * theta1
    assert textbook(("decay", 0.1, 2.0), 2)[1, 0] == pytest.approx(theta1 + 0.1 * 3.0 / 4.0 * g2)
    # ADAM's first step has magnitude ~lr in the direction of g (m_hat / sqrt(v_hat) = sign(g))
    assert textbook(("adam", 0.1, 0.9, 0.999, 1e-8), 1)[0, 0] == pytest.approx(0.6, rel=1e-7)


# (gentf rule, textbook rule, rtol)
RULES = [
    (FixedStepGradientDescent(0.1), ("fixed", 0.1), 1e-12),
    (GradientDescent(0.2, 3.0), ("decay", 0.2, 3.0), 1e-12),
    (GradientDescent(0.05, 0.0), ("decay", 0.05, 0.0), 1e-12),  # beta = 0: s0 / t
    (ADAM(0.1, 0.9, 0.999, 1e-8), ("adam", 0.1, 0.9, 0.999, 1e-8), 1e-12),
    (ADAM(0.05, 0.5, 0.9, 1e-2), ("adam", 0.05, 0.5, 0.9, 1e-2), 1e-12),
]
KERAS = [  # Keras keeps float32 hyperparameters: looser tolerance
    (lambda: keras.optimizers.SGD(0.1), ("keras_sgd", 0.1, 0.0), 1e-6),
    (lambda: keras.optimizers.SGD(0.05, momentum=0.9), ("keras_sgd", 0.05, 0.9), 1e-6),
]
ALL = [pytest.param(c, r, tol, id=repr(c)) for c, r, tol in RULES] + \
      [pytest.param(c, r, tol, id=f"keras-{r[0]}-{r[2]}") for c, r, tol in KERAS]


def _conf(conf):
    return conf() if callable(conf) and not hasattr(conf, "step") else conf


def _two_examples(model, args=()):
    for x in (X1, X2):
        trace, _ = gentf.generate(model, args, choicemap({"x": x}))
        gentf.accumulate_param_gradients(trace)


# --- @gen parameters ----------------------------------------------------------------------
def gen_model():
    @gen
    def model():
        normal(param("theta"), 1.0) @ "x"
    gentf.init_param(model, "theta", tf.constant(THETA0, tf.float64))
    return model


@pytest.mark.parametrize("conf, rule, rtol", ALL)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_gen_param(conf, rule, rtol, compiled):
    model = gen_model()
    update = ParamUpdate(_conf(conf), model)
    apply = tf.function(update.apply) if compiled else update.apply
    got = []
    for _ in range(STEPS):
        _two_examples(model)
        theta = got[-1] if got else THETA0
        np.testing.assert_allclose(gentf.get_param_grad(model, "theta"), (X1 - theta) + (X2 - theta), rtol=1e-12)
        apply()
        got.append(gentf.get_param(model, "theta").numpy())
        assert np.all(gentf.get_param_grad(model, "theta").numpy() == 0.0)
    np.testing.assert_allclose(got, textbook(rule), rtol=rtol)


def test_gen_param_spec_forms_agree():
    """``fn``, ``{fn: [names]}`` and ``(fn, [names])`` name the same parameter."""
    results = []
    for spec in (lambda m: m, lambda m: {m: ["theta"]}, lambda m: (m, ["theta"])):
        model = gen_model()
        update = ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), spec(model))
        for _ in range(3):
            _two_examples(model)
            update.apply()
        results.append(gentf.get_param(model, "theta").numpy())
    np.testing.assert_allclose(results, [textbook(("adam", 0.1, 0.9, 0.999, 1e-8), 3)[-1]] * 3, rtol=1e-12)


def test_only_listed_params_move():
    @gen
    def model():
        normal(param("a"), 1.0) @ "x"
        normal(param("b"), 1.0) @ "z"
    gentf.init_param(model, "a", tf.constant(0.0, tf.float64))
    gentf.init_param(model, "b", tf.constant(0.0, tf.float64))
    update = ParamUpdate(FixedStepGradientDescent(0.1), (model, ["a"]))
    trace, _ = gentf.generate(model, (), choicemap({"x": 1.0, "z": 2.0}))
    gentf.accumulate_param_gradients(trace)
    update.apply()
    assert float(gentf.get_param(model, "a")) == pytest.approx(0.1)
    assert float(gentf.get_param(model, "b")) == 0.0
    assert float(gentf.get_param_grad(model, "a")) == 0.0
    assert float(gentf.get_param_grad(model, "b")) == pytest.approx(2.0)  # not ours: left alone


def test_bad_configurations():
    model = gen_model()
    with pytest.raises(gentf.ArgumentError):
        ParamUpdate("sgd", model)
    with pytest.raises(gentf.ArgumentError):
        ParamUpdate(FixedStepGradientDescent(0.1))
    with pytest.raises(gentf.ArgumentError):
        ParamUpdate(FixedStepGradientDescent(0.1), (model, [tf.Variable(1.0)]))


# --- eager-form TFFunction ----------------------------------------------------------------
def eager_callable():
    w = tf.Variable(THETA0, dtype=tf.float64)
    return TFFunction(lambda x: w * x, variables=[w]), lambda: w.numpy(), [w]


class Scale(keras.layers.Layer):
    """A Keras layer ``y = w * x`` with a float64 weight ``w`` (initialised to THETA0)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(3,), dtype="float64",
                                 initializer=keras.initializers.Constant(THETA0))

    def call(self, x):
        return self.w * x


def eager_keras():
    layer = Scale(dtype="float64")
    layer.build((3,))
    return TFFunction(layer), lambda: np.asarray(layer.w.numpy()), layer.trainable_variables


def tf_model(f):
    @gen
    def model():
        mu = f(tf.ones(3, tf.float64)) @ "f"
        normal(mu, 1.0) @ "x"
    return model


@pytest.mark.parametrize("conf, rule, rtol", ALL)
@pytest.mark.parametrize("make", [eager_callable, eager_keras], ids=["callable", "keras-layer"])
def test_eager_tffunction(conf, rule, rtol, make):
    f, value, variables = make()
    model = tf_model(f)
    update = ParamUpdate(_conf(conf), f)
    got = []
    for _ in range(STEPS):
        _two_examples(model)
        update.apply()
        got.append(value())
        for v in f.param_variables():
            assert np.all(gentf.get_param_grad_tf_var(f, v).numpy() == 0.0)
    np.testing.assert_allclose(got, textbook(rule), rtol=rtol)


def test_eager_tffunction_inside_tf_function():
    f, value, _ = eager_callable()
    model = tf_model(f)
    update = ParamUpdate(ADAM(0.1, 0.9, 0.999, 1e-8), f)

    @tf.function(autograph=False)
    def step():
        _two_examples(model)
        update.apply()
    for _ in range(STEPS):
        step()
    np.testing.assert_allclose(value(), textbook(("adam", 0.1, 0.9, 0.999, 1e-8))[-1], rtol=1e-12)


def test_eager_tffunction_own_trace_accumulates():
    """``accumulate_param_gradients`` on the TFFunction's own trace with ``retval_grad`` dy adds
    ``J_theta(y)^T dy``; FixedStep then moves theta by ``s * dy * x``."""
    f, value, (w,) = eager_callable()
    x = tf.constant([1.0, 2.0, 3.0], tf.float64)
    trace = gentf.simulate(f, (x,))
    dy = tf.constant([1.0, -1.0, 0.5], tf.float64)
    gentf.accumulate_param_gradients(trace, dy)
    np.testing.assert_allclose(gentf.get_param_grad_tf_var(f, w).numpy(), dy.numpy() * x.numpy())
    ParamUpdate(FixedStepGradientDescent(0.5), f).apply()
    np.testing.assert_allclose(value(), THETA0 + 0.5 * dy.numpy() * x.numpy(), rtol=1e-12)
    assert np.all(gentf.get_param_grad_tf_var(f, w).numpy() == 0.0)


# --- graph-form TFFunction ----------------------------------------------------------------
def graph_fn():
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float64, shape=(3,))
        w = tf.compat.v1.Variable(THETA0)
        y = w * x
    return TFFunction([w], [x], y), w


@pytest.mark.parametrize("conf, rule, rtol", ALL)
@pytest.mark.parametrize("spec", ["pair", "fn", "dict"])
def test_graph_tffunction(conf, rule, rtol, spec):
    f, w = graph_fn()
    model = tf_model(f)
    update = ParamUpdate(_conf(conf), {"pair": (f, [w]), "fn": f, "dict": {f: [w]}}[spec])
    acc = gentf.get_param_grad_tf_var(f, w)
    got = []
    for _ in range(STEPS):
        _two_examples(model)
        assert np.any(gentf.runtf(f, acc) != 0.0)
        update.apply()
        got.append(gentf.runtf(f, w))
        assert np.all(gentf.runtf(f, acc) == 0.0)
    np.testing.assert_allclose(got, textbook(rule), rtol=rtol)


@pytest.mark.parametrize("conf, rule, rtol", ALL[:4] + ALL[-1:])
def test_graph_tffunction_inside_tf_function(conf, rule, rtol):
    """Accumulation and apply in one ``tf.function`` (as ``train`` compiles an epoch): the update
    runs after the accumulation."""
    f, w = graph_fn()
    model = tf_model(f)
    update = ParamUpdate(_conf(conf), (f, [w]))

    @tf.function(autograph=False)
    def step():
        _two_examples(model)
        update.apply()
    got = []
    for _ in range(STEPS):
        step()
        got.append(gentf.runtf(f, w))
    np.testing.assert_allclose(got, textbook(rule), rtol=rtol)
    assert np.all(gentf.runtf(f, gentf.get_param_grad_tf_var(f, w)) == 0.0)


def test_mixed_gen_and_graph_params_in_one_update():
    """One ParamUpdate over a @gen param and a graph-form TFFunction's Variable: both ascend."""
    f, w = graph_fn()

    @gen
    def model():
        mu = f(tf.ones(3, tf.float64)) @ "f"
        normal(mu + param("shift"), 1.0) @ "x"
    gentf.init_param(model, "shift", tf.constant(np.zeros(3), tf.float64))
    update = ParamUpdate(FixedStepGradientDescent(0.1), model, (f, [w]))
    trace, _ = gentf.generate(model, (), choicemap({"x": X1}))
    gentf.accumulate_param_gradients(trace)
    update.apply()
    g = X1 - THETA0
    np.testing.assert_allclose(gentf.runtf(f, w), THETA0 + 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(gentf.get_param(model, "shift"), 0.1 * g, rtol=1e-12)
    assert np.all(gentf.get_param_grad(model, "shift").numpy() == 0.0)
    assert np.all(gentf.runtf(f, gentf.get_param_grad_tf_var(f, w)) == 0.0)
