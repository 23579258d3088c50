"""The graph form runs as native ops of the calling TF2 program (no PyFunc, XLA works) and its
session stays a consistent view of the parameter state gentf trains (seed 001's workflow)."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf.core import compile as compiled
from gentf import (FixedStepGradientDescent, ParamUpdate, TFFunction, categorical, choicemap, gen,
                   train)
from gentf.learning.train import generate_accumulating
from graphs import live_ops

D, K, N = 6, 3, 20


def softmax_graph():
    with tf.Graph().as_default():
        xs = tf.compat.v1.placeholder(tf.float64, shape=(None, D))
        W = tf.compat.v1.Variable(np.zeros((D, K)))
        b = tf.compat.v1.Variable(np.zeros(K))
        probs = tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=1)
    return TFFunction([W, b], [xs], probs), W, b


def data(seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(N, D))
    ys = np.argmax(xs[:, :K] + 0.3 * rng.normal(size=(N, K)), axis=1).astype(np.int32)
    return xs, ys


def model_of(f):
    @gen
    def digit_model(xs):
        probs = f(xs) @ "probs"
        categorical(probs) @ "ys"
    return digit_model


def loglik_grad(xs, ys, W, b):
    """d/d(W, b) sum_i log softmax(xs W + b)[i, ys_i], by hand."""
    logits = xs @ W + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = np.eye(K)[ys] - p
    return xs.T @ g, g.sum(0)


def program_ops(fn, *args):
    """The op types of ``fn``'s traced graph and of every function it calls."""
    graph = tf.function(fn, autograph=False).get_concrete_function(*args).graph
    types = {op.type for op in graph.get_operations()}
    for f in graph.as_graph_def().library.function:
        types |= {n.op for n in f.node_def}
    return types


def test_compiled_step_has_no_python_ops_and_matches_hand_gradients():
    f, W, b = softmax_graph()
    model = model_of(f)
    xs, ys = data()

    def step(xs, ys):
        trace, weight = gentf.generate(model, (xs,), choicemap({"ys": ys}))
        gentf.accumulate_param_gradients(trace)
        return weight
    ops = program_ops(step, tf.constant(xs), tf.constant(ys))
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}, ops
    assert "MatMul" in ops and "Softmax" in ops
    tf.function(step, autograph=False)(tf.constant(xs), tf.constant(ys))
    gW, gb = loglik_grad(xs, ys, np.zeros((D, K)), np.zeros(K))
    np.testing.assert_allclose(gentf.runtf(f, gentf.get_param_grad_tf_var(f, W)), gW, atol=1e-12)
    np.testing.assert_allclose(gentf.runtf(f, gentf.get_param_grad_tf_var(f, b)), gb, atol=1e-12)
    gentf.runtf(f, gentf.reset_param_grads_tf_op(f))  # the session's reset op zeroes gentf's state
    np.testing.assert_array_equal(gentf.runtf(f, gentf.get_param_grad_tf_var(f, W)), 0.0)
    trace, _ = gentf.generate(model, (xs,), choicemap({"ys": ys}))
    gentf.accumulate_param_gradients(trace)  # accumulates from zero again
    np.testing.assert_allclose(gentf.runtf(f, gentf.get_param_grad_tf_var(f, W)), gW, atol=1e-12)


def test_the_backward_pass_reuses_the_forward_tensors():
    """``train``'s step (one generate under a tape): one softmax and the matmuls of the forward
    and of dL/dW run; the imported backward pass computes no forward op again."""
    f, W, b = softmax_graph()
    model = model_of(f)
    xs, ys = data()

    @tf.function(autograph=False)
    def step(xs, ys):
        generate_accumulating(model, (xs,), choicemap({"ys": ys}), seed=tf.constant([0, 1]))
        return tf.constant(0)
    ops = [op.type for op in live_ops(step.get_concrete_function(tf.constant(xs), tf.constant(ys)).graph)]
    assert ops.count("Softmax") == 1 and ops.count("MatMul") == 2, (ops.count("Softmax"), ops.count("MatMul"))
    step(tf.constant(xs), tf.constant(ys))
    gW, gb = loglik_grad(xs, ys, np.zeros((D, K)), np.zeros(K))
    np.testing.assert_allclose(gentf.runtf(f, gentf.get_param_grad_tf_var(f, W)), gW, atol=1e-12)
    np.testing.assert_allclose(gentf.runtf(f, gentf.get_param_grad_tf_var(f, b)), gb, atol=1e-12)


