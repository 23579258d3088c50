"""TFFunctions called from @gen models (gradients both ways, maximum likelihood) and the
named errors for bad inputs."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import TFFunction, gen, normal

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
SIGMA = 0.1


def linear(form, w0, n_in, name="x"):
    """y = W x (x a vector or a batch of rows): (fn, W, read accumulator, gradient step, reset)."""
    if form == "graph":
        graph = tf.Graph()
        with graph.as_default():
            W = tf.compat.v1.Variable(w0, name="W")
            x = tf.compat.v1.placeholder(tf.float64, shape=(None,) * (n_in - 1) + (w0.shape[-1],), name=name)
            y = tf.linalg.matvec(W, x) if n_in == 1 else tf.linalg.matvec(x, W)
            lr = tf.compat.v1.placeholder(tf.float64, ())
        fn = TFFunction([W], [x], y)
        acc = gentf.get_param_grad_tf_var(fn, W)
        with graph.as_default():
            step = W.assign_add(lr * acc)
        return (fn, W, lambda: gentf.runtf(fn, acc),
                lambda rate: gentf.runtf(fn, step, feed_dict={lr: rate}),
                lambda: gentf.runtf(fn, gentf.reset_param_grads_tf_op(fn)))
    W = tf.Variable(w0)
    fn = TFFunction(lambda x: tf.linalg.matvec(W, x) if n_in == 1 else tf.linalg.matvec(x, W),
                    variables=[W])
    acc = gentf.get_param_grad_tf_var(fn, W)
    return fn, W, acc.numpy, lambda rate: W.assign_add(rate * acc), gentf.reset_param_grads_tf_op(fn)


FORMS = ["graph", "eager"]


@pytest.mark.parametrize("form", FORMS)
def test_gradients_flow_through_tffunction_in_a_gen_model(form):
    fn, W, acc, _, reset = linear(form, W0, 1)

    @gen
    def model():
        z = normal(tf.zeros(3, tf.float64), tf.ones(3, tf.float64)) @ "z"
        mu = fn(z) @ "f"
        return normal(mu, SIGMA * tf.ones(2, tf.float64)) @ "y"
    y_obs = np.array([1.0, -2.0])
    z = np.array([0.3, -0.2, 0.5])
    trace, _ = gentf.generate(model, (), gentf.choicemap({"z": z, "y": y_obs}))
    np.testing.assert_allclose(trace["f"], W0 @ z)
    resid = (y_obs - W0 @ z) / SIGMA ** 2
    # d/dz [log N(z; 0, I) + log N(y; W z, s^2 I)] = -z + W^T (y - W z) / s^2
    _, _, grads = gentf.choice_gradients(trace, gentf.select("z"))
    np.testing.assert_allclose(grads["z"], -z + W0.T @ resid)
    # d/dW log N(y; W z, s^2 I) = (y - W z) z^T / s^2, through the TFFunction; the model has no
    # float arguments, so this also checks accumulation when no argument is watched.
    gentf.accumulate_param_gradients(trace, None, 2.0)
    np.testing.assert_allclose(acc(), 2.0 * np.outer(resid, z))
    reset()


@pytest.mark.parametrize("form", FORMS)
def test_maximum_likelihood_recovers_weights(form):
    rng = np.random.default_rng(0)
    n = 100
    xs = rng.normal(size=(n, 2))
    w_true = np.array([-2.0, 1.0])
    ys = xs @ w_true + SIGMA * rng.normal(size=n)
    fn, W, _, step, reset = linear(form, np.zeros(2), 2, name="xs")

    @gen
    def model(xs):
        return normal(fn(xs) @ "f", SIGMA) @ "y"
    # log-likelihood Hessian is -X^T X / s^2 ~ -(n / s^2) I: this rate contracts the error ~2x a step
    rate = 0.5 * SIGMA ** 2 / n
    obs = gentf.choicemap({"y": ys})
    for _ in range(200):
        trace, _ = gentf.generate(model, (xs,), obs)
        gentf.accumulate_param_gradients(trace)
        step(rate)
        reset()
    w = gentf.runtf(fn, W) if form == "graph" else W.numpy()
    # the MLE is within a few s / sqrt(n) = 0.01 of w_true
    np.testing.assert_allclose(w, w_true, atol=0.05)
    np.testing.assert_allclose(w, np.linalg.lstsq(xs, ys, rcond=None)[0], atol=1e-6)


def test_eager_form_training_loop_compiles_into_one_graph():
    rng = np.random.default_rng(1)
    n = 100
    xs = rng.normal(size=(n, 2))
    ys = xs @ np.array([-2.0, 1.0]) + SIGMA * rng.normal(size=n)
    fn, W, _, step, reset = linear("eager", np.zeros(2), 2)

    @gen
    def model(xs):
        return normal(fn(xs) @ "f", SIGMA) @ "y"

    @tf.function(autograph=False)
    def train(xs, ys):
        def body(i):
            trace, _ = gentf.generate(model, (xs,), gentf.choicemap({"y": ys}))
            gentf.accumulate_param_gradients(trace)
            step(0.5 * SIGMA ** 2 / n)
            reset()
            return (i + 1,)
        return tf.while_loop(lambda i: i < 200, body, (tf.constant(0),))
    train(tf.constant(xs), tf.constant(ys))
    np.testing.assert_allclose(W.numpy(), np.linalg.lstsq(xs, ys, rcond=None)[0], atol=1e-6)


def graph_fn():
    with tf.Graph().as_default():  # seed 000's style: everything built inside the graph block
        W = tf.compat.v1.Variable(W0, name="W")
        x = tf.compat.v1.placeholder(tf.float64, shape=(3,), name="pixels")
        fn = TFFunction([W], [x], tf.linalg.matvec(W, x))
        with pytest.raises(gentf.GentfError, match="as_default"):
            fn(np.ones(3))  # calls must happen outside the block
    return fn


@pytest.mark.parametrize("form", FORMS)
def test_integer_input_lookup_accumulates_inside_a_gen_model(form):
    """An int argument gets no gradient (None), yet the parameter gradient still reaches the
    TFFunction's accumulators from a @gen model that watches no argument."""
    table0 = np.arange(8.0).reshape(4, 2)
    if form == "graph":
        with tf.Graph().as_default():
            table = tf.compat.v1.Variable(table0, name="table")
            idx = tf.compat.v1.placeholder(tf.int32, shape=(None,), name="idx")
            fn = TFFunction([table], [idx], tf.gather(table, idx))
        acc = lambda: gentf.runtf(fn, gentf.get_param_grad_tf_var(fn, table))  # noqa: E731
    else:
        table = tf.Variable(table0)
        fn = TFFunction(lambda i: tf.gather(table, i), variables=[table])
        acc = gentf.get_param_grad_tf_var(fn, table).numpy

    @gen
    def model(i):
        return normal(fn(i) @ "rows", 1.0) @ "y"
    i = np.array([1, 3, 1], np.int32)
    y = np.zeros((3, 2))
    trace, _ = gentf.generate(model, (i,), gentf.choicemap({"y": y}))
    (g,) = gentf.accumulate_param_gradients(trace)
    assert g is None
    expected = np.zeros((4, 2))
    np.add.at(expected, i, y - table0[i])  # d/dtable sum_k log N(y_k; table[i_k], 1)
    np.testing.assert_allclose(acc(), expected)
    (g,) = gentf.accumulate_param_gradients(gentf.simulate(fn, (i,)), np.ones((3, 2)))
    assert g is None


