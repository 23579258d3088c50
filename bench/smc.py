"""Sequential Monte Carlo on a linear-Gaussian state-space model: gentf's particle filter against
a hand-written TF bootstrap filter and GenJAX's SMC, in one run, with the exact log Z (Kalman).

Model: x_t ~ N(0.9 x_{t-1}, 1) (x_{-1} = 0), y_t ~ N(x_t, 0.5^2), t < T (default 100), float32;
the data are one draw from the model (numpy seed 0). Every filter is a bootstrap filter (the
prior as proposal) that resamples multinomially when ESS < N/2 (Gen's ``maybe_resample``).
- gentf, written as Gen.jl users write it: ``Unfold`` of a one-step @gen kernel, then
  ``initialize_particle_filter`` and a Python loop of ``maybe_resample`` +
  ``particle_filter_step``. "gentf as a loop": that same function wrapped whole in a
  ``tf.function`` (one program per run). "gentf per call" (``--per-call``): the loop run eagerly,
  one cached compiled program per step; the trace grows every step, so every step is a new
  program (compiled in the warm-up run).
- hand TF: the filter on an ``[N]`` state tensor in a ``tf.while_loop``, one ``tf.function``;
  multinomial resampling by locating N uniforms in the weights' cdf (``searchsorted``). Without
  XLA: on CPU, XLA lowers both ``searchsorted`` and ``tf.random.stateless_categorical`` to N x N
  comparisons (T = 100, 10k particles: 26 s a run with XLA, 0.28 s without; 1k: 0.19 s, 0.02 s).
- GenJAX (bench/peers/smc_genjax.py, run first in its own venv, see bench/peers/setup_peers.sh):
  ``genjax.inference.smc.rejuvenation_smc`` without rejuvenation, jitted.
Prints, per N, each system's median ms per run (after one warm-up run that traces and compiles;
a fresh seed per run), the mean and sd of ``log Z_hat - log Z`` over the timed runs, and the
ratios gentf / hand TF and gentf / GenJAX.

    python bench/smc.py [--steps T] [--sizes 1000,10000] [--repeats R] [--per-call] [--peers auto|none]
                        [--genjax-sizes 1000]
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
from scipy import stats

import gentf
from gentf import gen, normal
from gentf.combinators import Unfold
from gentf.inference.particle_filter import (initialize_particle_filter, log_ml_estimate, maybe_resample,
                                             particle_filter_step)

A, Q, R = 0.9, 1.0, 0.5


def simulate_data(steps):
    rng = np.random.default_rng(0)
    x, ys = 0.0, []
    for _ in range(steps):
        x = A * x + Q * rng.standard_normal()
        ys.append(x + R * rng.standard_normal())
    return np.asarray(ys, np.float32)


def kalman_log_z(ys):
    """Exact ``log p(y_0..y_{T-1})`` (x_{-1} = 0, so x_0 ~ N(0, Q^2))."""
    m, p, ll = 0.0, 0.0, 0.0
    for y in ys.astype(np.float64):
        m, p = A * m, A * A * p + Q * Q
        s = p + R * R
        ll += stats.norm.logpdf(y, m, math.sqrt(s))
        m, p = m + p / s * (y - m), (1 - p / s) * p
    return ll


# --- gentf: Gen.jl's program --------------------------------------------------------------------
@gen
def kernel(t, x_prev):
    x = normal(A * x_prev, Q) @ "x"
    normal(x, R) @ "y"
    return x


chain = Unfold(kernel)


def gentf_filter(ys, n):
    x0 = tf.constant(0.0, tf.float32)

    def run(seed):
        state = initialize_particle_filter(chain, (1, x0), {(0, "y"): ys[0]}, n, seed=tf.stack([seed, 0]))
        for t in range(1, len(ys)):
            maybe_resample(state, seed=tf.stack([seed, 2 * t]))
            particle_filter_step(state, (t + 1, x0), (gentf.UnknownChange, gentf.NoChange),
                                 {(t, "y"): ys[t]}, seed=tf.stack([seed, 2 * t + 1]))
        return log_ml_estimate(state)
    return run


# --- hand-written TF bootstrap filter -----------------------------------------------------------
def hand_filter(ys, n, jit_compile=False):
    ys = tf.constant(ys)
    log_n = math.log(n)

    @tf.function(jit_compile=jit_compile)
    def run(seed):
        def body(t, x, log_w, log_z):
            s = tf.stack([seed, t])
            log_total = tf.reduce_logsumexp(log_w)
            ess = tf.exp(-tf.reduce_logsumexp(2.0 * (log_w - log_total)))

            def resample():  # multinomial: N uniforms located in the weights' cdf
                cdf = tf.math.cumsum(tf.exp(log_w - log_total))
                u = tf.random.stateless_uniform([n], s, maxval=cdf[-1], alg="philox")
                idx = tf.minimum(tf.searchsorted(cdf, u, side="right"), n - 1)
                return tf.gather(x, idx), tf.zeros_like(log_w), log_z + log_total - log_n
            x, log_w, log_z = tf.cond(ess < n / 2, resample, lambda: (x, log_w, log_z))
            x = A * x + Q * tf.random.stateless_normal([n], s + 7919, alg="philox")
            log_w = log_w + (-0.5 * ((ys[t] - x) / R) ** 2 - math.log(R) - 0.5 * math.log(2 * math.pi))
            return t + 1, x, log_w, log_z
        init = (0, tf.zeros([n]), tf.zeros([n]), tf.zeros([]))
        _, _, log_w, log_z = tf.while_loop(lambda t, *_: t < len(ys), body, init)
        return log_z + tf.reduce_logsumexp(log_w) - log_n
    return run


# --- timing -------------------------------------------------------------------------------------
def timed(run, repeats, exact):
    """Median ms per run (after a warm-up run, whose seconds are returned too) and the log Z errors."""
    start = time.perf_counter()
    run(tf.constant(0)).numpy()
    first = time.perf_counter() - start
    times, errors = [], []
    for r in range(repeats):
        start = time.perf_counter()
        value = float(run(tf.constant(r + 1)))
        times.append(time.perf_counter() - start)
        errors.append(value - exact)
    return 1000 * float(np.median(times)), first, np.asarray(errors)


def run_genjax(ys, sizes, repeats, peers):
    if peers == "none":
        return {}
    root = Path(os.environ.get("GENTF_PEERS_DIR", Path.home() / ".cache" / "gentf-peers"))
    python = root / "genjax" / "bin" / "python"
    if not python.exists():
        print(f"GenJAX: no venv at {python} (bash bench/peers/setup_peers.sh genjax)", flush=True)
        return {}
    script = Path(__file__).resolve().parent / "peers" / "smc_genjax.py"
    proc = subprocess.run([str(python), str(script), "--ys", json.dumps([float(y) for y in ys]),
                           "--repeats", str(repeats), "--sizes", ",".join(map(str, sizes))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"GenJAX failed (rc {proc.returncode}): {proc.stderr.strip()[-500:]}", flush=True)
        return {}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"GenJAX: {out.pop('versions')}", flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-call", action="store_true")
    parser.add_argument("--peers", default="auto")
    parser.add_argument("--genjax-sizes", default=None, help="default: --sizes (GenJAX's multinomial "
                        "resampling draws N x N Gumbels a step: minutes per run at 10k)")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    ys = simulate_data(opts.steps)
    exact = kalman_log_z(ys)
    print(f"T = {opts.steps}, exact log Z = {exact:.3f}; {opts.repeats} timed runs each", flush=True)
    genjax_sizes = sizes if opts.genjax_sizes is None else [int(s) for s in opts.genjax_sizes.split(",")]
    genjax = run_genjax(ys, genjax_sizes, opts.repeats, opts.peers)
    for n in sizes:
        rows = {"hand TF": timed(hand_filter(ys, n), opts.repeats, exact),
                "gentf as a loop": timed(tf.function(gentf_filter(ys, n), autograph=False), opts.repeats, exact)}
        if opts.per_call:
            rows["gentf per call"] = timed(gentf_filter(ys, n), opts.repeats, exact)
        peer = genjax.get(f"smc {n // 1000}k")
        if peer:
            rows["GenJAX"] = (peer["ms"], float("nan"), np.asarray(peer["log_z"]) - exact)
        hand_ms = rows["hand TF"][0]
        for name, (ms, first, err) in rows.items():
            ratios = f"/hand {ms / hand_ms:7.2f}"
            if peer:
                ratios += f"   /GenJAX {ms / peer['ms']:7.2f}"
            warm = "" if math.isnan(first) else f"   (first run {first:7.1f} s)"
            print(f"N={n:<6} {name:<16} {ms:10.2f} ms   log Z err {err.mean():+7.3f} (sd {err.std():.3f})   "
                  f"{ratios}{warm}", flush=True)


if __name__ == "__main__":
    main()
