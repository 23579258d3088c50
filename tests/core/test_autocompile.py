"""Repeated eager GFI calls run compiled, with the same numbers; dynamic models stay eager."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import bernoulli, gen, normal
from gentf.core import autocompile


@gen
def chain(k):
    total = 0.0
    for i in range(k):
        total += normal(0.0, 1.0) @ ("x", i)
    return total


def test_compiled_calls_give_the_eager_numbers():
    runs = [gentf.simulate(chain, (5,), seed=7) for _ in range(3)]  # eager, compiled, compiled
    assert autocompile._states[chain].compiled, "the repeated call was not compiled"
    for r in runs[1:]:
        assert r.get_choices() == runs[0].get_choices()
        np.testing.assert_allclose(r.score, runs[0].score, rtol=1e-6)
    cm = gentf.choicemap({("x", 0): 0.5})
    weights = [float(gentf.generate(chain, (5,), cm, seed=1)[1]) for _ in range(3)]
    assert weights[0] == pytest.approx(weights[1]) == pytest.approx(weights[2])
    updates = [gentf.update(runs[0], None, None, {("x", 1): 2.0}) for _ in range(3)]
    for u in updates:
        np.testing.assert_allclose(u[1], updates[0][1], rtol=1e-6)
        assert u[2] is gentf.UnknownChange
        np.testing.assert_allclose(u[3][("x", 1)], runs[0][("x", 1)])
    regens = [gentf.regenerate(runs[0], None, None, gentf.select(("x", 2)), seed=3) for _ in range(3)]
    assert regens[1][0].get_choices() == regens[0][0].get_choices()
    state = autocompile._states[chain]
    assert not state.dynamic, "a static model fell back to eager"
    assert {key[0] for key in state.compiled} >= {"simulate", "generate", "update", "regenerate"}


@gen
def coin():
    if bernoulli(0.5) @ "h":
        normal(0.0, 1.0) @ "e"


def test_random_structure_falls_back_to_eager():
    for s in range(4):
        gentf.simulate(coin, (), seed=s)
    assert autocompile._states[coin].dynamic


@gen
def scaled(s):
    return normal(0.0, s) @ "x"


def test_domain_errors_survive_compilation():
    for _ in range(3):
        with pytest.raises(gentf.DomainError, match="normal at address 'x'"):
            gentf.simulate(scaled, (tf.constant(-1.0),))


def test_auto_compile_can_be_turned_off():
    @gen
    def f():
        return normal(0.0, 1.0) @ "x"
    gentf.set_auto_compile(False)
    try:
        for _ in range(3):
            gentf.simulate(f, ())
        assert f not in autocompile._states
    finally:
        gentf.set_auto_compile(True)


@gen
def sloped(xs):
    slope = normal(tf.zeros([], xs.dtype), 1.0) @ "slope"
    return normal(slope * xs, 1.0) @ "ys"


def test_a_trace_with_tensor_arguments_is_a_while_loop_variable():
    trace = gentf.simulate(sloped, (tf.constant([1.0, 2.0]),), seed=0)

    def step(i, tr):
        new, _, _ = gentf.regenerate(tr, None, None, gentf.select("slope"), seed=tf.stack([0, i]))
        return i + 1, new
    _, last = tf.while_loop(lambda i, tr: i < 3, step, (tf.constant(0), trace))
    assert isinstance(last.args[0], tf.Tensor)
    np.testing.assert_array_equal(last.args[0], [1.0, 2.0])
    np.testing.assert_array_equal(last["ys"], trace["ys"])
