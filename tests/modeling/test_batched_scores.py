"""Choices of one family in a traced body are scored in one batch: the same numbers as
per-choice scoring, one chain of ops in the graph, and domain errors that still name the
address of the failing member."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import categorical, choicemap, gen, normal

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
