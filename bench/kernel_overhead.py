"""Kernels called once per Python loop iteration, as Gen.jl programs are written (issue 12 §1).

Model: ``mu ~ normal(0, 1)``, ``y_i ~ normal(mu, 1)`` for 10 observations (elliptical slice needs
a Gaussian vector prior: there ``mu ~ mvnormal(0, I_1)``, the same model). Each kernel is called
eagerly once per loop iteration, unseeded (Gen.jl's style: seeds come from gentf's host stream),
after a warm-up that compiles its program (excluded). The baseline, run in the same process: a
hand-written ``tf.function`` doing the same MH update (prior proposal of ``mu``, accept with
``log u < sum_i log N(y_i; mu', 1) - log N(y_i; mu, 1)``), called the same way. Prints ms per
call and the ratio to the hand step (target: <= 3x). The machine is shared, so the timings
are interleaved: each of ``--repeats`` rounds times ``--calls`` calls of every kernel, each
right after ``--calls`` calls of the hand step, whose time is that ratio's base; the medians over
the rounds are printed (with the graph ops of each kernel's compiled program, ``core.compile.
num_ops``: a plain TF graph's run time grows with them).

    python bench/kernel_overhead.py [--calls 200] [--repeats 5]
"""
import argparse
import math
import time

import numpy as np
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core import compile as compiled
from gentf.inference._compile import kernel_owner

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


def timed(call, calls):
    """Seconds per call of ``call`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def graph_ops(gen_fn, name, *static):
    """Graph ops of the compiled per-call program of kernel ``name`` on ``gen_fn`` (its largest)."""
    state = compiled._owners.get(kernel_owner(gen_fn, name, *static))
    graphs = [p.graph for k, p in (state.programs.items() if state else ()) if k[0] == "concrete"]
    return max((compiled.num_ops(g) for g in graphs), default=0)


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
        "mh(selection)": (lambda t: gentf.mh(t, sel), trace, model, "mh"),
        "mh(proposal)": (lambda t: gentf.mh(t, random_walk, (0.5,)), trace, model, "mh", random_walk, None),
        "mh(involution)": (lambda t: gentf.mh(t, shift, (0.5,), shift_involution), trace, model, "mh", shift,
                           shift_involution),
        "hmc(L=10)": (lambda t: gentf.hmc(t, sel, L=10, eps=0.1), trace, model, "hmc"),
        "mala": (lambda t: gentf.mala(t, sel, 0.05), trace, model, "mala"),
        "elliptical_slice": (lambda t: gentf.elliptical_slice(t, "mu", tf.zeros(1), tf.eye(1)), trace_vec,
                             model_vec, "elliptical_slice"),
        "map_optimize": (lambda t: gentf.map_optimize(t, sel), trace, model, "map_optimize"),
    }
    calls = {"hand tf.function": hand_step()}
    calls.update({name: kernel_loop(fn, tr) for name, (fn, tr, *_) in kernels.items()})
    for call in calls.values():
        for _ in range(3):
            call()  # warm-up: eager first call, then tracing
    hand = calls.pop("hand tf.function")
    times = {name: [] for name in ["hand tf.function"] + list(calls)}
    ratios = {name: [] for name in calls}
    for _ in range(opts.repeats):
        for name, call in calls.items():  # each kernel right after a timing of the hand step
            base = timed(hand, opts.calls)
            times["hand tf.function"].append(base)
            times[name].append(timed(call, opts.calls))
            ratios[name].append(times[name][-1] / base)
    print(f"{'kernel':>18} {'ms/call':>9} {'x hand':>7} {'ops':>6}   (medians of {opts.repeats} rounds)")
    for name, ts in times.items():
        ratio = np.median(ratios[name]) if name in ratios else 1.0
        ops = graph_ops(*kernels[name][2:]) if name in kernels else 0
        print(f"{name:>18} {1e3 * np.median(ts):>9.3f} {ratio:>7.2f} {ops:>6}", flush=True)


if __name__ == "__main__":
    main()
