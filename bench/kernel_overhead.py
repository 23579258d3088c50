"""Kernels called once per Python loop iteration, as Gen.jl programs are written (issue 12 §1).

Model: ``mu ~ normal(0, 1)``, ``y_i ~ normal(mu, 1)`` for 10 observations (elliptical slice needs
a Gaussian vector prior: there ``mu ~ mvnormal(0, I_1)``, the same model). Each kernel is called
eagerly once per loop iteration, unseeded (Gen.jl's style: seeds come from gentf's host stream),
after a warm-up that compiles its program (excluded). The baseline, run in the same process: a
hand-written ``tf.function`` doing the same MH update (prior proposal of ``mu``, accept with
``log u < sum_i log N(y_i; mu', 1) - log N(y_i; mu, 1)``), called the same way. Prints ms per
call and the ratio to the hand step (target: <= 3x). Best of ``--repeats`` timings of
``--calls`` calls each (the machine is shared: the minimum is the least disturbed).

    python bench/kernel_overhead.py [--calls 200] [--repeats 5]
"""
import argparse
import math
import time

import numpy as np
import tensorflow as tf

import gentf
from gentf import gen, normal, select

N = 10
YS = np.linspace(-0.5, 1.5, N).astype(np.float32)


@gen
def model(n):
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(n):
        normal(mu, 1.0) @ ("y", i)
    return mu


@gen
def model_vec(n):
    mu = gentf.mvnormal(tf.zeros(1), tf.eye(1)) @ "mu"
    for i in range(n):
        normal(mu[0], 1.0) @ ("y", i)
    return mu


@gen
def random_walk(trace, width):
    normal(trace["mu"], width) @ "mu"


@gen
def shift(trace, width):
    normal(0.0, width) @ "d"


def shift_involution(trace, fwd, fwd_ret, args):
    """``(mu, d) -> (mu + d, -d)``: volume-preserving, ``w = log p(t') - log p(t)``."""
    d = fwd["d"]
    new, w, _, _ = gentf.update(trace, constraints=gentf.choicemap({"mu": trace["mu"] + d}))
    return new, gentf.choicemap({"d": -d}), w


def hand_step():
    """The MH step written by hand in one tf.function."""
    ys = tf.constant(YS)

    def loglik(mu):
        return tf.reduce_sum(-0.5 * (ys - mu) ** 2) - 0.5 * N * math.log(2 * math.pi)

    @tf.function
    def step(mu, seed):
        s = tf.random.experimental.stateless_split(seed, 2)
        new = tf.random.stateless_normal([], s[0])
        alpha = loglik(new) - loglik(mu)
        accept = tf.math.log(tf.random.stateless_uniform([], s[1])) < alpha
        return tf.where(accept, new, mu), accept

    state = {"mu": tf.constant(0.0), "i": 0}

    def call():
        state["i"] += 1
        state["mu"], _ = step(state["mu"], tf.constant([0, state["i"]]))
    return call


def kernel_loop(fn, trace):
    state = {"t": trace}

    def call():
        out = fn(state["t"])
        state["t"] = out[0] if isinstance(out, tuple) else out
    return call


def timed(call, calls, repeats):
    for _ in range(3):
        call()  # warm-up: eager first call, then tracing
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    obs = gentf.choicemap({("y", i): float(YS[i]) for i in range(N)})
    trace = gentf.generate(model, (N,), obs, seed=0)[0]
    trace_vec = gentf.generate(model_vec, (N,), obs, seed=0)[0]
    sel = select("mu")
    kernels = {
        "mh(selection)": (lambda t: gentf.mh(t, sel), trace),
        "mh(proposal)": (lambda t: gentf.mh(t, random_walk, (0.5,)), trace),
        "mh(involution)": (lambda t: gentf.mh(t, shift, (0.5,), shift_involution), trace),
        "hmc(L=10)": (lambda t: gentf.hmc(t, sel, L=10, eps=0.1), trace),
        "mala": (lambda t: gentf.mala(t, sel, 0.05), trace),
        "elliptical_slice": (lambda t: gentf.elliptical_slice(t, "mu", tf.zeros(1), tf.eye(1)), trace_vec),
        "map_optimize": (lambda t: gentf.map_optimize(t, sel), trace),
    }
    base = timed(hand_step(), opts.calls, opts.repeats)
    print(f"{'kernel':>18} {'ms/call':>9} {'x hand':>7}")
    print(f"{'hand tf.function':>18} {1e3 * base:>9.3f} {1.0:>7.2f}")
    for name, (fn, tr) in kernels.items():
        t = timed(kernel_loop(fn, tr), opts.calls, opts.repeats)
        print(f"{name:>18} {1e3 * t:>9.3f} {t / base:>7.2f}")


if __name__ == "__main__":
    main()