def test_session_sees_trained_values_and_seed_001_update_op():
    """Training in a compiled loop; the session then shows the trained W and b,
    and an update op built in the graph (seed 001: GradientDescentOptimizer on the accumulators)
    run through ``runtf`` changes the values gentf uses."""
    f, W, b = softmax_graph()
    model = model_of(f)
    xs, ys = data()
    update = ParamUpdate(FixedStepGradientDescent(0.05), (f, [W, b]))

    @tf.function(autograph=False)
    def steps(xs, ys):
        for _ in range(3):
            trace, _ = gentf.generate(model, (xs,), choicemap({"ys": ys}))
            gentf.accumulate_param_gradients(trace)
            update.apply()
        return f(xs)
    steps(tf.constant(xs), tf.constant(ys))
    Wv, bv = np.zeros((D, K)), np.zeros(K)
    for _ in range(3):  # the same three steps by hand
        gW, gb = loglik_grad(xs, ys, Wv, bv)
        Wv, bv = Wv + 0.05 * gW, bv + 0.05 * gb
    np.testing.assert_allclose(gentf.runtf(f, W), Wv, atol=1e-10)
    np.testing.assert_allclose(gentf.get_session(f).run(b), bv, atol=1e-10)

    # seed 001: an update op of the user's own, built in the graph, run with runtf
    trace, _ = gentf.generate(model, (xs,), choicemap({"ys": ys}))
    gentf.accumulate_param_gradients(trace)
    with gentf.get_session(f).graph.as_default():
        opt = tf.compat.v1.train.GradientDescentOptimizer(0.05)
        op = opt.apply_gradients([(tf.negative(gentf.get_param_grad_tf_var(f, W)), W),
                                  (tf.negative(gentf.get_param_grad_tf_var(f, b)), b)])
    gentf.runtf(f, op)
    gW, gb = loglik_grad(xs, ys, Wv, bv)
    Wv, bv = Wv + 0.05 * gW, bv + 0.05 * gb
    logits = xs @ Wv + bv
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(f(xs), expected / expected.sum(1, keepdims=True), atol=1e-10)


@pytest.mark.parametrize("form", ["graph", "eager"])
def test_train_with_xla_matches_plain_graph(form):
    """``jit_compile=True`` training of a graph-form and an eager-form TFFunction runs under XLA
    (the graph form's imported nodes mapped to the caller's tensors are constants, not the
    placeholders XLA cannot compile) and gives the parameters of the plain-graph run."""
    xs, ys = data()
    results = []
    for jit in (False, True):
        if form == "graph":
            f, W, b = softmax_graph()
            spec, read = (f, [W, b]), (lambda f=f, W=W: gentf.runtf(f, W))
        else:
            Wt, bt = tf.Variable(np.zeros((D, K))), tf.Variable(np.zeros(K))
            f = TFFunction(lambda x: tf.nn.softmax(x @ Wt + bt, axis=1), variables=[Wt, bt])
            spec, read = f, Wt.numpy
        model = model_of(f)
        update = ParamUpdate(FixedStepGradientDescent(0.05), spec)
        scores = train(model, lambda: ((xs,), choicemap({"ys": ys})), update, num_epoch=3, seed=1,
                       jit_compile=jit)
        results.append((scores, read()))
        state = compiled._state(model)  # XLA compiled the epoch (no fallback to a plain graph)
        assert not state.no_xla and any(key[1] is True for key in state.programs if key[0] != "concrete") == jit
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-10)
    assert results[0][1].any()