def test_graph_form_bad_arguments_name_the_placeholder():
    fn = graph_fn()
    with pytest.raises(gentf.ArgumentError, match="pixels"):
        gentf.simulate(fn, ())
    with pytest.raises(gentf.ArgumentError, match="pixels"):
        gentf.simulate(fn, (np.ones(3), np.ones(3)))
    with pytest.raises(gentf.ArgumentError, match="pixels.*shape"):
        gentf.simulate(fn, (np.ones(4),))
    with pytest.raises(gentf.ArgumentError, match="pixels.*dtype"):
        gentf.simulate(fn, (np.array(["a", "b", "c"]),))
    with pytest.raises(gentf.ArgumentError, match="pixels"):
        gentf.simulate(fn, (object(),))
    np.testing.assert_allclose(fn(np.arange(3)), W0 @ np.arange(3.0))  # ints cast to float64


@pytest.mark.parametrize("form", FORMS)
def test_bad_retval_grad_and_constraints(form):
    fn = graph_fn() if form == "graph" else linear("eager", W0, 1)[0]
    trace = gentf.simulate(fn, (np.ones(3),))
    with pytest.raises(gentf.ArgumentError, match="retval_grad"):
        gentf.choice_gradients(trace, None, np.ones(3))
    with pytest.raises(gentf.ArgumentError, match="retval_grad"):
        gentf.accumulate_param_gradients(trace, np.ones((2, 2)))
    with pytest.raises(gentf.ConstraintTypeError):
        gentf.generate(fn, (np.ones(3),), gentf.choicemap({"a": 1.0}))
    with pytest.raises(gentf.ConstraintTypeError):
        gentf.update(trace, None, None, gentf.choicemap({"a": 1.0}))


def test_eager_form_wrong_argument_count():
    W = tf.Variable(W0)
    fn = TFFunction(lambda x: tf.linalg.matvec(W, x), variables=[W])
    with pytest.raises(gentf.ArgumentError, match="1 argument"):
        gentf.simulate(fn, (np.ones(3), np.ones(3)))
    with pytest.raises(gentf.ArgumentError, match="not a parameter"):
        gentf.get_param_grad_tf_var(fn, tf.Variable(1.0))
    with pytest.raises(TypeError, match="session"):
        gentf.get_session(fn)


def test_disabled_eager_execution_gives_a_clear_error():
    code = (
        "import tensorflow as tf, gentf\n"
        "tf.compat.v1.disable_eager_execution()\n"
        "x = tf.compat.v1.placeholder(tf.float64, shape=(3,))\n"
        "try:\n"
        "    gentf.TFFunction([], [x], 2.0 * x)\n"
        "except gentf.GentfError as e:\n"
        "    print('GENTF-ERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "GENTF-ERROR" in out.stdout and "tf.Graph().as_default()" in out.stdout, out.stderr
