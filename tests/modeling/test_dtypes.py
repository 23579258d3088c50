"""Dtypes as Gen.jl users expect: Python numbers are weakly typed (they take the dtype of the
tensors they meet), choices that meet no tensor get the default float (``set_default_float``),
and float64 parameters work in every model, also one without random choices."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal


@pytest.fixture
def float64_default():
    gentf.set_default_float(tf.float64)
    try:
        yield
    finally:
        gentf.set_default_float(tf.float32)


@gen
def literal_prior(x):
    a = normal(0.0, 1.0) @ "a"        # meets no tensor: the default float
    return normal(a * x, 1.0) @ "y"   # the literal 1.0 takes a * x's dtype


@gen
def literal_beside_data(sigma):
    return normal(0.0, sigma) @ "z"   # 0.0 takes sigma's dtype


def test_literals_take_the_dtype_of_the_tensors_they_meet():
    trace = gentf.simulate(literal_beside_data, (tf.constant(2.0, tf.float64),), seed=0)
    assert trace["z"].dtype == tf.float64 and trace.score.dtype == tf.float64
    assert gentf.simulate(literal_prior, (tf.constant(2.0),), seed=0)["a"].dtype == tf.float32


@pytest.mark.parametrize("call", [1, 2])  # the second call runs auto-compiled
def test_default_float_for_choices_that_meet_no_tensor(float64_default, call):
    x = tf.constant(3.0, tf.float64)
    trace, weight = gentf.generate(literal_prior, (x,), {"y": 0.5}, seed=call)
    assert trace["a"].dtype == tf.float64 and trace.score.dtype == tf.float64
    a = float(trace["a"])
    lp = lambda v, m: -0.5 * (v - m) ** 2 - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(weight, lp(0.5, 3.0 * a), rtol=1e-12)
    np.testing.assert_allclose(trace.score, lp(a, 0.0) + lp(0.5, 3.0 * a), rtol=1e-12)
    assert normal(0.0, 1.0).dtype == tf.float64  # outside a model too


def test_set_default_float_rejects_other_dtypes():
    with pytest.raises(ValueError, match="float16"):
        gentf.set_default_float(tf.float16)


@gen
def deterministic():
    return gentf.param("w") * 3.0


@gen
def with_choice(x):
    return normal(gentf.param("m"), 1.0) @ "v"


@pytest.mark.parametrize("call", [1, 2])
def test_float64_params_accumulate_in_a_model_without_choices(call):
    gentf.init_param(deterministic, "w", tf.constant(1.5, tf.float64))
    trace = gentf.simulate(deterministic, ())
    assert trace.score.dtype == tf.float32  # the empty score: the default float
    gentf.zero_param_grad(deterministic, "w")
    gentf.accumulate_param_gradients(trace, tf.constant(2.0, tf.float64), scale=0.5)
    grad = gentf.get_param_grad(deterministic, "w")
    assert grad.dtype == tf.float64
    np.testing.assert_allclose(grad, 0.5 * 2.0 * 3.0, rtol=1e-15)


def test_float64_params_accumulate_beside_choices():
    gentf.init_param(with_choice, "m", tf.constant(0.25, tf.float64))
    trace, _ = gentf.generate(with_choice, (1.0,), {"v": 1.0})
    gentf.zero_param_grad(with_choice, "m")
    gentf.accumulate_param_gradients(trace)
    np.testing.assert_allclose(gentf.get_param_grad(with_choice, "m"), 1.0 - 0.25, rtol=1e-15)
