"""Choices of one family in a traced body are scored in one batch: the same numbers as
per-choice scoring, one chain of ops in the graph, and domain errors that still name the
address of the failing member."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import categorical, choicemap, gen, normal
from graphs import live_ops

N, K = 30, 4


@gen
def per_choice(probs, mus, sds):
    for i in range(N):
        categorical(probs[i]) @ ("y", i)
        normal(mus[i], sds[i]) @ ("z", i)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), size=N)
    return probs, rng.normal(size=N), rng.uniform(0.5, 2.0, size=N)


def observations(seed=1):
    rng = np.random.default_rng(seed)
    return choicemap({**{("y", i): int(rng.integers(K)) for i in range(N)},
                      **{("z", i): float(rng.normal()) for i in range(N)}})


def test_batched_scores_equal_per_choice_scores():
    args, obs = inputs(), observations()
    gentf.set_auto_compile(False)
    try:
        eager, w_eager = gentf.generate(per_choice, args, obs, seed=0)
    finally:
        gentf.set_auto_compile(True)
    graph, w_graph = tf.function(lambda *a: gentf.generate(per_choice, a, obs, seed=0), autograph=False)(*args)
    np.testing.assert_allclose(w_graph, w_eager, rtol=1e-12)
    np.testing.assert_allclose(graph.score, eager.score, rtol=1e-12)
    for i in range(N):  # each record keeps its own score
        for addr in (("y", i), ("z", i)):
            np.testing.assert_allclose(graph.records[addr].score, eager.records[addr].score, rtol=1e-12)
    probs, mus, sds = args
    ys = np.array([obs[("y", i)] for i in range(N)])
    zs = np.array([obs[("z", i)] for i in range(N)])
    expected = np.sum(np.log(probs[np.arange(N), ys])) + np.sum(
        -0.5 * ((zs - mus) / sds) ** 2 - np.log(sds) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(w_graph, expected, rtol=1e-12)


def test_one_chain_of_scoring_ops_per_family():
    args, obs = inputs(), observations()
    graph = tf.function(lambda *a: gentf.generate(per_choice, a, obs, seed=0)[1],
                        autograph=False).get_concrete_function(*map(tf.constant, args)).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count("OneHot") == 1  # categorical's log_prob, once for the 30 choices
    assert types.count("Log") <= 4, types.count("Log")  # categorical + normal (not 60)


def test_a_failing_member_is_named():
    probs, mus, sds = inputs()
    sds = sds.copy()
    sds[7] = -1.0
    fn = tf.function(lambda *a: gentf.generate(per_choice, a, observations(), seed=0)[1], autograph=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"normal at address \(\\'z\\', 7\)"):
        fn(probs, mus, sds)


def test_captured_eager_arguments_are_stacked_too():
    """Arguments that are eager tensors captured by the traced body (no graph op) still batch."""
    mus = [tf.constant(float(i)) for i in range(3)]

    @gen
    def captured():
        for i in range(3):
            normal(mus[i], 1.0) @ i
    obs = choicemap({i: 0.0 for i in range(3)})
    w = tf.function(lambda: gentf.generate(captured, (), obs, seed=0)[1], autograph=False)()
    np.testing.assert_allclose(w, sum(-0.5 * i ** 2 - 0.5 * np.log(2 * np.pi) for i in range(3)), rtol=1e-6)


@gen
def one_image(p, mu):
    categorical(p) @ "y"
    normal(mu, 1.0) @ "z"          # sampled (unconstrained in the test)
    inner(mu) @ "inner"


@gen
def inner(mu):
    normal(mu, 2.0) @ "w"


@gen
def per_call(probs, mus):
    for i in range(N):
        one_image(probs[i], mus[i]) @ i


def test_nested_calls_share_the_callers_batches():
    """@gen calls from a traced body join the outermost body's batches: the numbers of eager
    per-choice scoring (weights, every nested trace's score and record scores, the sampled
    values), and one scoring chain per family for all the calls."""
    probs, mus, _ = inputs()
    obs = choicemap({(i, "y"): int(i % K) for i in range(N)})
    obs[(3, "inner", "w")] = 0.25
    gentf.set_auto_compile(False)
    try:
        eager, w_eager = gentf.generate(per_call, (probs, mus), obs, seed=3)
    finally:
        gentf.set_auto_compile(True)
    fn = tf.function(lambda *a: gentf.generate(per_call, a, obs, seed=3), autograph=False)
    graph, w_graph = fn(probs, mus)
    np.testing.assert_allclose(w_graph, w_eager, rtol=1e-12)
    np.testing.assert_allclose(graph.score, eager.score, rtol=1e-12)
    for i in range(N):
        g, e = graph.records[(i,)].trace, eager.records[(i,)].trace
        np.testing.assert_allclose(g.score, e.score, rtol=1e-12)
        np.testing.assert_allclose(g["z"], e["z"], rtol=1e-12)
        np.testing.assert_allclose(g.records[("z",)].score, e.records[("z",)].score, rtol=1e-12)
        gi, ei = g.records[("inner",)].trace, e.records[("inner",)].trace
        np.testing.assert_allclose(gi.score, ei.score, rtol=1e-12)
    types = [op.type for op in fn.get_concrete_function(*map(tf.constant, (probs, mus))).graph.get_operations()]
    assert types.count("OneHot") == 1, types.count("OneHot")
    assert types.count("Assert") == 1  # the domain checks of all calls, asserted once


def test_a_failing_member_of_a_nested_call_is_named():
    probs, mus, _ = inputs()
    probs = probs.copy()
    probs[5] = -probs[5]
    obs = choicemap({(i, "y"): 0 for i in range(N)})
    fn = tf.function(lambda *a: gentf.generate(per_call, a, obs, seed=0)[1], autograph=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"categorical at address \(5, \\'y\\'\)"):
        fn(probs, mus)


def test_update_and_regenerate_weights_equal_per_choice_weights():
    """``update``/``regenerate`` rescore kept choices in batches inside a graph: weights, scores
    and record scores equal eager per-choice scoring (float64, so to 1e-12)."""
    probs, mus, sds = inputs()
    obs = observations()
    gentf.set_auto_compile(False)
    try:
        trace, _ = gentf.generate(per_choice, (probs, mus, sds), obs, seed=0)
        new_args = (probs[::-1].copy(), mus + 0.5, sds * 1.5)
        diffs = (gentf.UnknownChange,) * 3
        change = choicemap({("z", 3): 0.25})
        eager_u = gentf.update(trace, new_args, diffs, change, seed=1)
        eager_r = gentf.regenerate(trace, new_args, diffs, gentf.select(("z", 5)), seed=1)
    finally:
        gentf.set_auto_compile(True)
    graph_u = tf.function(lambda: gentf.update(trace, new_args, diffs, change, seed=1), autograph=False)()
    graph_r = tf.function(lambda: gentf.regenerate(trace, new_args, diffs, gentf.select(("z", 5)), seed=1),
                          autograph=False)()
    for g, e in ((graph_u, eager_u), (graph_r, eager_r)):
        np.testing.assert_allclose(g[1], e[1], rtol=1e-12)  # weight
        np.testing.assert_allclose(g[0].score, e[0].score, rtol=1e-12)
        for addr in (("y", 0), ("z", 3), ("z", 5), ("z", N - 1)):
            np.testing.assert_allclose(g[0].records[addr].score, e[0].records[addr].score, rtol=1e-12)
            np.testing.assert_allclose(g[0][addr], e[0][addr], rtol=1e-12)


def test_members_cost_no_op_per_member_forward_or_backward():
    """Constraints passed packed (as ``train`` passes them) and unpacked in the graph, the rows
    ``probs[i]``, the member scores and their gradient: no op runs once per member."""
    probs, mus, sds = inputs()
    layout, arrays = gentf.core.choicemap.pack(observations())

    @tf.function(autograph=False)
    def step(probs, mus, sds, arrays):
        with tf.GradientTape() as tape:
            tape.watch([probs, mus])
            _, w = gentf.generate(per_choice, (probs, mus, sds), gentf.core.choicemap.unpack(layout, arrays), seed=0)
        return (w, *tape.gradient(w, [probs, mus]))
    tensors = [tf.constant(x) for x in (probs, mus, sds)], [tf.constant(a) for a in arrays]
    counts = {}
    for op in live_ops(step.get_concrete_function(*tensors[0], tensors[1]).graph):
        counts[op.type] = counts.get(op.type, 0) + 1
    assert max(n for t, n in counts.items() if t != "Const") < N, counts
    w, d_probs, d_mus = step(*tensors[0], tensors[1])
    obs = observations()
    ys = np.array([obs[("y", i)] for i in range(N)])
    zs = np.array([obs[("z", i)] for i in range(N)])
    np.testing.assert_allclose(d_mus, (zs - mus) / sds ** 2, rtol=1e-12)
    expected = np.zeros_like(probs)
    expected[np.arange(N), ys] = 1 / probs[np.arange(N), ys]
    np.testing.assert_allclose(d_probs, expected, rtol=1e-12)


def test_a_nan_observation_of_a_member_is_named():
    args = [tf.constant(x) for x in inputs()]
    obs = observations()
    obs[("z", 12)] = float("nan")
    fn = tf.function(lambda *a: gentf.generate(per_choice, a, obs, seed=0)[1], autograph=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"normal at address \(\\'z\\', 12\): the observed value is NaN"):
        fn(*args)
    half = choicemap({("z", i): 0.5 for i in range(0, N, 2)})  # the sampled members of the group pass
    assert np.isfinite(tf.function(lambda *a: gentf.generate(per_choice, a, half, seed=0)[1], autograph=False)(*args))
