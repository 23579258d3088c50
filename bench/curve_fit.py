"""GenJAX's curve-fitting benchmark: gentf against hand-written TF/TFP, GenJAX and NumPyro, in one run.

Workload: y = a + b x + c x^2 at 50 points x in [-1, 1], noise sd 0.05, priors a, b, c ~ N(0, 1)
(float32, as GenJAX).
- IS: importance sampling with 1k / 10k / 100k particles (prior proposal). gentf:
  ``importance_sampling`` (batched, compiled, XLA). Hand-written: one tf.function vectorised
  over particles, without and with XLA.
- HMC: 1,050 iterations x 20 leapfrog steps of size 0.01 on (a, b, c). gentf: ``hmc`` through
  the compiled chain driver ``run_chain`` (XLA). TFP: ``tfp.mcmc.HamiltonianMonteCarlo`` in
  ``sample_chain`` inside a tf.function, without and with XLA.
- NUTS: 500 warm-up (dual averaging) + 1,000 samples. gentf ``nuts`` vs TFP NUTS (both XLA);
  then the smallest ESS of a, b, c (``gentf.ess``; NumPyro's own estimator for NumPyro) and ESS
  per second of the median time, gentf against NumPyro (target: gentf/NumPyro ESS/s >= 1).

Prints the median milliseconds per run (after one warm-up run that traces and compiles) and
the ratio gentf / hand-written (the XLA hand-written version where there is one).

Peers: the same workloads in GenJAX and NumPyro (bench/peers/curve_fit_{genjax,numpyro}.py, timed
the same way, all jitted) run first, one after the other, each with the python of its own venv
under $GENTF_PEERS_DIR (default ~/.cache/gentf-peers; built by bench/peers/setup_peers.sh, e.g.
with --build-peers). Each row then also shows the peers' ms and gentf / peer. GenJAX has no NUTS.
GenJAX's IS rows return the particles' choices (as GenJAX's own benchmark); gentf returns whole
traces (Gen's API), so GenJAX is also timed returning whole traces ("IS 1k (traces)"): the
like-for-like comparison.

    python bench/curve_fit.py [--repeats N] [--quick] [--peers auto|none|genjax,numpyro] [--build-peers]
    (--quick: 3 repeats, NUTS 100 + 200; --peers auto, the default: the peers whose venv exists)
"""
import argparse
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import gentf
from gentf import gen, normal, select

tfd = tfp.distributions
NOISE = 0.05
XS = tf.constant(np.linspace(-1, 1, 50), tf.float32)
TRUE = (0.3, -0.7, 0.5)
YS = tf.constant(TRUE[0] + TRUE[1] * XS.numpy() + TRUE[2] * XS.numpy() ** 2
                 + NOISE * np.random.default_rng(0).standard_normal(50), tf.float32)
SEL = select("a", "b", "c")


@gen
def curve(xs):
    a = normal(0.0, 1.0) @ "a"
    b = normal(0.0, 1.0) @ "b"
    c = normal(0.0, 1.0) @ "c"
    normal(a + b * xs + c * xs * xs, NOISE) @ "ys"


def median_ms(fn, repeats):
    out = fn()  # warm-up: trace + compile
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        for t in tf.nest.flatten(out):  # wait for the results
            if hasattr(t, "numpy"):
                t.numpy()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


# --- hand-written TF/TFP ---------------------------------------------------------------------
def log_joint(theta):
    """log p(theta, ys) for theta of shape [..., 3]."""
    a, b, c = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
    mu = a + b * XS + c * XS * XS
    lik = tf.reduce_sum(tfd.Normal(mu, NOISE).log_prob(YS), -1)
    return lik + tf.reduce_sum(tfd.Normal(0.0, 1.0).log_prob(theta), -1)


def hand_is(n):
    def run(seed):
        # Philox by name: XLA's default generator is ~20x slower on CPU (see gentf.core.seeds)
        theta = tf.random.stateless_normal([n, 3], seed, alg="philox")
        a, b, c = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        log_w = tf.reduce_sum(tfd.Normal(a + b * XS + c * XS * XS, NOISE).log_prob(YS), -1)
        total = tf.reduce_logsumexp(log_w)
        return theta, log_w - total, total - math.log(n)
    return run


def tfp_hmc(seed):
    kernel = tfp.mcmc.HamiltonianMonteCarlo(log_joint, step_size=0.01, num_leapfrog_steps=20)
    return tfp.mcmc.sample_chain(1050, tf.zeros(3), kernel=kernel, seed=seed,
                                 trace_fn=lambda _, r: r.is_accepted)


def tfp_nuts(num_warmup, num_samples):
    def run(seed):
        kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
            tfp.mcmc.NoUTurnSampler(log_joint, step_size=0.1), num_adaptation_steps=num_warmup,
            target_accept_prob=0.8)
        return tfp.mcmc.sample_chain(num_samples, tf.zeros(3), kernel=kernel, num_burnin_steps=num_warmup,
                                     seed=seed, trace_fn=lambda _, r: r.inner_results.is_accepted)
    return run


# --- peers: GenJAX and NumPyro, each in its own venv ---------------------------------------
PEERS = {"genjax": "GenJAX", "numpyro": "NumPyro"}
PEER_DIR = Path(__file__).resolve().parent / "peers"
PEER_RESULTS = {}  # label -> {workload: ms, "versions": {...}}


