"""Seed 003's convolutional VAE with TFP distributions, as gentf programs.

The seed's Keras models return distributions: the encoder a ``MultivariateNormalDiag`` (batch
``[B]``, event ``[latent]``), the decoder ``Independent(Bernoulli(logits), 3)`` (event ``[H, W, 1]``),
the learnable prior a ``MixtureSameFamily`` of ``MultivariateNormalDiag``s. Wrapped in eager-form
``TFFunction``s they are called from @gen functions, and ``tfp_choice`` traces the returned
distributions as choices::

    guide(x):  q = encoder(x);  z ~ q                           # seed: approx_posterior$sample()
    model(x):  prior = latent_prior();  z ~ prior (B draws);  x ~ decoder(z)

``gentf.SVI`` maximises the ELBO ``E_q[log p(x | z)] - E_q[log q(z | x) - log p(z)]``: the seed's
``-(avg_nll + kl_loss)``, with its ``compute_kl_loss`` (the same one-sample estimate), trained with
Adam (1e-4) on ``tf.data`` minibatches (shuffle, batch), one compiled call per epoch; the prior's
parameters train with the networks (``--prior mixture``). Each epoch prints the seed's
``nll / kl / total`` and saves a ``tf.train.Checkpoint`` (``--resume`` continues from it) and
TensorBoard scalars; at the end ``samples.png`` (random images from the prior) and
``latent.png`` (the decoder over a grid of the 2-D latent space), and as last line the test-set
ELBO and the IWAE estimate of log p(x) (``--iwae-k`` particles), in nats per image.

Data (binarised at 0.5): ``--data digits`` (default: scikit-learn's 8x8 digits, no download),
``--data fashion-mnist`` (Debian's Fashion-MNIST IDX files), ``--data npz:PATH`` (a KMNIST-style
``.npz`` of uint8 images, as the seed's ``kmnist-train-imgs.npz``; 10% held out for testing).

    python examples/conv_vae.py [--prior static|mixture] [--epochs N] [--batch 256] [--lr 1e-4]
                                [--latent 2] [--data digits] [--out DIR] [--resume]
"""
import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow.core.framework import summary_pb2

import gentf
from gentf import ParamUpdate, TFFunction, gen, tfp_choice

tfd = tfp.distributions


# --- the seed's models ---------------------------------------------------------------------------
class Encoder(keras.Model):
    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.conv1 = keras.layers.Conv2D(filters=32, kernel_size=3, strides=2, activation="relu")
        self.conv2 = keras.layers.Conv2D(filters=64, kernel_size=3, strides=2, activation="relu")
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(units=2 * latent_dim)

    def call(self, x):
        x = self.dense(self.flatten(self.conv2(self.conv1(x))))
        return tfd.MultivariateNormalDiag(loc=x[:, :self.latent_dim],
                                          scale_diag=tf.nn.softplus(x[:, self.latent_dim:] + 1e-5))


class Decoder(keras.Model):
    def __init__(self, side):
        super().__init__()
        quarter = side // 4  # the seed's 7 for 28x28 images
        self.dense = keras.layers.Dense(units=quarter * quarter * 32, activation="relu")
        self.reshape = keras.layers.Reshape(target_shape=(quarter, quarter, 32))
        self.deconv1 = keras.layers.Conv2DTranspose(filters=64, kernel_size=3, strides=2, padding="same", activation="relu")
        self.deconv2 = keras.layers.Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding="same", activation="relu")
        self.deconv3 = keras.layers.Conv2DTranspose(filters=1, kernel_size=3, strides=1, padding="same")

    def call(self, z):
        x = self.deconv3(self.deconv2(self.deconv1(self.reshape(self.dense(z)))))
        return tfd.Independent(tfd.Bernoulli(logits=x), reinterpreted_batch_ndims=3)


class LearnablePrior(tf.Module):
    """The seed's ``learnable_prior_model``: a mixture of ``mixture_components`` diagonal normals."""

    def __init__(self, latent_dim, mixture_components=16, seed=0):
        rng = np.random.default_rng(seed)
        self.loc = tf.Variable(rng.normal(size=(mixture_components, latent_dim)).astype(np.float32), name="loc")
        self.raw_scale_diag = tf.Variable(rng.normal(size=(mixture_components, latent_dim)).astype(np.float32),
                                          name="raw_scale_diag")
        self.mixture_logits = tf.Variable(np.zeros(mixture_components, np.float32), name="mixture_logits")

    def __call__(self):
        return tfd.MixtureSameFamily(
            components_distribution=tfd.MultivariateNormalDiag(loc=self.loc,
                                                               scale_diag=tf.nn.softplus(self.raw_scale_diag)),
            mixture_distribution=tfd.Categorical(logits=self.mixture_logits))


