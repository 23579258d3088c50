"""Observed values are validated as Pyro's ``validate_args`` does: a NaN observation, or a
``bernoulli`` observation other than a bool, 0 or 1, is a ``DomainError`` naming the address,
eagerly, auto-compiled, under the user's ``tf.function`` and in XLA-compiled inference;
``set_validate_args(False)`` turns the checks off."""
import math

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import bernoulli, gen, normal


@gen
def observed_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 1.0) @ "y"


@gen
def coin():
    bernoulli(0.3) @ "c"


@pytest.mark.parametrize("call", [1, 2])  # the second call runs auto-compiled
def test_nan_observation_names_the_address(call):
    with pytest.raises(gentf.DomainError, match="normal at address 'y': the observed value is NaN"):
        gentf.generate(observed_normal, (), {"y": math.nan}, seed=call)
    with pytest.raises(gentf.DomainError, match="address 'x'.*NaN"):
        gentf.assess(observed_normal, (), {"x": np.float32(np.nan), "y": 0.0})
    trace = gentf.simulate(observed_normal, (), seed=0)
    with pytest.raises(gentf.DomainError, match="address 'y'.*NaN"):
        gentf.update(trace, constraints={"y": math.nan})


def test_nan_observation_in_compiled_inference_and_user_graphs():
    with pytest.raises(gentf.DomainError, match="address 'y'.*NaN"):  # XLA: a deferred check
        gentf.importance_sampling(observed_normal, (), {"y": math.nan}, 10, seed=1)

    @tf.function(autograph=False)
    def user_program(y):
        return gentf.generate(observed_normal, (), {"y": y}, seed=0)[1]

    assert np.isfinite(user_program(tf.constant(0.5)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="gentf.DomainError: normal at address .{0,4}y"):
        user_program(tf.constant(math.nan))


def test_validation_can_be_turned_off():
    gentf.set_validate_args(False)
    try:
        _, weight = gentf.generate(observed_normal, (), {"y": math.nan}, seed=0)
        assert np.isnan(weight)
        _, weight = gentf.generate(observed_normal, (), {"y": math.nan}, seed=0)  # compiled
        assert np.isnan(weight)
    finally:
        gentf.set_validate_args(True)
    with pytest.raises(gentf.DomainError):  # the compiled call made with checks off is not reused
        gentf.generate(observed_normal, (), {"y": math.nan}, seed=0)


@pytest.mark.parametrize("value,expected", [(0, False), (1, True), (0.0, False), (1.0, True),
                                            (np.int32(1), True), (True, True)])
@pytest.mark.parametrize("call", [1, 2])
def test_bernoulli_accepts_zero_one_numbers(value, expected, call):
    trace, weight = gentf.generate(coin, (), {"c": value}, seed=0)
    assert trace["c"].dtype == tf.bool and bool(trace["c"]) is expected
    np.testing.assert_allclose(weight, np.log(0.3 if expected else 0.7), rtol=1e-6)


@pytest.mark.parametrize("value", [2, 0.5, -1.0])
@pytest.mark.parametrize("call", [1, 2])
def test_bernoulli_rejects_other_numbers(value, call):
    with pytest.raises(gentf.DomainError, match="bernoulli at address 'c': the observed value must be a bool, 0 or 1"):
        gentf.generate(coin, (), {"c": value}, seed=0)
