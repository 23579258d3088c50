"""TFFunction in both forms (GenTF's graph form and the TF2 eager form) on GenTF's own cases:
y = W x with W a 2x3 parameter; gradients also against central finite differences."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf.testing import finite_difference_gradient
from gentf import TFFunction

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
X = np.array([0.5, -1.0, 2.0])
DY = np.array([0.3, -0.7])
EPS = 1e-6


def central(f, x):
    return finite_difference_gradient(f, x, EPS)
# central differences in float64: truncation O(EPS^2 |f'''|) ~ 1e-11, round-off ~ 1e-16/EPS = 1e-10
FD_TOL = 1e-7


class Linear:
    """A TFFunction y = body(W, x) with W a 2x3 float64 parameter, plus form-neutral access to W
    and its accumulator."""

    def __init__(self, form, body=lambda W, x: tf.linalg.matvec(W, x)):
        self.form = form
        if form == "graph":
            graph = tf.Graph()
            with graph.as_default():
                self.W = tf.compat.v1.Variable(W0, name="W")
                x = tf.compat.v1.placeholder(tf.float64, shape=(3,), name="x")
                y = body(tf.convert_to_tensor(self.W), x)
                self._new_w = tf.compat.v1.placeholder(tf.float64, shape=(2, 3))
                self._assign = self.W.assign(self._new_w)
            self.fn = TFFunction([self.W], [x], y)
            self._acc = gentf.get_param_grad_tf_var(self.fn, self.W)
        else:
            self.W = tf.Variable(W0, name="W")
            self.fn = TFFunction(lambda x: body(self.W, x), variables=[self.W])

    def acc(self):
        if self.form == "graph":
            return gentf.runtf(self.fn, self._acc)
        return gentf.get_param_grad_tf_var(self.fn, self.W).numpy()

    def reset(self):
        op = gentf.reset_param_grads_tf_op(self.fn)
        gentf.runtf(self.fn, op) if self.form == "graph" else op()

    def set_w(self, value):
        if self.form == "graph":
            gentf.runtf(self.fn, self._assign, feed_dict={self._new_w: value})
        else:
            self.W.assign(value)


FORMS = ["graph", "eager"]


@pytest.mark.parametrize("form", FORMS)
def test_generate_weight_retval_and_untraced_call(form):
    lin = Linear(form)
    trace, weight = gentf.generate(lin.fn, (X,))
    assert float(weight) == 0.0 and float(gentf.get_score(trace)) == 0.0
    assert trace.score.dtype == tf.float64
    assert gentf.get_choices(trace).is_empty()
    np.testing.assert_allclose(gentf.get_retval(trace), W0 @ X)
    np.testing.assert_allclose(lin.fn(X), W0 @ X)
    assert float(gentf.project(trace, gentf.selectall())) == 0.0
    w, r = gentf.assess(lin.fn, (X,), gentf.choicemap())
    assert float(w) == 0.0
    np.testing.assert_allclose(r, W0 @ X)


@pytest.mark.parametrize("form", FORMS)
def test_choice_gradients_are_input_gradients(form):
    lin = Linear(form)
    trace = gentf.simulate(lin.fn, (X,))
    (x_grad,), values, grads = gentf.choice_gradients(trace, gentf.EmptySelection, DY)
    np.testing.assert_allclose(x_grad, W0.T @ DY)
    assert values.is_empty() and grads.is_empty()


@pytest.mark.parametrize("form", FORMS)
def test_accumulate_param_gradients_scale_accumulation_and_reset(form):
    lin = Linear(form)
    trace = gentf.simulate(lin.fn, (X,))
    np.testing.assert_allclose(lin.acc(), np.zeros((2, 3)))
    (x_grad,) = gentf.accumulate_param_gradients(trace, DY)
    np.testing.assert_allclose(x_grad, W0.T @ DY)
    np.testing.assert_allclose(lin.acc(), np.outer(DY, X))
    gentf.accumulate_param_gradients(trace, DY, scale=2.5)
    np.testing.assert_allclose(lin.acc(), 3.5 * np.outer(DY, X))
    lin.reset()
    np.testing.assert_allclose(lin.acc(), np.zeros((2, 3)))
    assert gentf.get_params(lin.fn)[0] is lin.W
    assert list(lin.fn.params().values())[0] is lin.W


def nonlinear(W, x):
    return tf.tanh(tf.linalg.matvec(W, x)) * (1.0 + x[0] ** 2)




@pytest.mark.parametrize("form", FORMS)
def test_gradients_match_finite_differences(form):
    lin = Linear(form, nonlinear)
    W = W0 / 10.0
    lin.set_w(W)
    x = X.copy()
    trace = gentf.simulate(lin.fn, (x,))
    (x_grad,) = gentf.accumulate_param_gradients(trace, DY)
    w_grad = lin.acc()

    def objective_x(xv):
        return float(np.dot(lin.fn(xv), DY))

    def objective_w(wv):
        lin.set_w(wv)
        return float(np.dot(lin.fn(x), DY))
    np.testing.assert_allclose(x_grad, central(objective_x, x), atol=FD_TOL)
    np.testing.assert_allclose(w_grad, central(objective_w, W), atol=FD_TOL)


@pytest.mark.parametrize("form", FORMS)
def test_update_and_regenerate(form):
    lin = Linear(form)
    trace = gentf.simulate(lin.fn, (X,))
    x2 = 2.0 * X
    new, w, retdiff, discard = gentf.update(trace, (x2,), (gentf.UnknownChange,))
    assert retdiff is gentf.UnknownChange and float(w) == 0.0 and discard.is_empty()
    np.testing.assert_allclose(new.retval, W0 @ x2)
    same, w, retdiff, _ = gentf.update(trace, (X,), (gentf.NoChange,))
    assert same is trace and retdiff is gentf.NoChange and float(w) == 0.0
    new, w, retdiff = gentf.regenerate(trace, (x2,), (gentf.UnknownChange,), gentf.EmptySelection)
    assert retdiff is gentf.UnknownChange and float(w) == 0.0
    np.testing.assert_allclose(new.retval, W0 @ x2)
    same, w, retdiff = gentf.regenerate(trace, None, None, gentf.EmptySelection)
    assert same is trace and retdiff is gentf.NoChange


@pytest.mark.parametrize("form", FORMS)
def test_same_numbers_inside_tf_function(form):
    lin = Linear(form)

    def step(x, dy):
        trace = gentf.simulate(lin.fn, (x,))
        (g,), _, _ = gentf.choice_gradients(trace, None, dy)
        (g2,) = gentf.accumulate_param_gradients(trace, dy, 0.5)
        return trace.retval, g, g2
    x, dy = tf.constant(X), tf.constant(DY)
    eager = step(x, dy)
    acc_eager = lin.acc()
    lin.reset()
    compiled = tf.function(step, autograph=False)(x, dy)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(lin.acc(), acc_eager)

    @tf.function(autograph=False)
    def traced(x):  # a trace returned from (and passed into) tf.function
        return gentf.simulate(lin.fn, (x,))
    trace = traced(x)
    np.testing.assert_allclose(trace.retval, W0 @ X)
    new = tf.function(lambda t, x: gentf.update(t, (x,))[0], autograph=False)(trace, 2 * x)
    np.testing.assert_allclose(new.retval, 2 * W0 @ X)


def test_graph_form_session_is_kept_and_given_sessions_keep_values():
    lin = Linear("graph")
    assert gentf.get_session(lin.fn) is gentf.get_session(lin.fn)
    np.testing.assert_allclose(gentf.runtf(lin.fn, lin.W), W0)
    graph = tf.Graph()
    with graph.as_default():
        W = tf.compat.v1.Variable(np.zeros((2, 3)), name="W")
        x = tf.compat.v1.placeholder(tf.float64, shape=(3,), name="x")
        y = tf.linalg.matvec(W, x)
        sess = tf.compat.v1.Session(graph=graph)
        sess.run(W.initializer)
        sess.run(W.assign(W0))
    fn = TFFunction([W], [x], y, session=sess)
    assert gentf.get_session(fn) is sess
    np.testing.assert_allclose(fn(X), W0 @ X)  # W was initialised already: not reset


def test_eager_form_keras_and_module_and_nested_output():
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh")])
    fn = TFFunction(model)
    kernel, bias = [v.value for v in model.trainable_variables]
    params = gentf.get_params(fn)
    assert len(params) == 2 and params[0] is kernel and params[1] is bias
    xs = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0]], np.float32)
    dy = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    trace = gentf.simulate(fn, (xs,))
    gentf.accumulate_param_gradients(trace, dy)
    with tf.GradientTape() as tape:
        obj = tf.reduce_sum(model(xs) * dy)
    expected = tape.gradient(obj, [kernel, bias])
    for v, e in zip([kernel, bias], expected):
        np.testing.assert_allclose(gentf.get_param_grad_tf_var(fn, v), e, rtol=1e-6)
    gentf.reset_param_grads_tf_op(fn)()
    assert float(tf.reduce_sum(tf.abs(gentf.get_param_grad_tf_var(fn, kernel)))) == 0.0

    class Pair(tf.Module):
        def __init__(self):
            self.a = tf.Variable(2.0, dtype=tf.float64)

        def __call__(self, x):
            return {"sq": self.a * x ** 2, "lin": (self.a * x,)}
    mod = Pair()
    fn = TFFunction(mod)
    assert len(gentf.get_params(fn)) == 1 and gentf.get_params(fn)[0] is mod.a
    trace = gentf.simulate(fn, (np.array([1.0, 3.0]),))
    (g,) = gentf.accumulate_param_gradients(
        trace, {"sq": np.array([1.0, 1.0]), "lin": (np.array([1.0, 0.0]),)})
    np.testing.assert_allclose(g, [2 * 2.0 * 1.0 + 2.0, 2 * 2.0 * 3.0])  # d/dx of a x^2 + a x
    np.testing.assert_allclose(gentf.get_param_grad_tf_var(fn, mod.a), 1.0 + 9.0 + 1.0)


# --- a Keras model wrapped before it is built -------------------------------------------------------
def _decoder(build):
    """Dense(2) with seeded weights: built now, or at its first call."""
    import keras
    layer = keras.layers.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=1),
                               bias_initializer="zeros", dtype="float64")
    if build:
        layer.build((None, 1))
    return layer


def _trained(layer, compiled, steps=3, keras_adam=False):
    """``steps`` ADAM steps on the TFFunction of ``layer`` in ``y ~ normal(layer(z), 1)``, the
    ParamUpdate built before any call (eagerly, or inside ``SVI``'s compiled program)."""
    fn = TFFunction(layer)

    @gentf.gen
    def model(x):
        z = gentf.normal(tf.zeros_like(x[:, :1]), 1.0) @ "z"
        gentf.normal(fn(z) @ "decoder", 1.0) @ "y"

    @gentf.gen
    def guide(x):
        gentf.normal(x[:, :1], 1.0) @ "z"

    import keras
    conf = keras.optimizers.Adam(0.1) if keras_adam else gentf.ADAM(0.1, 0.9, 0.999, 1e-8)
    update = gentf.ParamUpdate(conf, fn)
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 2)) + 3.0)
    if compiled:
        engine = gentf.SVI(model, guide, update, lambda x: ((x,), (x,), {"y": x}))
        for step in range(steps):
            engine.step(x, seed=step)
    else:
        for step in range(steps):
            trace, _ = gentf.generate(model, (x,), {"y": x}, seed=step)
            gentf.accumulate_param_gradients(trace)
            update.apply()
    return fn, update


