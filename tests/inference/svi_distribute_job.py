"""A subprocess of ``test_svi_distribute.py``: trains the same models with ``gentf.SVI`` on one
device (two microbatches per minibatch) and under a ``tf.distribute`` strategy (the two
microbatches on two replicas), and prints the results as one JSON line.

``python svi_distribute_job.py mirrored``: ``MirroredStrategy`` over 2 logical CPU devices.
``python svi_distribute_job.py multiworker``: one worker of a ``MultiWorkerMirroredStrategy``
(``TF_CONFIG`` set by the caller). Logical devices and strategies must be set up before
TensorFlow initialises, hence a process.
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
from gentf import ADAM, ParamUpdate, TFFunction, bernoulli, gen, normal, param  # noqa: E402
import svi_models  # noqa: E402

F64 = tf.float64
X = np.random.default_rng(0).normal(1.0, 2.0, size=(80, 4))


def linear_gaussian():
    """``svi_models.linear_gaussian``; ELBO with 2 particles (pathwise gradients)."""
    model, guide = svi_models.linear_gaussian()
    return model, guide, [model, guide], dict(objective="elbo", num_particles=2), tf.constant(X[:, 0], F64)


def mixture():
    """A discrete latent (score-function gradients, leave-one-out baselines): c ~ bernoulli(0.4),
    x | c ~ N(mu_c, 1); guide q(c | x) = bernoulli(sigmoid(a x + e)); ELBO with 3 particles."""
    @gen
    def model(x):
        c = bernoulli(0.4 * tf.ones_like(x)) @ "c"
        normal(tf.where(c, param("mu1"), param("mu0")), 1.0) @ "x"

    @gen
    def guide(x):
        bernoulli(tf.sigmoid(param("a") * x + param("e"))) @ "c"
    for fn, names in ((model, ("mu0", "mu1")), (guide, ("a", "e"))):
        for name, value in zip(names, (-1.0, 2.0)):
            gentf.init_param(fn, name, tf.constant(value, F64))
    return model, guide, [model, guide], dict(objective="elbo", num_particles=3), tf.constant(X[:, 1], F64)


def vae():
    """A small VAE in float32: Keras encoder x (4) -> (loc, log scale) of z (2) and decoder
    z -> mean of x, as eager-form TFFunctions; IWAE with 3 particles."""
    init = tf.keras.initializers.GlorotUniform(seed=0)
    encoder = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(4, kernel_initializer=init)])
    decoder = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(4, kernel_initializer=init)])
    enc, dec = TFFunction(encoder), TFFunction(decoder)

    @gen
    def model(x):
        z = normal(tf.zeros([tf.shape(x)[0], 2]), 1.0) @ "z"
        normal(dec(z) @ "decoder", 1.0) @ "x"

    @gen
    def guide(x):
        out = enc(x) @ "encoder"
        normal(out[:, :2], tf.exp(out[:, 2:])) @ "z"
    return model, guide, [enc, dec], dict(objective="iwae", num_particles=3), tf.constant(X, tf.float32)


def train(build, num_microbatches=None):
    """20 steps: 2 epochs of 10 minibatches of 8 (ADAM); returns the history and the parameters."""
    model, guide, trained, options, data = build()
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), *trained)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True)
    engine, history = gentf.svi(model, guide, dataset, update, lambda x: ((x,), (x,), {"x": x}), num_epochs=2,
                                seed=4, progress=False, num_microbatches=num_microbatches, **options)
    return {"history": history, "params": [v.numpy().tolist() for v in update.variables]}, engine, update


BUILDS = {"linear_gaussian": linear_gaussian, "mixture": mixture, "vae": vae}
results = {"single": {name: train(build, 2)[0] for name, build in BUILDS.items()}}
with STRATEGY.scope():
    distributed, errors = {}, {}
    for name, build in BUILDS.items():
        distributed[name], engine, update = train(build)
    try:  # 3 microbatches among 2 replicas
        gentf.SVI(engine.model, engine.guide, update, engine.data_fn, num_microbatches=3)
    except gentf.ArgumentError as e:
        errors["microbatches"] = str(e)
    try:  # a minibatch of 7 does not split between 2 replicas
        engine.step(tf.constant(X[:7], tf.float32), seed=0)
    except gentf.ArgumentError as e:
        errors["uneven"] = str(e)
results["distributed"] = distributed
results["errors"] = errors
results["replicas"] = STRATEGY.num_replicas_in_sync
results["microbatches"] = engine.num_microbatches
results["kinds"] = [type(update.variables[0]).__name__, type(update.accumulators[0]).__name__]
print("RESULT " + json.dumps(results), flush=True)
