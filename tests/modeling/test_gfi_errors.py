"""Bad input gets a named gentf exception that names the address or argument."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import categorical, gen, normal


@gen
def twice():
    normal(0.0, 1.0) @ "x"
    normal(0.0, 1.0) @ "x"


@gen
def nested_clash():
    normal(0.0, 1.0) @ "a"
    normal(0.0, 1.0) @ ("a", 1)


@gen
def simple():
    x = normal(0.0, 1.0) @ "x"
    return normal(x, 1.0) @ "y"


@gen
def scaled(s):
    return normal(0.0, s) @ "x"


@gen
def probs_model(p):
    return categorical(p) @ "k"


@gen
def forgets_address():
    normal(0.0, 1.0)  # never addressed
    return 1.0


@gen
def uses_unaddressed():
    return normal(0.0, 1.0) + 1.0


def test_same_address_twice():
    with pytest.raises(gentf.DuplicateAddressError, match="'x'"):
        gentf.simulate(twice, ())
    with pytest.raises(gentf.DuplicateAddressError, match=r"\('a', 1\)"):
        gentf.simulate(nested_clash, ())


def test_constraint_at_unvisited_address():
    with pytest.raises(gentf.UnvisitedConstraintError, match="'z'"):
        gentf.generate(simple, (), {"z": 1.0})
    trace = gentf.simulate(simple, (), seed=0)
    with pytest.raises(gentf.UnvisitedConstraintError, match=r"\('x', 2\)"):
        gentf.update(trace, None, None, {("x", 2): 1.0})


def test_assess_with_a_missing_choice():
    with pytest.raises(gentf.MissingChoiceError, match="'y'"):
        gentf.assess(simple, (), {"x": 0.1})


def test_selection_of_the_wrong_type():
    trace = gentf.simulate(simple, (), seed=0)
    with pytest.raises(gentf.SelectionTypeError):
        gentf.regenerate(trace, None, None, ["x"])
    with pytest.raises(gentf.SelectionTypeError):
        gentf.choice_gradients(trace, "x")


def test_constraint_of_the_wrong_type():
    with pytest.raises(gentf.ConstraintTypeError):
        gentf.generate(simple, (), ("x", 1.0))


def test_argument_out_of_domain_eager_and_compiled():
    with pytest.raises(gentf.DomainError, match="'x'"):
        gentf.simulate(scaled, (-1.0,))
    with pytest.raises(tf.errors.InvalidArgumentError, match="DomainError: normal at address"):
        tf.function(lambda: gentf.simulate(scaled, (tf.constant(-1.0),), seed=1).score)()
    with pytest.raises(gentf.DomainError, match="'k'"):
        gentf.simulate(probs_model, (np.array([0.5, 0.6]),))


def test_update_constraint_shape_or_dtype_mismatch():
    trace = gentf.simulate(simple, (), seed=0)
    with pytest.raises(gentf.ConstraintMismatchError, match="'x'.*shape"):
        gentf.update(trace, None, None, {"x": np.zeros(3, np.float32)})
    with pytest.raises(gentf.ConstraintMismatchError, match="'x'.*dtype"):
        gentf.update(trace, None, None, {"x": tf.constant(True)})
    with pytest.raises(gentf.ConstraintMismatchError, match="'x'"):
        gentf.generate(simple, (), {"x": np.zeros((2, 2))})


def test_unaddressed_calls_are_errors():
    with pytest.raises(gentf.UnaddressedCallError, match="normal"):
        gentf.simulate(forgets_address, ())
    with pytest.raises(gentf.UnaddressedCallError, match="normal"):
        gentf.simulate(uses_unaddressed, ())


def test_params_outside_a_model_and_uninitialised():
    with pytest.raises(gentf.NotInModelError):
        gentf.param("theta")

    @gen
    def needs_theta():
        return normal(gentf.param("theta"), 1.0) @ "x"
    with pytest.raises(gentf.AddressError, match="theta"):
        gentf.simulate(needs_theta, ())


def test_discrete_choice_gradient_is_an_error():
    trace = gentf.simulate(probs_model, (np.array([0.5, 0.5]),), seed=0)
    with pytest.raises(gentf.NonDifferentiableError, match="'k'"):
        gentf.choice_gradients(trace, gentf.select("k"))


def test_state_is_not_lost_after_an_error():
    trace = gentf.simulate(simple, (), seed=0)
    before = trace.get_choices()
    with pytest.raises(gentf.UnvisitedConstraintError):
        gentf.update(trace, None, None, {"nope": 1.0})
    assert trace.get_choices() == before
    gentf.simulate(simple, ())  # the handler stack is clean again
    assert gentf.core.gfi.active_handler() is None