@pytest.mark.parametrize("compiled,keras_adam", [(False, False), (True, False), (False, True), (True, True)])
def test_unbuilt_keras_model_trains_like_a_built_one(compiled, keras_adam):
    # the variables were read once, at the wrapping: an unbuilt model had none, and ADAM moved nothing
    lazy = _decoder(build=False)
    assert not lazy.built
    start = _decoder(build=True).kernel.numpy()
    fn, update = _trained(lazy, compiled, keras_adam=keras_adam)
    assert lazy.built and len(gentf.get_params(fn)) == 2
    assert [v.ref() for v in update.variables] == [v.ref() for v in gentf.get_params(fn)]
    assert not np.allclose(lazy.kernel.numpy(), start)
    built = _decoder(build=True)
    np.testing.assert_array_equal(built.kernel.numpy(), start)  # the same initial weights
    _trained(built, compiled, keras_adam=keras_adam)
    np.testing.assert_allclose(lazy.kernel.numpy(), built.kernel.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lazy.bias.numpy(), built.bias.numpy(), rtol=1e-12)


def test_update_of_a_model_never_built_is_a_named_error():
    layer = _decoder(build=False)
    fn = TFFunction(layer)
    assert gentf.get_params(fn) == [] and fn.awaiting_build()

    @gentf.gen
    def g():
        gentf.normal(gentf.param("m"), 1.0) @ "x"
    gentf.init_param(g, "m", tf.constant(0.5))
    update = gentf.ParamUpdate(gentf.ADAM(0.1, 0.9, 0.999, 1e-8), g, fn)
    trace, _ = gentf.generate(g, (), {"x": 2.0})
    gentf.accumulate_param_gradients(trace)
    with pytest.raises(gentf.ArgumentError, match=r"TFFunction\(dense.*\) has no parameters.*build the model first"):
        update.apply()
    assert float(gentf.get_param(g, "m")) == 0.5  # nothing moved
    assert not layer.built