def peer_python(name):
    root = Path(os.environ.get("GENTF_PEERS_DIR", Path.home() / ".cache" / "gentf-peers"))
    return root / name / "bin" / "python"


def run_peers(opts):
    """Run each requested peer's script (sequentially, before any gentf timing) and keep its JSON."""
    names = list(PEERS) if opts.peers == "auto" else [p for p in opts.peers.split(",") if p and p != "none"]
    if opts.build_peers and names:
        subprocess.run(["bash", str(PEER_DIR / "setup_peers.sh"), *names], check=True)
    for name in names:
        python = peer_python(name)
        if not python.exists():
            if opts.peers != "auto":
                print(f"peer {name}: no venv at {python.parent.parent} (try --build-peers)", flush=True)
            continue
        cmd = [str(python), str(PEER_DIR / f"curve_fit_{name}.py"), "--repeats", str(opts.repeats)]
        proc = subprocess.run(cmd + ["--quick"] * opts.quick, capture_output=True, text=True)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode or not lines:
            print(f"peer {name} failed (rc {proc.returncode}): {proc.stderr.strip()[-500:]}", flush=True)
            continue
        PEER_RESULTS[PEERS[name]] = json.loads(lines[-1])
        versions = " ".join(f"{k} {v}" for k, v in PEER_RESULTS[PEERS[name]]["versions"].items())
        print(f"peer {PEERS[name]}: {versions}", flush=True)


def row(name, gentf_ms, hand):
    best = min(ms for _, ms in hand)
    hand_txt = "  ".join(f"{label} {ms:9.2f}" for label, ms in hand)
    peer_txt = ""
    for label, res in PEER_RESULTS.items():
        ms = res.get(name)
        peer_txt += (f"   {label} {ms:9.2f} gentf/{label} {gentf_ms / ms:6.2f}" if ms
                     else f"   {label} {'-':>9} gentf/{label} {'-':>6}")
    print(f"{name:<14} gentf {gentf_ms:9.2f}   {hand_txt}   ratio {gentf_ms / best:6.2f}{peer_txt}",
          flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-nuts", action="store_true")
    parser.add_argument("--peers", default="auto", help="auto | none | comma list of genjax,numpyro")
    parser.add_argument("--build-peers", action="store_true", help="run bench/peers/setup_peers.sh first")
    opts = parser.parse_args()
    repeats = 3 if opts.quick else opts.repeats
    run_peers(opts)
    seed = tf.constant([1, 2], tf.int32)
    obs = {"ys": YS}
    print(f"ms per run (median of {repeats}); ratio = gentf / fastest hand-written; device "
          f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}")

    gentf_ms = {}
    for n in (1_000, 10_000, 100_000):
        g = gentf_ms[f"IS {n // 1000}k"] = median_ms(
            lambda: gentf.importance_sampling(curve, (XS,), obs, n, seed=seed), repeats)
        plain = tf.function(hand_is(n), autograph=False)
        xla = tf.function(hand_is(n), autograph=False, jit_compile=True)
        row(f"IS {n // 1000}k", g, [("TF", median_ms(lambda: plain(seed), repeats)),
                                    ("TF+XLA", median_ms(lambda: xla(seed), repeats))])

    trace = gentf.generate(curve, (XS,), obs, seed=0)[0]
    hmc_kernel = lambda t, s: gentf.hmc(t, SEL, L=20, eps=0.01, seed=s)
    g = gentf_ms["HMC 1050x20"] = median_ms(lambda: gentf.run_chain(hmc_kernel, trace, 1050, seed=seed), repeats)
    plain = tf.function(tfp_hmc, autograph=False)
    xla = tf.function(tfp_hmc, autograph=False, jit_compile=True)
    row("HMC 1050x20", g, [("TFP", median_ms(lambda: plain(seed), repeats)),
                           ("TFP+XLA", median_ms(lambda: xla(seed), repeats))])

    if not opts.skip_nuts:
        warm, samples = (100, 200) if opts.quick else (500, 1000)
        run = lambda: gentf.nuts(trace, SEL, num_samples=samples, num_warmup=warm, step_size=0.1, seed=seed)
        g = median_ms(run, repeats)
        xla = tf.function(tfp_nuts(warm, samples), autograph=False, jit_compile=True)
        name = f"NUTS {warm}+{samples}"
        row(name, g, [("TFP+XLA", median_ms(lambda: xla(seed), repeats))])
        draws = run()[1]
        ess = min(float(gentf.ess(np.asarray(draws[k], np.float64))) for k in "abc")
        line = f"{name} min ESS of a, b, c: gentf {ess:.0f} ({1000 * ess / g:.0f} per s)"
        for label, res in PEER_RESULTS.items():
            if res.get(f"{name} min ESS"):
                peer = res[f"{name} min ESS"] / res[name] * 1000
                line += f"   {label} {res[f'{name} min ESS']:.0f} ({peer:.0f} per s)   gentf/{label} ESS/s {1000 * ess / g / peer:.2f}"
        print(line, flush=True)

    for label, res in PEER_RESULTS.items():  # peer variants: "IS 1k (traces)", "HMC 1050x20 (genjax.mcmc.hmc)"
        for key, ms in res.items():
            if "(" in key:
                base = gentf_ms.get(key.split(" (")[0])
                ratio = f"   gentf/{label} {base / ms:6.2f}" if base else ""
                print(f"{label} {key}: {ms:.2f} ms{ratio}", flush=True)


if __name__ == "__main__":
    main()