class StaticPrior(tf.Module):
    def __init__(self, latent_dim):
        self.latent_dim = latent_dim

    def __call__(self):
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]), scale_diag=tf.ones([self.latent_dim]))


# --- the gentf program ---------------------------------------------------------------------------
def make_vae(encoder, decoder, latent_prior):
    """``(model, guide)``: @gen functions over a minibatch ``x`` ``[B, H, W, 1]``."""
    @gen
    def guide(x):
        approx_posterior = encoder(x) @ "encoder"
        return tfp_choice(approx_posterior) @ "z"

    @gen
    def model(x):
        prior = latent_prior() @ "prior"
        z = tfp_choice(prior, sample_shape=tf.shape(x)[:1]) @ "z"
        decoder_likelihood = decoder(z) @ "decoder"
        return tfp_choice(decoder_likelihood) @ "x"
    return model, guide


def data_fn(x):
    """A minibatch of float images -> model args, guide args, observations (int32 for Bernoulli)."""
    return (x,), (x,), {"x": tf.cast(x, tf.int32)}


def load_images(spec, seed=0):
    """(train, test) binarised images, float32 ``[N, H, W, 1]``."""
    from gentf import datasets
    if spec == "digits":
        d = datasets.load_digits(seed=seed)
        train, test = d.train_x, d.test_x
    elif spec == "fashion-mnist":
        folder = datasets.fashion_mnist_folder()
        if folder is None:
            raise SystemExit(f"--data fashion-mnist: install Debian's dataset-fashion-mnist ({datasets.FASHION_MNIST_FOLDER})")
        d = datasets.load_mnist(folder)
        train, test = d.train_x, d.test_x
    elif spec.startswith("npz:"):
        with np.load(spec[4:]) as f:
            images = f[f.files[0]].astype(np.float64) / 255.0
        images = images.reshape(len(images), -1)
        cut = len(images) * 9 // 10
        train, test = images[:cut], images[cut:]
    else:
        raise SystemExit(f"--data: expected digits, fashion-mnist or npz:PATH, got {spec!r}")
    side = int(round(np.sqrt(train.shape[1])))
    return [(x > 0.5).astype(np.float32).reshape(-1, side, side, 1) for x in (train, test)]


class ConvVAE:
    """Networks, prior, gentf functions, optimiser and checkpoint of one run."""

    def __init__(self, side, latent_dim=2, prior="static", lr=1e-4, seed=0):
        keras.utils.set_random_seed(seed)
        self.encoder_net, self.decoder_net = Encoder(latent_dim), Decoder(side)
        self.encoder_net(tf.zeros([1, side, side, 1]))   # build the layers: TFFunction's parameters
        self.decoder_net(tf.zeros([1, latent_dim]))      # are the variables that exist when wrapped
        self.prior_net = LearnablePrior(latent_dim, seed=seed) if prior == "mixture" else StaticPrior(latent_dim)
        self.encoder, self.decoder = TFFunction(self.encoder_net), TFFunction(self.decoder_net)
        self.latent_prior = TFFunction(self.prior_net, variables=self.prior_net.trainable_variables)
        self.model, self.guide = make_vae(self.encoder, self.decoder, self.latent_prior)
        self.optimizer = keras.optimizers.Adam(lr)
        trained = [self.encoder, self.decoder] + ([self.latent_prior] if prior == "mixture" else [])
        self.svi = gentf.SVI(self.model, self.guide, ParamUpdate(self.optimizer, *trained), data_fn)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(encoder=self.encoder_net, decoder=self.decoder_net,
                                              prior=self.prior_net, optimizer=self.optimizer, epoch=self.epoch)


