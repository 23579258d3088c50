"""Observed values are validated as Pyro's ``validate_args`` does: a NaN or infinite
observation, a ``bernoulli`` observation other than a bool, 0 or 1, or a ``categorical`` one
outside ``0..K-1``, is a ``DomainError`` naming the address, eagerly, auto-compiled, under the
user's ``tf.function`` and in XLA-compiled inference; so is a NaN or infinite distribution
argument, named as an argument; ``set_validate_args(False)`` turns the checks off."""
import math

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import bernoulli, categorical, gen, normal


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


@gen
def observed_many():
    """Several normals of one shape: in a graph they are scored as one batch (``batched_scores``)."""
    for i in range(3):
        z = normal(0.0, 1.0) @ ("z", i)
        normal(z, 1.0) @ ("x", i)


@gen
def three_categories():
    categorical(tf.constant([0.2, 0.3, 0.5])) @ "c"


@gen
def nan_network():
    z = normal(0.0, 1.0) @ "z"
    normal(z * math.nan, 1.0) @ "x"  # a network output that became NaN, used as the mean


@gen
def inf_scale():
    normal(0.0, 1.0) @ "z"
    normal(0.0, math.inf) @ "x"


def _run(how, model, constraints):
    if how == "importance_sampling":
        return gentf.importance_sampling(model, (), constraints, 10, seed=1)
    return gentf.generate(model, (), constraints, seed=how)


HOW = [1, 2, "importance_sampling"]  # eager, auto-compiled (the second call), XLA-compiled inference


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("value,what", [(math.inf, "infinite"), (-math.inf, "infinite"), (math.nan, "NaN")])
def test_nonfinite_observation_names_its_address(how, value, what):
    # the NaN check used to be the only one (an inf gave weight -inf, all-NaN normalised weights)
    with pytest.raises(gentf.DomainError, match=f"^normal at address 'y': the observed value is {what}$"):
        _run(how, observed_normal, {"y": value})


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("value,what", [(math.inf, "infinite"), (math.nan, "NaN")])
def test_nonfinite_observation_in_a_batch_names_its_member(how, value, what):
    with pytest.raises(gentf.DomainError, match=rf"^normal at address \('x', 1\): the observed value is {what}$"):
        _run(how, observed_many, {("x", 0): 0.5, ("x", 1): value, ("x", 2): 0.1})


def test_infinite_observation_in_update():
    trace = gentf.simulate(observed_normal, (), seed=0)
    with pytest.raises(gentf.DomainError, match="^normal at address 'y': the observed value is infinite$"):
        gentf.update(trace, constraints={"y": math.inf})


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("value", [7, 3, -1])
def test_out_of_range_category_names_its_address(how, value):
    # Gen.jl indexes probs (a BoundsError); it used to give weight -inf and NaN normalised weights
    with pytest.raises(gentf.DomainError, match=r"^categorical at address 'c': the observed value must be a category in 0\.\.2$"):
        _run(how, three_categories, {"c": value})
    _, weight = gentf.generate(three_categories, (), {"c": 2}, seed=0)
    np.testing.assert_allclose(weight, np.log(0.5), rtol=1e-6)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("model,message", [(nan_network, "normal at address 'x': the argument mu is NaN"),
                                           (inf_scale, "normal at address 'x': the argument std is infinite")])
def test_nonfinite_argument_is_named_as_an_argument(how, model, message):
    with pytest.raises(gentf.DomainError, match=f"^{message}$"):
        _run(how, model, {"x": 0.5})


@pytest.mark.parametrize("how", HOW)
def test_nan_observation_blames_its_own_address(how):
    # the NaN observed x must not be reported as another choice's argument
    @gen
    def model():
        z = normal(0.0, 1.0) @ "z"
        normal(z, 1.0) @ "x"
    with pytest.raises(gentf.DomainError, match="^normal at address 'x': the observed value is NaN$"):
        _run(how, model, {"x": float("nan")})


def test_nonfinite_checks_can_be_turned_off():
    gentf.set_validate_args(False)
    try:
        for _ in range(2):  # eager, then compiled
            assert gentf.generate(observed_normal, (), {"y": math.inf}, seed=0)[1] == -math.inf
            assert gentf.generate(three_categories, (), {"c": 7}, seed=0)[1] == -math.inf
            assert np.isnan(gentf.generate(nan_network, (), {"x": 0.5}, seed=0)[1])
    finally:
        gentf.set_validate_args(True)


@pytest.mark.parametrize("call", [1, 2])
@pytest.mark.parametrize("value,what", [(math.inf, "infinite"), (math.nan, "NaN")])
def test_bad_value_is_named_not_the_argument_it_makes(call, value, what):
    # x is y's mean: in a graph x and y are scored as one batch, whose checks used to name y's
    # argument (checked before every value) instead of the observed x
    with pytest.raises(gentf.DomainError, match=f"^normal at address 'x': the observed value is {what}$"):
        gentf.assess(observed_normal, (), {"x": value, "y": 0.0})
