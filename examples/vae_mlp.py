"""Seed 002's MLP variational autoencoder, ported line by line: the same TF1 graph (placeholders,
Variables, ``_dense_mlp_layer`` / ``_mlp``), now cut into two graph-form ``TFFunction``s, the
encoder ``x -> [q_mu, q_logsigma]`` and the decoder ``z -> p_mu``, called from two @gen functions:

    guide(x):  out = encoder(x);  z ~ normal(q_mu, sqrt(exp(q_logsigma)))     # seed: z = q_mu + sqrt(exp(q_logsigma)) * eps
    model(x):  z ~ normal(0, 1);  p_mu = decoder(z);  x ~ Bernoulli(p_mu)     # seed: ll = x log p_mu + (1 - x) log(1 - p_mu)

``gentf.SVI`` maximises the ELBO ``E_q[log p(x, z) - log q(z | x)]`` (the seed's ``ll + kld``,
with the KL estimated by the same reparameterised sample instead of in closed form) with Adam
(learning rate 0.001), one compiled call per epoch over a ``tf.data`` pipeline. The seed's data
(grey MNIST) is binarised here so that ``x ~ Bernoulli`` is a proper likelihood.

Data: scikit-learn's 8x8 digits by default (no download); ``--mnist FOLDER`` reads the four MNIST
IDX files of a folder (e.g. ``/usr/share/datasets/fashion-mnist``). Prints the ELBO per epoch and
the test ELBO; ``--out DIR`` saves the seed's "test input / reconstruction" figure.

    python examples/vae_mlp.py [--epochs N] [--units U] [--latent L] [--mnist FOLDER] [--out DIR]
"""
import argparse
import os
import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import gentf
from gentf import ADAM, ParamUpdate, TFFunction, gen, normal
from gentf.datasets import load_digits, load_mnist
from gentf.modeling.tfp_choices import tfp_choice

tfd = tfp.distributions
global_dtype = tf.float32


# --- the seed's building blocks (tf.compat.v1 for tf.) ------------------------------------------
def _dense_mlp_layer(x, input_size, out_size, nonlinearity=tf.nn.softmax, name_prefix=""):
    w_init = tf.random.truncated_normal(shape=[input_size, out_size], stddev=0.001)
    b_init = tf.ones(shape=[out_size]) * 0.1
    W = tf.compat.v1.Variable(w_init, name="%s_W" % name_prefix)
    b = tf.compat.v1.Variable(b_init, name="%s_b" % name_prefix)
    out = nonlinearity(tf.matmul(x, W) + b)
    return out, [W, b]


def _mlp(x, n_layers, units_per_layer, input_size, out_size, nonlinearity=tf.tanh):
    train_vars = []
    x, v = _dense_mlp_layer(x, input_size, units_per_layer, nonlinearity, name_prefix="into_hidden")
    train_vars.extend(v)
    for l in range(n_layers - 1):
        x, v = _dense_mlp_layer(x, units_per_layer, units_per_layer, nonlinearity, name_prefix="hidden")
        train_vars.extend(v)
    x, v = _dense_mlp_layer(x, units_per_layer, out_size, nonlinearity, name_prefix="readout")
    train_vars.extend(v)
    return x, train_vars


def build_vae(input_size, encoder_depth=2, decoder_depth=2, encoder_units=500, decoder_units=500,
              latent_size=10, seed=0, encoder_nonlinearity=tf.nn.sigmoid, decoder_nonlinearity=tf.nn.sigmoid):
    """The seed's ``vae_graph``, as two graph-form TFFunctions (one graph, one session)."""
    vae_graph = tf.Graph()
    with vae_graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        with tf.name_scope("Encoder_Q"):
            x = tf.compat.v1.placeholder(shape=[None, input_size], dtype=global_dtype, name='x')
            q_network, q_mu_vars = _mlp(x, n_layers=encoder_depth, units_per_layer=encoder_units,
                                        input_size=input_size, out_size=encoder_units,
                                        nonlinearity=encoder_nonlinearity)
            w_mu = tf.compat.v1.Variable(tf.random.truncated_normal(shape=[encoder_units, latent_size], stddev=0.1), name="w_mu")
            w_logsig = tf.compat.v1.Variable(tf.random.truncated_normal(shape=[encoder_units, latent_size], stddev=0.1), name="w_logsig")
            b_mu = tf.compat.v1.Variable(tf.random.truncated_normal(shape=[latent_size], stddev=0.1), name="b_mu")
            b_logsig = tf.compat.v1.Variable(tf.random.truncated_normal(shape=[latent_size], stddev=0.1), name="b_logsig")
            q_mu = tf.matmul(q_network, w_mu) + b_mu
            q_logsigma = tf.matmul(q_network, w_logsig) + b_logsig
            q_out = tf.concat([q_mu, q_logsigma], 1)  # a TFFunction has one output tensor
            # the seed's sampling (epsilon, z) moves into the guide below
        with tf.name_scope("Decoder_P"):
            z = tf.compat.v1.placeholder(shape=[None, latent_size], dtype=global_dtype, name='z')
            p_mu, p_mu_vars = _mlp(z, n_layers=decoder_depth, units_per_layer=decoder_units,
                                   input_size=latent_size, out_size=input_size, nonlinearity=decoder_nonlinearity)
        # the seed's kld / ll / elbo / minimize_op are gentf.SVI's job; its Session and
        # global_variables_initializer are the TFFunctions' (each opens a session on vae_graph
        # and initialises its variables: sharing one session between two graph-form
        # TFFunctions fails in the graph form under rewrite)
    encoder = TFFunction(q_mu_vars + [w_mu, w_logsig, b_mu, b_logsig], [x], q_out)
    decoder = TFFunction(p_mu_vars, [z], p_mu)
    return encoder, decoder, latent_size