def run(prior="static", epochs=30, batch=256, lr=1e-4, latent=2, data="digits", out=None, resume=False,
        iwae_k=100, seed=0, verbose=True, max_train=None):
    train_x, test_x = load_images(data, seed)
    if max_train:
        train_x = train_x[:max_train]
    vae = ConvVAE(train_x.shape[1], latent, prior, lr, seed)
    out = out or os.path.join("out", "conv_vae")
    manager = tf.train.CheckpointManager(vae.checkpoint, os.path.join(out, "checkpoints"), max_to_keep=2)
    if resume and manager.latest_checkpoint:
        vae.checkpoint.restore(manager.latest_checkpoint)
        if verbose:
            print(f"resumed from {manager.latest_checkpoint} (epoch {int(vae.epoch)})")
    writer = tf.summary.create_file_writer(os.path.join(out, "tensorboard"))
    buffer_size = len(train_x)
    test_dataset = tf.data.Dataset.from_tensor_slices(test_x).batch(batch)
    history, times = [], []
    while int(vae.epoch) < epochs:
        epoch = int(vae.epoch)
        start = time.perf_counter()
        # the epoch's shuffle and draws depend on (seed, epoch) only: a resumed run repeats them
        train_dataset = (tf.data.Dataset.from_tensor_slices(train_x)
                         .shuffle(buffer_size, seed=seed * 100003 + epoch).batch(batch))
        m = vae.svi.run(train_dataset, 1, seed=[seed, epoch])[0]
        times.append(time.perf_counter() - start)
        history.append(m)
        vae.epoch.assign_add(1)
        manager.save()
        with writer.as_default():
            for key, value in (("nll", -m["loglik"]), ("kl", m["kl"]), ("elbo", m["objective"])):
                tf.summary.write(key, tf.constant(value, tf.float32), step=epoch, metadata=_SCALAR)
        if verbose:
            print(f"Losses (epoch): {epoch + 1}: {-m['loglik']:.4f} nll {m['kl']:.4f} kl "
                  f"{-m['objective']:.4f} total ({times[-1]:.2f} s)", flush=True)
    writer.flush()
    save_images(vae, train_x.shape[1], latent, out)
    test_elbo = vae.svi.evaluate(test_dataset, seed=[seed, 10**6])["objective"]
    test_iwae = vae.svi.evaluate(test_dataset, "iwae", iwae_k, seed=[seed, 10**6 + 1])["objective"]
    if verbose:
        print(f"test ELBO {test_elbo:.4f} nats/image, IWAE (K={iwae_k}) log p(x) {test_iwae:.4f} nats/image")
    return {"history": history, "epoch_seconds": np.array(times), "test_elbo": test_elbo,
            "test_iwae": test_iwae, "vae": vae}


# TensorBoard's scalar-plugin metadata: tf.summary.write needs no tensorboard package installed
_SCALAR = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()


def save_images(vae, side, latent, out, n=8):
    """``samples.png``: n x n images from the prior; ``latent.png``: the decoder's mean over an
    n x n grid of the first two latent coordinates (the usual VAE grid; normal quantiles)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm
    os.makedirs(out, exist_ok=True)
    z = vae.prior_net().sample(n * n, seed=[1, 2])
    samples = vae.decoder_net(z).mean().numpy()
    q = norm.ppf(np.linspace(0.05, 0.95, n)).astype(np.float32)
    grid = np.zeros((n * n, latent), np.float32)
    grid[:, 0], grid[:, 1 % latent] = np.repeat(q, n), np.tile(q, n)
    means = vae.decoder_net(tf.constant(grid)).mean().numpy()
    for name, images in (("samples.png", samples), ("latent.png", means)):
        tiled = images.reshape(n, n, side, side).transpose(0, 2, 1, 3).reshape(n * side, n * side)
        plt.figure(figsize=(4, 4))
        plt.imshow(tiled, cmap="gray", vmin=0, vmax=1)
        plt.axis("off")
        plt.savefig(os.path.join(out, name), bbox_inches="tight")
        plt.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prior", choices=("static", "mixture"), default="static")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--latent", type=int, default=2)
    p.add_argument("--data", default="digits", help="digits | fashion-mnist | npz:PATH")
    p.add_argument("--out", default=os.path.join("out", "conv_vae"))
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--iwae-k", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return run(a.prior, a.epochs, a.batch, a.lr, a.latent, a.data, a.out, a.resume, a.iwae_k, a.seed)


if __name__ == "__main__":
    main()
