"""Smoke and behaviour tests of examples/vae_mlp.py and examples/conv_vae.py (tiny settings on the
bundled 8x8 digits): the ELBO improves, the mixture prior trains, outputs are written, the
IWAE bound is at least the ELBO, and a checkpoint round trip continues bit for bit."""
import os
import subprocess
import sys

import numpy as np

import gentf
from gentf.core import compile as compiled

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)


def test_vae_mlp_elbo_improves():
    import vae_mlp
    r = vae_mlp.run(epochs=3, units=64, verbose=False)
    elbos = r["elbos"]
    assert np.all(np.isfinite(elbos)) and elbos[-1] > elbos[0] + 1.0, elbos   # ~ -32 -> -26 nats
    assert np.isfinite(r["test_elbo"]) and -64 * np.log(2) - 5 < r["test_elbo"] < 0


def test_conv_vae_mixture_prior_trains_and_writes_outputs(tmp_path):
    import conv_vae
    r = conv_vae.run(prior="mixture", epochs=3, lr=1e-3, iwae_k=8, out=str(tmp_path), verbose=False)
    total = [m["objective"] for m in r["history"]]
    assert total[-1] > total[0] + 0.5, total                     # ~ -44 -> -40 nats at lr 1e-3
    for m in r["history"]:
        np.testing.assert_allclose(m["loglik"] - m["kl"], m["objective"], rtol=1e-6)
    prior = r["vae"].prior_net
    fresh = conv_vae.LearnablePrior(2, seed=0)
    for moved, start in ((prior.loc, fresh.loc), (prior.raw_scale_diag, fresh.raw_scale_diag),
                         (prior.mixture_logits, fresh.mixture_logits)):
        assert np.max(np.abs(moved.numpy() - start.numpy())) > 1e-3  # the prior's parameters train
    assert r["test_iwae"] >= r["test_elbo"] - 0.05                  # K=8 bound vs one-sample ELBO
    for name in ("samples.png", "latent.png"):
        assert os.path.getsize(tmp_path / name) > 0
    assert os.listdir(tmp_path / "tensorboard") and os.path.exists(tmp_path / "checkpoints" / "checkpoint")
    function, *concrete = compiled.programs(r["vae"].svi, gentf.SVI.program_key("epoch", "elbo", 1, True))
    assert function.experimental_get_tracing_count() == 1 and len(concrete) == 1  # one program for every epoch


def test_conv_vae_checkpoint_round_trip_continues_bit_for_bit(tmp_path):
    import conv_vae
    straight = conv_vae.run(prior="mixture", epochs=2, lr=1e-3, iwae_k=2, out=str(tmp_path / "a"),
                            verbose=False, max_train=512)
    conv_vae.run(prior="mixture", epochs=1, lr=1e-3, iwae_k=2, out=str(tmp_path / "b"), verbose=False,
                 max_train=512)
    resumed = conv_vae.run(prior="mixture", epochs=2, lr=1e-3, iwae_k=2, out=str(tmp_path / "b"),
                           resume=True, verbose=False, max_train=512)
    assert len(resumed["history"]) == 1
    assert resumed["history"][0] == straight["history"][1]
    for a, b in zip(straight["vae"].checkpoint.encoder.weights, resumed["vae"].checkpoint.encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(straight["vae"].prior_net.loc.numpy(), resumed["vae"].prior_net.loc.numpy())


def test_conv_vae_script_prints_losses_and_final_estimates(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "conv_vae.py"), "--epochs", "1",
                          "--iwae-k", "4", "--out", str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert "nll" in lines[0] and "kl" in lines[0] and "total" in lines[0]
    assert lines[-1].startswith("test ELBO") and "IWAE (K=4)" in lines[-1]
