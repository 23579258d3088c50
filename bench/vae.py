"""Seed 003's convolutional VAE: gentf's ``SVI`` step vs a hand-written TF2/TFP ``tf.function``
step vs Pyro 1.9 (CPU torch), and (``--quality``) a short training run on real Fashion-MNIST.

Architecture (examples/conv_vae.py, the seed's; 28x28x1 images, latent L = 2, static N(0, I)
prior): encoder Conv2D(32, 3, s2) relu -> Conv2D(64, 3, s2) relu -> Dense(2L) ->
``MultivariateNormalDiag(loc, softplus(raw + 1e-5))``; decoder Dense(7*7*32) relu ->
Conv2DT(64, 3, s2) relu -> Conv2DT(32, 3, s2) relu -> Conv2DT(1, 3, s1) ->
``Independent(Bernoulli(logits), 3)``. One training step, for a minibatch x of B images::

    z_b = loc(x_b) + scale(x_b) * eps_b,   eps_b ~ N(0, I)          (reparameterised, one sample)
    ELBO = (1/B) sum_b [log p(x_b | z_b) + log p(z_b) - log q(z_b | x_b)]
    theta, phi <- Adam(1e-4) ascent step on ELBO (gradients by backprop through z_b)

- gentf: ``examples/conv_vae.ConvVAE`` (@gen model and guide, ``tfp_choice``, eager-form
  ``TFFunction``s, ``gentf.SVI.step``: one compiled call that returns the metrics as floats).
- TF: the same Keras ``Encoder``/``Decoder`` classes and maths in one hand-written
  ``tf.function`` (tape, ``apply_gradients``), returning its three metrics, read as floats.
- Pyro: ``bench/peers/vae_pyro.py`` in a subprocess with the venv of
  ``bench/peers/setup_pyro.sh`` (``$GENTF_PEERS_DIR/pyro``, default ``~/.cache/gentf-peers``).

Speed: for each batch size (64, 256, 1024; random binary images), ``--warmup`` steps (tracing),
then ``--repeats`` rounds that time one gentf step and one TF step alternately (the machine's
noise hits both alike); reports the medians in ms/step and gentf/TF. The last line reads
``ratio gentf/TF R1 gentf/Pyro R2`` at batch 256.

Quality (``--quality``): binarised Fashion-MNIST (Debian's ``dataset-fashion-mnist``, read with
``gentf.datasets``; 0.5 threshold), both trained from the same initial weights (same
``keras.utils.set_random_seed``, same construction order) with the same ``tf.data`` shuffle,
batch, epochs and Adam learning rate; reports the test ELBO (one sample per image) and the IWAE
estimate ``log (1/K) sum_k p(x, z_k) / q(z_k | x)``, K = 100, in nats per image, on the first
``--test-n`` test images.

    python bench/vae.py [--batches 64,256,1024] [--repeats 20] [--no-pyro]
    python bench/vae.py --quality [--epochs 2] [--lr 1e-3] [--test-n 1000]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
import conv_vae  # noqa: E402

tfd = tfp.distributions
SIDE, LATENT = 28, 2


class HandVAE:
    """The hand-written TF2/TFP program: the seed's training loop around the same networks."""

    def __init__(self, side=SIDE, latent=LATENT, lr=1e-4, seed=0):
        keras.utils.set_random_seed(seed)             # as ConvVAE: identical initial weights
        self.encoder, self.decoder = conv_vae.Encoder(latent), conv_vae.Decoder(side)
        self.encoder(tf.zeros([1, side, side, 1]))
        self.decoder(tf.zeros([1, latent]))
        self.prior = tfd.MultivariateNormalDiag(loc=tf.zeros([latent]), scale_diag=tf.ones([latent]))
        self.optimizer = keras.optimizers.Adam(lr)
        self.variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        self.step = tf.function(self._step)
        self.evaluate = tf.function(self._evaluate)

    def _step(self, x, seed):
        """ELBO = mean_b [log p(x_b | z_b) + log p(z_b) - log q(z_b | x_b)], z_b ~ q (reparam.)."""
        with tf.GradientTape() as tape:
            q = self.encoder(x)
            z = q.sample(seed=seed)
            nll = -tf.reduce_mean(self.decoder(z).log_prob(x))
            kl = tf.reduce_mean(q.log_prob(z) - self.prior.log_prob(z))
            loss = nll + kl
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.variables), self.variables))
        return {"objective": -loss, "loglik": -nll, "kl": kl}

    def _evaluate(self, x, seed, k):
        """Per-image sums over the batch: (sum_b ELBO_b with one z, sum_b IWAE_b with k z's)."""
        q = self.encoder(x)
        z = q.sample(k, seed=seed)                                     # [k, B, L]
        b = tf.shape(x)[0]
        log_lik = tf.reshape(self.decoder(tf.reshape(z, [-1, z.shape[-1]])).log_prob(
            tf.tile(x, [k, 1, 1, 1])), [k, b])
        log_w = log_lik + self.prior.log_prob(z) - q.log_prob(z)      # [k, B]
        iwae = tf.reduce_logsumexp(log_w, 0) - tf.math.log(tf.cast(k, log_w.dtype))
        return tf.reduce_sum(log_w[0]), tf.reduce_sum(iwae)


def fetch(metrics):
    return {key: float(v) for key, v in metrics.items()}


