"""Across combinators: choice and argument gradients against central finite differences of
assess (float64), parameter gradients of kernels, tf.function runs giving the eager numbers,
and combinators called from @gen models."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf.testing import finite_difference_gradient
from gentf import (Map, NoChange, Recurse, Switch, Unfold, UnknownChange, gen, normal, select)

EPS = 1e-6


def central(f, x):
    return finite_difference_gradient(f, x, EPS)
F64 = tf.float64  # every model here is float64, so that finite differences are accurate


@gen
def obs(x, sigma):
    return normal(x, sigma) @ "y"


@gen
def step(t, state, sigma):
    return normal(state, sigma) @ "x"


@gen
def production(depth):
    v = normal(tf.constant(0.0, F64), 1.0) @ "v"
    return v, [depth + 1] if depth < 2 else []


@gen
def aggregation(v, rets):
    return normal(v + sum(rets), 0.5) @ "o"


@gen
def shifted(mu):
    return normal(mu + 1.0, 2.0) @ "x"


XS = tf.constant([0.5, -1.0, 2.0], F64)
SIG = tf.constant([1.0, 0.5, 2.0], F64)
INIT, S = tf.constant(0.5, F64), tf.constant(0.8, F64)
CASES = {
    "map": (Map(obs), (XS, SIG), (1, "y")),
    "unfold": (Unfold(step), (3, INIT, S), (1, "x")),
    "recurse": (Recurse(production, aggregation, 1), (0,), ("production", 1, "v")),
    "switch": (Switch(obs, shifted), (1, tf.constant(0.3, F64)), ("x",)),
}




def retval_sum(r):
    return sum(float(tf.reduce_sum(tf.cast(v, F64))) for v in tf.nest.flatten(r))


@pytest.mark.parametrize("name", list(CASES))
def test_choice_and_arg_gradients_match_finite_differences(name):
    fn, args, addr = CASES[name]
    trace = gentf.simulate(fn, args, seed=1)
    choices = trace.get_choices()
    g = 0.7  # retval_grad: every leaf of the return value gets weight 0.7
    retval_grad = tf.nest.map_structure(lambda r: tf.constant(g, F64), trace.retval)
    arg_grads, values, grads = gentf.choice_gradients(trace, select(addr), retval_grad)
    assert values.addresses() == [addr]

    def objective(value, new_args=args):
        cm = gentf.choicemap(dict(choices.items()))
        cm.set(addr, tf.constant(float(value), F64))
        w, r = gentf.assess(fn, new_args, cm)
        return float(w) + g * retval_sum(r)
    np.testing.assert_allclose(grads[addr], central(objective, float(values[addr])), rtol=1e-5, atol=1e-7)

    for i, a in enumerate(args):
        if not (isinstance(a, tf.Tensor) and a.dtype == F64):
            assert arg_grads[i] is None
            continue

        def of_arg(v, i=i):
            new_args = list(args)
            new_args[i] = tf.constant(v, F64)
            return objective(float(values[addr]), tuple(new_args))
        np.testing.assert_allclose(arg_grads[i], central(of_arg, a.numpy()), rtol=1e-5, atol=1e-7)


def test_kernel_param_gradients_accumulate():
    @gen
    def scaled(x):
        return normal(gentf.param("w") * x, 1.0) @ "y"
    gentf.init_param(scaled, "w", tf.constant(0.3, F64))
    trace = gentf.simulate(Map(scaled), (XS,), seed=2)
    y = np.array([float(trace[(i, "y")]) for i in range(3)])
    gentf.zero_param_grad(scaled, "w")
    gentf.accumulate_param_gradients(trace, None, 2.0)
    x = XS.numpy()
    np.testing.assert_allclose(gentf.get_param_grad(scaled, "w"), 2.0 * np.sum((y - 0.3 * x) * x), rtol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_same_numbers_eagerly_and_in_tf_function(name):
    fn, args, addr = CASES[name]
    gentf.set_auto_compile(False)
    try:
        def run():
            trace = gentf.simulate(fn, args, seed=3)
            constrained, w = gentf.generate(fn, args, {addr: 0.25}, seed=4)
            return trace, constrained, w
        eager = run()
        graph = tf.function(run)()
    finally:
        gentf.set_auto_compile(True)
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(graph)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert graph[0].get_choices().addresses() == eager[0].get_choices().addresses()


def test_smc_style_extension_inside_tf_function():
    walk = Unfold(step)

    @tf.function
    def extend(trace, y):
        n = len(trace.retval)
        return gentf.update(trace, (n + 1, INIT, S), (UnknownChange, NoChange, NoChange),
                            {(n, "x"): y}, seed=5)[:2]
    trace = gentf.simulate(walk, (3, INIT, S), seed=6)
    new, w = extend(trace, tf.constant(1.5, F64))
    np.testing.assert_allclose(w, stats.norm.logpdf(1.5, float(trace.retval[-1]), 0.8), rtol=1e-12)
    np.testing.assert_allclose(new.score, float(trace.score) + float(w), rtol=1e-12)


def test_combinators_inside_gen_models():
    walk = Unfold(step)

    @gen
    def model(n):
        sigma = normal(tf.constant(1.0, F64), 0.1) @ "sigma"
        states = walk(n, INIT, tf.abs(sigma)) @ "walk"
        return states[-1]
    trace = gentf.simulate(model, (3,), seed=7)
    sigma = float(trace["sigma"])
    x = [float(trace[("walk", t, "x")]) for t in range(3)]
    prev = [0.5] + x[:-1]
    np.testing.assert_allclose(trace.score, stats.norm.logpdf(sigma, 1.0, 0.1) + np.sum(
        stats.norm.logpdf(x, prev, abs(sigma))), rtol=1e-10)
    new, w, _, _ = gentf.update(trace, (4,), None, {("walk", 3, "x"): 0.0})
    np.testing.assert_allclose(w, stats.norm.logpdf(0.0, x[-1], abs(sigma)), rtol=1e-10)
    gentf.testing.check_gfi_contract(model, (2,), new_args=(3,))


def test_nested_combinators():
    walks = Map(Unfold(step))  # independent random walks of lengths 2 and 3
    args = ([2, 3], [INIT, -INIT], [S, S])
    trace = gentf.simulate(walks, args, seed=8)
    assert [len(r) for r in trace.retval] == [2, 3]
    total = 0.0
    for i, (n, init) in enumerate(zip(args[0], [0.5, -0.5])):
        x = [float(trace[(i, t, "x")]) for t in range(n)]
        total += np.sum(stats.norm.logpdf(x, [init] + x[:-1], 0.8))
    np.testing.assert_allclose(trace.score, total, rtol=1e-10)
    gentf.testing.check_gfi_contract(walks, args, new_args=([3, 1], [INIT, -INIT], [S, S]))


def test_kernel_must_have_the_full_gfi():
    with pytest.raises(TypeError, match="wrap a distribution"):
        Map(normal)
