"""A subprocess of ``test_distribute.py``: trains the same deterministic models on one device and
under a ``tf.distribute`` strategy, and prints the results as one JSON line.

``python distribute_job.py mirrored``: ``MirroredStrategy`` over 2 logical CPU devices.
``python distribute_job.py multiworker``: one worker of a ``MultiWorkerMirroredStrategy``
(``TF_CONFIG`` set by the caller).

Strategies and logical devices must be set up before TensorFlow initialises, hence a process.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: jobs
import jobs  # noqa: E402

MODE = sys.argv[1]
STRATEGY = jobs.strategy(MODE)

import gentf  # noqa: E402  (after the devices are configured)
from gentf import ADAM, ParamUpdate, TFFunction, categorical, choicemap, gen, normal, param, train  # noqa: E402

X = np.random.default_rng(0).normal(size=(16, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.3


def linear_model():
    """``y ~ normal(<w, x> + b, 1)``; params ``w`` (3) and ``b``, float64."""
    @gen
    def model(x):
        normal(tf.reduce_sum(param("w") * x) + param("b"), 1.0) @ "y"
    gentf.init_param(model, "w", tf.zeros(3, tf.float64))
    gentf.init_param(model, "b", tf.constant(0.0, tf.float64))
    return model


def linear_data():
    i = iter(range(10**6))

    def draw():
        j = next(i) % len(X)
        return (tf.constant(X[j]),), choicemap({"y": float(Y[j])})
    return draw


def softmax_model():
    """Seed 000's softmax regression in the eager TFFunction form: ``y ~ categorical(softmax(W x + b))``."""
    net = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(
        4, kernel_initializer=tf.keras.initializers.Constant(0.1), activation="softmax")])
    fn = TFFunction(net)

    @gen
    def model(x):
        probs = fn(x[None]) @ "net"
        categorical(probs[0]) @ "y"
    return model, fn


def softmax_data():
    i = iter(range(10**6))

    def draw():
        j = next(i) % len(X)
        return (tf.constant(X[j], tf.float32),), choicemap({"y": int(j % 4)})
    return draw


def run_linear():
    model = linear_model()
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model)
    scores = train(model, linear_data(), update, num_epoch=10, epoch_size=8, num_minibatch=2,
                   minibatch_size=4, evaluation_size=4, seed=3, progress=False)
    return {"scores": scores.tolist(), "w": gentf.get_param(model, "w").numpy().tolist(),
            "b": float(gentf.get_param(model, "b"))}


def run_softmax():
    model, fn = softmax_model()
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), fn)
    scores = train(model, softmax_data(), update, num_epoch=10, epoch_size=8, num_minibatch=2,
                   minibatch_size=4, evaluation_size=4, seed=3, progress=False)
    return {"scores": scores.tolist(), "params": [v.numpy().tolist() for v in fn.param_variables()]}


def run_graph_softmax():
    """The same softmax regression in seed 000's graph form (tf.compat.v1 Variables in a session)."""
    with tf.Graph().as_default():
        W = tf.compat.v1.Variable(np.full((3, 4), 0.1, np.float64))
        b = tf.compat.v1.Variable(np.zeros(4, np.float64))
        xs = tf.compat.v1.placeholder(tf.float64, [None, 3])
        probs = tf.nn.softmax(tf.matmul(xs, W) + b, axis=1)
    fn = TFFunction([W, b], [xs], probs)

    @gen
    def model(x):
        categorical((fn(x[None]) @ "net")[0]) @ "y"
    draw = softmax_data()

    def data():
        (x,), constraints = draw()
        return (tf.cast(x, tf.float64),), constraints
    scores = train(model, data, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), fn), num_epoch=10, epoch_size=8,
                   num_minibatch=2, minibatch_size=4, evaluation_size=4, seed=3, progress=False)
    return {"scores": scores.tolist(), "params": [v.tolist() for v in gentf.get_session(fn).run([W, b])]}


@gen
def regression(xs):
    """Bayesian linear regression: slope and intercept ~ normal(0, 2), ``y_i ~ normal(., 0.5)``."""
    slope = normal(tf.constant(0.0, tf.float64), 2.0) @ "slope"
    intercept = normal(tf.constant(0.0, tf.float64), 2.0) @ "intercept"
    for i in range(xs.shape[0]):
        normal(slope * xs[i] + intercept, 0.5) @ ("y", i)


def run_importance():
    """Importance sampling with 16 particles (XLA off: the sharded program runs without it)."""
    ys = choicemap({("y", i): float(Y[i] / 3) for i in range(5)})
    traces, log_w, log_ml = gentf.importance_sampling(regression, (tf.constant(X[:5, 0]),), ys, 16,
                                                      seed=7, jit_compile=False)
    return {"log_w": log_w.numpy().tolist(), "log_ml": float(log_ml),
            "slope": traces["slope"].numpy().tolist(), "y0": float(traces[("y", 0)])}


def run_all():
    return {"linear": run_linear(), "softmax": run_softmax(), "graph_softmax": run_graph_softmax(),
            "importance": run_importance()}


results = {"single": run_all()}
with STRATEGY.scope():
    distributed = run_all()
    probe = linear_model()
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), probe)
    try:  # 15 particles do not split among 2 replicas
        gentf.importance_sampling(regression, (tf.constant(X[:5, 0]),), choicemap({("y", 0): 1.0}), 15, seed=7)
        uneven = None
    except gentf.ArgumentError as e:
        uneven = str(e)
results["uneven"] = uneven
results["replicas"] = STRATEGY.num_replicas_in_sync
results["kinds"] = [type(probe.param_var("w")).__name__, type(update.accumulators[0]).__name__]
results["distributed"] = distributed
print("RESULT " + json.dumps(results), flush=True)
