"""Gradients (choice_gradients, accumulate_param_gradients) against central finite
differences of assess, in float64, eagerly and under tf.function."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf.testing import finite_difference_gradient
from gentf import gen, normal, gamma

EPS = 1e-6


def central(f, x):
    return finite_difference_gradient(f, x, EPS)


@gen
def regression(xs, noise):
    one = tf.ones([], xs.dtype)
    slope = normal(0.0 * one, one) @ "slope"
    scale = gamma(2.0 * one, one) @ "scale"
    ys = normal(slope * xs * scale, noise) @ "ys"
    return slope * tf.reduce_sum(ys)


XS = tf.constant([0.5, -1.0, 2.0], tf.float64)
NOISE = tf.constant(0.7, tf.float64)


def logp(slope, scale, ys, xs=XS, noise=NOISE, retval_grad=0.0):
    cm = gentf.choicemap({"slope": slope, "scale": scale, "ys": ys})
    w, r = gentf.assess(regression, (xs, noise), cm)
    return float(w) + retval_grad * float(r)




@pytest.mark.parametrize("compiled", [False, True])
def test_choice_and_argument_gradients_match_finite_differences(compiled):
    trace = gentf.simulate(regression, (XS, NOISE), seed=3)
    slope, scale, ys = (trace[a].numpy() for a in ("slope", "scale", "ys"))
    call = lambda: gentf.choice_gradients(trace, gentf.select("slope", "ys"), tf.constant(0.3, tf.float64))
    (g_xs, g_noise), values, grads = tf.function(call)() if compiled else call()
    np.testing.assert_allclose(values["slope"], slope)
    np.testing.assert_allclose(grads["slope"], central(lambda s: logp(s, scale, ys, retval_grad=0.3), slope), rtol=1e-6)
    np.testing.assert_allclose(grads["ys"], central(lambda y: logp(slope, scale, y, retval_grad=0.3), ys), rtol=1e-6)
    np.testing.assert_allclose(g_xs, central(lambda x: logp(slope, scale, ys, tf.constant(x), retval_grad=0.3),
                                             XS.numpy()), rtol=1e-6)
    np.testing.assert_allclose(g_noise, central(lambda n: logp(slope, scale, ys, XS, tf.constant(n), 0.3),
                                                NOISE.numpy()), rtol=1e-6)
    assert not grads.has_value("scale")


@gen
def with_params(x):
    w = gentf.param("w")
    b = gentf.param("b")
    return normal(tf.reduce_sum(w * x) + b, 0.5) @ "y"


def test_param_gradients_accumulate_with_scale_and_match_finite_differences():
    gentf.init_param(with_params, "w", tf.constant([0.3, -0.2], tf.float64))
    gentf.init_param(with_params, "b", tf.constant(0.1, tf.float64))
    x = tf.constant([1.5, 2.0], tf.float64)
    trace, _ = gentf.generate(with_params, (x,), {"y": 0.4})

    def objective(w, b):
        gentf.set_param(with_params, "w", w)
        gentf.set_param(with_params, "b", b)
        return float(gentf.assess(with_params, (x,), {"y": 0.4})[0]) + 2.0 * 0.4

    w0, b0 = np.array([0.3, -0.2]), 0.1
    expect_w = central(lambda w: objective(w, b0), w0)
    expect_b = central(lambda b: objective(w0, b), b0)
    gentf.set_param(with_params, "w", w0)
    gentf.set_param(with_params, "b", b0)
    gentf.zero_param_grad(with_params, "w")
    gentf.zero_param_grad(with_params, "b")
    gentf.accumulate_param_gradients(trace, tf.constant(2.0, tf.float64), 1.0)
    tf.function(lambda: gentf.accumulate_param_gradients(trace, tf.constant(2.0, tf.float64), 0.5))()
    np.testing.assert_allclose(gentf.get_param_grad(with_params, "w"), 1.5 * expect_w, rtol=1e-6)
    np.testing.assert_allclose(gentf.get_param_grad(with_params, "b"), 1.5 * expect_b, rtol=1e-6)
    assert sorted(gentf.get_params(with_params)) == ["b", "w"]
    gentf.zero_param_grad(with_params, "w")
    assert np.all(gentf.get_param_grad(with_params, "w").numpy() == 0)