def make_vae(encoder, decoder, latent_size):
    """The generative model and the guide (the seed's encoder) as @gen functions."""
    @gen
    def guide(x):
        out = encoder(x) @ "encoder"
        q_mu, q_logsigma = out[:, :latent_size], out[:, latent_size:]
        return normal(q_mu, tf.sqrt(tf.exp(q_logsigma))) @ "z"

    @gen
    def model(x):
        z = normal(tf.zeros([tf.shape(x)[0], latent_size]), 1.0) @ "z"
        p_mu = decoder(z) @ "decoder"
        # the seed's 1e-10 guard against log(0) (1e-7: float32 cannot hold 1 - 1e-10)
        probs = tf.clip_by_value(p_mu, 1e-7, 1.0 - 1e-7)
        return tfp_choice(tfd.Independent(tfd.Bernoulli(probs=probs, dtype=global_dtype), 1)) @ "x"
    return model, guide


def data_fn(x):
    return (x,), (x,), {"x": x}


def load_images(mnist=None):
    """(train, test) binarised images, float32 (N, D)."""
    data = load_mnist(mnist) if mnist else load_digits()
    return [(x > 0.5).astype(np.float32) for x in (data.train_x, data.test_x)]


def run(epochs=10, minibatch_size=100, units=500, latent=10, lr=0.001, mnist=None, seed=0, out=None,
        verbose=True, max_train=None):
    train_x, test_x = load_images(mnist)
    if max_train:
        train_x = train_x[:max_train]
    encoder, decoder, latent_size = build_vae(train_x.shape[1], encoder_units=units, decoder_units=units,
                                              latent_size=latent, seed=seed)
    model, guide = make_vae(encoder, decoder, latent_size)
    update = ParamUpdate(ADAM(lr, 0.9, 0.999, 1e-8), encoder, decoder)
    engine = gentf.SVI(model, guide, update, data_fn)
    train_ds = (tf.data.Dataset.from_tensor_slices(train_x).shuffle(len(train_x), seed=seed)
                .batch(minibatch_size, drop_remainder=True))
    test_ds = tf.data.Dataset.from_tensor_slices(test_x).batch(minibatch_size)
    elbos, times = [], []
    for i in range(epochs):
        start = time.perf_counter()
        metrics = engine.run(train_ds, 1, seed=seed * 1000 + i)[0]
        times.append(time.perf_counter() - start)
        elbos.append(metrics["objective"])
        if verbose:
            print("Epoch %i: average elbo=%f (%.2f s)" % (i, metrics["objective"], times[-1]), flush=True)
    test = engine.evaluate(test_ds, seed=seed)["objective"]
    if verbose:
        print("test elbo=%f nats per image" % test)
    if out:
        save_reconstruction(encoder, decoder, latent_size, test_x, out)
    return {"elbos": np.array(elbos), "test_elbo": test, "epoch_seconds": np.array(times)}


def save_reconstruction(encoder, decoder, latent_size, test_x, out):
    """The seed's figure: a test input and its reconstruction (decoder at the posterior mean)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out, exist_ok=True)
    x_sample = test_x[:1]
    x_reconstruct = decoder(encoder(x_sample)[:, :latent_size]).numpy()[0]
    side = int(np.sqrt(x_sample.shape[1]))
    for k, (image, title) in enumerate(((x_sample[0], "Test input"), (x_reconstruct, "Reconstruction"))):
        plt.subplot(1, 2, k + 1)
        plt.imshow(image.reshape(side, side), vmin=0, vmax=1, cmap="gray")
        plt.title(title)
        plt.colorbar()
    plt.tight_layout()
    plt.savefig(os.path.join(out, "reconstruction.png"))
    plt.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--units", type=int, default=500)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--mnist", metavar="FOLDER", default=None, help="read MNIST-format IDX files from FOLDER")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for reconstruction.png")
    a = p.parse_args(argv)
    return run(a.epochs, a.batch, a.units, a.latent, a.lr, a.mnist, a.seed, a.out)


if __name__ == "__main__":
    main()