def speed(batches, repeats, warmup):
    rows = {}
    for batch in batches:
        x = tf.constant(np.random.default_rng(batch).random((batch, SIDE, SIDE, 1)) < 0.3, tf.float32)
        gentf_vae, hand = conv_vae.ConvVAE(SIDE, LATENT, "static", 1e-4, 0), HandVAE()
        for i in range(warmup):
            gentf_vae.svi.step(x, seed=[0, i])
            fetch(hand.step(x, tf.constant([0, i])))
        times = {"gentf": [], "TF": []}
        for i in range(repeats):
            start = time.perf_counter()
            gentf_vae.svi.step(x, seed=[1, i])
            times["gentf"].append(time.perf_counter() - start)
            start = time.perf_counter()
            fetch(hand.step(x, tf.constant([1, i])))
            times["TF"].append(time.perf_counter() - start)
        rows[batch] = {name: statistics.median(t) * 1e3 for name, t in times.items()}
        print(f"batch {batch:5d}: gentf {rows[batch]['gentf']:8.2f} ms/step  TF {rows[batch]['TF']:8.2f} "
              f"ms/step  gentf/TF {rows[batch]['gentf'] / rows[batch]['TF']:.2f}", flush=True)
    return rows


def pyro_speed(batches, repeats, warmup):
    """Pyro's medians {batch: ms} from the peer venv, or (None, why)."""
    python = os.path.join(os.environ.get("GENTF_PEERS_DIR", os.path.expanduser("~/.cache/gentf-peers")),
                          "pyro", "bin", "python")
    if not os.path.exists(python):
        return None, f"no Pyro venv at {python}: run `bash bench/peers/setup_pyro.sh`"
    cmd = [python, os.path.join(HERE, "peers", "vae_pyro.py"), "--batches", ",".join(map(str, batches)),
           "--repeats", str(repeats), "--warmup", str(warmup)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"vae_pyro.py failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {int(k): v for k, v in out.items() if k != "versions"}, out["versions"]


def quality(epochs, batch, lr, test_n, k, seed):
    train_x, test_x = conv_vae.load_images("fashion-mnist", seed)
    test_x = test_x[:test_n]
    gentf_vae, hand = conv_vae.ConvVAE(SIDE, LATENT, "static", lr, seed), HandVAE(lr=lr, seed=seed)
    for a, b in zip(gentf_vae.encoder_net.weights + gentf_vae.decoder_net.weights,
                    hand.encoder.weights + hand.decoder.weights):
        assert np.array_equal(a.numpy(), b.numpy()), "initial weights differ"
    test = tf.data.Dataset.from_tensor_slices(test_x).batch(100)
    results = {}
    for name in ("gentf", "TF"):
        start = time.perf_counter()
        for epoch in range(epochs):
            data = tf.data.Dataset.from_tensor_slices(train_x).shuffle(len(train_x), seed=seed * 100003 + epoch).batch(batch)
            if name == "gentf":
                m = gentf_vae.svi.run(data, 1, seed=[seed, epoch])[0]
            else:
                sums, count = {"objective": 0.0, "loglik": 0.0, "kl": 0.0}, 0
                for i, x in enumerate(data):
                    out = fetch(hand.step(x, tf.constant([seed * 7919 + epoch, i])))
                    n = int(x.shape[0])
                    sums = {key: sums[key] + out[key] * n for key in sums}
                    count += n
                m = {key: v / count for key, v in sums.items()}
            print(f"{name:5s} epoch {epoch + 1}: {-m['loglik']:.4f} nll {m['kl']:.4f} kl {-m['objective']:.4f} total",
                  flush=True)
        seconds = time.perf_counter() - start
        if name == "gentf":
            elbo = gentf_vae.svi.evaluate(test, seed=[seed, 10**6])["objective"]
            iwae = gentf_vae.svi.evaluate(test, "iwae", k, seed=[seed, 10**6 + 1])["objective"]
        else:
            totals = np.zeros(2)
            for i, x in enumerate(test):
                totals += [float(v) for v in hand.evaluate(x, tf.constant([seed, 10**6 + i]), k)]
            elbo, iwae = totals / len(test_x)
        results[name] = (elbo, iwae, seconds)
    for name, (elbo, iwae, seconds) in results.items():
        print(f"{name:5s}: test ELBO {elbo:.3f} nats/image, IWAE (K={k}) {iwae:.3f} nats/image "
              f"(training {seconds:.0f} s)")
    gap = results["gentf"][0] - results["TF"][0]
    print(f"test ELBO gentf - TF {gap:+.3f} nats/image ({len(test_x)} test images, {epochs} epochs, "
          f"batch {batch}, lr {lr})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="64,256,1024")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-pyro", action="store_true")
    p.add_argument("--quality", action="store_true")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-n", type=int, default=1000)
    p.add_argument("--iwae-k", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.quality:
        return quality(a.epochs, a.batch, a.lr, a.test_n, a.iwae_k, a.seed)
    batches = [int(b) for b in a.batches.split(",")]
    print(f"TF {tf.__version__}, TFP {tfp.__version__}, Keras {keras.__version__}; "
          f"threads intra {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}", flush=True)
    rows = speed(batches, a.repeats, a.warmup)
    pyro, info = (None, "--no-pyro") if a.no_pyro else pyro_speed(batches, a.repeats, a.warmup)
    if pyro is None:
        print(f"Pyro: not run ({info})")
    else:
        print(f"Pyro {info}")
        for batch in batches:
            print(f"batch {batch:5d}: Pyro {pyro[batch]:8.2f} ms/step  gentf/Pyro {rows[batch]['gentf'] / pyro[batch]:.2f}")
    ref = 256 if 256 in rows else batches[0]
    r1 = rows[ref]["gentf"] / rows[ref]["TF"]
    r2 = rows[ref]["gentf"] / pyro[ref] if pyro is not None else math.nan
    print(f"ratio gentf/TF {r1:.2f} gentf/Pyro {r2:.2f}")


if __name__ == "__main__":
    main()
