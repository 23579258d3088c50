"""Pyro peer of bench/vae.py (no gentf import; run with the venv of bench/peers/setup_pyro.sh).

Seed 003's convolutional VAE in Pyro 1.9 on CPU torch, the same architecture as
examples/conv_vae.py (28x28x1 images, latent 2):

    encoder: Conv2d(1, 32, 3, stride 2) relu -> Conv2d(32, 64, 3, stride 2) relu -> flatten
             -> Linear(64*6*6, 2 L);  q(z | x) = N(loc, softplus(raw + 1e-5))      (Keras "valid")
    decoder: Linear(L, 7*7*32) relu -> ConvT(32, 64, 3, s2) relu -> ConvT(64, 32, 3, s2) relu
             -> ConvT(32, 1, 3, s1);  p(x | z) = Bernoulli(logits), event [1, 28, 28]  (Keras "same")
    model:   z ~ N(0, I_L) (event 1), x ~ p(x | z) (event 3), in a plate over the batch

One training step is ``SVI(model, guide, Adam(lr 1e-4), Trace_ELBO()).step(x)``: one reparameterised
sample, loss = -sum_b [log p(x_b | z_b) + log p(z_b) - log q(z_b | x_b)], backward, Adam update
(Pyro's loss is the batch sum; the gradient direction is the same as the mean's and Adam is scale
invariant up to eps). Timing: ``--warmup`` steps, then the median of ``--repeats`` steps (each
step's loss is a Python float: synchronised). Prints ONE JSON line {"64": ms, ..., versions}.

    python vae_pyro.py [--batches 64,256,1024] [--repeats 20] [--warmup 3]
"""
import argparse
import json
import statistics
import time

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

LATENT = 2


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2)
        self.dense = nn.Linear(64 * 6 * 6, 2 * LATENT)

    def forward(self, x):
        h = self.dense(torch.flatten(F.relu(self.conv2(F.relu(self.conv1(x)))), 1))
        return h[:, :LATENT], F.softplus(h[:, LATENT:] + 1e-5)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(LATENT, 7 * 7 * 32)
        self.deconv1 = nn.ConvTranspose2d(32, 64, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
        self.deconv3 = nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1)

    def forward(self, z):
        h = F.relu(self.dense(z)).view(-1, 32, 7, 7)
        return self.deconv3(F.relu(self.deconv2(F.relu(self.deconv1(h)))))


def make_svi():
    encoder, decoder = Encoder(), Decoder()

    def model(x):
        pyro.module("decoder", decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], LATENT), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=decoder(z)).to_event(3), obs=x)

    def guide(x):
        pyro.module("encoder", encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = encoder(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    return SVI(model, guide, Adam({"lr": 1e-4}), loss=Trace_ELBO())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", default="64,256,1024")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    out = {}
    for batch in (int(b) for b in a.batches.split(",")):
        pyro.clear_param_store()
        svi = make_svi()
        x = torch.bernoulli(torch.full((batch, 1, 28, 28), 0.3))
        for _ in range(a.warmup):
            svi.step(x)
        times = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            svi.step(x)
            times.append((time.perf_counter() - start) * 1e3)
        out[str(batch)] = statistics.median(times)
    out["versions"] = {"pyro": pyro.__version__, "torch": torch.__version__, "threads": torch.get_num_threads()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