def test_variables_read_by_handle_and_non_parameter_variables():
    """A gather on a resource variable (read through its handle) and a variable that is not a
    parameter (a constant of the function, still synced with the session)."""
    with tf.Graph().as_default():
        table = tf.compat.v1.Variable(np.arange(8.0).reshape(4, 2), name="table")
        scale = tf.compat.v1.Variable(2.0, dtype=tf.float64, trainable=False, name="scale")
        idx = tf.compat.v1.placeholder(tf.int32, shape=(None,))
        out = scale * tf.gather(table, idx)
        set_scale = scale.assign(3.0)
    f = TFFunction([table], [idx], out)
    np.testing.assert_allclose(f(np.array([1, 3])), 2.0 * np.array([[2.0, 3.0], [6.0, 7.0]]))
    gentf.runtf(f, set_scale)
    np.testing.assert_allclose(f(np.array([1])), 3.0 * np.array([[2.0, 3.0]]))
    with pytest.raises(gentf.ArgumentError, match="ph_extra"):
        with tf.Graph().as_default():
            x = tf.compat.v1.placeholder(tf.float64, shape=(2,), name="x")
            extra = tf.compat.v1.placeholder(tf.float64, shape=(2,), name="ph_extra")
            TFFunction([], [x], x + extra)


def test_two_functions_share_one_session_and_variables():
    """Seed 002's style: an encoder and a decoder built in one graph and one session (sharing a
    variable); both train the same state and the session shows it, also when runtf is called
    inside ``graph.as_default()``."""
    graph = tf.Graph()
    with graph.as_default():
        shared = tf.compat.v1.Variable(np.ones(2), name="shared")
        x = tf.compat.v1.placeholder(tf.float64, shape=(2,), name="x")
        enc = tf.compat.v1.Variable(2.0, dtype=tf.float64, name="enc")
        sess = tf.compat.v1.Session(graph=graph)
        f = TFFunction([shared, enc], [x], enc * shared * x, sess)
        g = TFFunction([shared], [x], shared + x, sess)
        set_shared = shared.assign([3.0, 4.0])
        gentf.runtf(f, set_shared)
        np.testing.assert_allclose(gentf.runtf(g, shared), [3.0, 4.0])
    np.testing.assert_allclose(f(np.ones(2)), [6.0, 8.0])
    np.testing.assert_allclose(g(np.ones(2)), [4.0, 5.0])
    gentf.accumulate_param_gradients(gentf.simulate(g, (np.ones(2),)), np.ones(2))
    np.testing.assert_allclose(sess.run(gentf.get_param_grad_tf_var(g, shared)), [1.0, 1.0])
    np.testing.assert_allclose(sess.run(gentf.get_param_grad_tf_var(f, shared)), [1.0, 1.0])  # one state
    gentf.runtf(f, gentf.reset_param_grads_tf_op(f))  # one accumulator per parameter and session
    np.testing.assert_array_equal(sess.run(gentf.get_param_grad_tf_var(g, shared)), 0.0)


def test_string_and_bool_arguments():
    """Arguments of any dtype the graph takes (their imported nodes are constant stand-ins)."""
    with tf.Graph().as_default():
        words = tf.compat.v1.placeholder(tf.string, shape=(None,))
        keep = tf.compat.v1.placeholder(tf.bool, shape=(None,))
        scale = tf.compat.v1.Variable(np.float32(2.0))
        out = tf.cast(tf.strings.length(words), tf.float32) * scale * tf.cast(keep, tf.float32)
    f = TFFunction([scale], [words, keep], out)
    args = (np.array([b"ab", b"abc"]), np.array([True, False]))
    np.testing.assert_array_equal(f(*args), [4.0, 0.0])
    np.testing.assert_array_equal(tf.function(lambda *a: f(*a), autograph=False)(*args), [4.0, 0.0])
