"""Compile time and peak memory of ``run_chain`` against kernel size (issue 12 §2).

Model: Gen.jl's "Iterative inference" regression with outliers (slope, intercept, noise,
prob_outlier, and ``is_outlier_i``, ``y_i`` for ``--points`` points). Kernel: ``k`` unseeded
``mh`` calls on one selection each, cycling through slope, intercept, noise and the
``is_outlier_i`` (k = 23 is the tutorial's final update size). Each k runs in a fresh
subprocess: the time of the first ``run_chain`` call (tracing + compiling + a 10-step chain)
minus a second call's (the run), and the subprocess's peak resident memory (``ru_maxrss``,
including TensorFlow's ~0.5 GB import baseline, printed as k = 0). Target: the 23-call kernel
compiles in <= 30 s and <= 2 GB with the default options (``jit_compile="auto"``: XLA only for
programs of at most ``XLA_MAX_OPS`` ops), growing linearly in k. ``on`` (XLA always) is printed
for comparison: ~15 s per ``mh`` call here.

    python bench/compile_cost.py [--ks 1 2 4 8 23] [--jit all|auto|on|off]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

POINTS = 20


def child(k, jit):
    import tensorflow as tf

    import gentf
    from gentf import bernoulli, gamma, gen, normal, select, uniform

    @gen
    def model(xs):
        slope = normal(0.0, 2.0) @ "slope"
        intercept = normal(0.0, 2.0) @ "intercept"
        noise = gamma(1.0, 1.0) @ "noise"
        prob_outlier = uniform(0.0, 0.5) @ "prob_outlier"
        for i in range(POINTS):
            outlier = bernoulli(prob_outlier) @ ("is_outlier", i)
            mean = tf.where(outlier, 0.0, slope * xs[i] + intercept)
            std = tf.where(outlier, 10.0, noise)
            normal(mean, std) @ ("y", i)

    xs = tf.linspace(-5.0, 5.0, POINTS)
    obs = {("y", i): float(2.0 * x - 1.0) for i, x in enumerate(xs.numpy())}
    trace = gentf.generate(model, (xs,), obs, seed=0)[0]
    sels = [select("slope"), select("intercept"), select("noise")] + \
        [select(("is_outlier", i)) for i in range(POINTS)]

    def kernel(trace):
        for j in range(k):
            trace, _ = gentf.mh(trace, sels[j % len(sels)])
        return trace

    if k == 0:
        return {"compile_s": 0.0, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}
    start = time.perf_counter()
    gentf.run_chain(kernel, trace, 10, seed=1, jit_compile=jit, progress=False)
    first = time.perf_counter() - start
    start = time.perf_counter()
    gentf.run_chain(kernel, trace, 10, seed=2, jit_compile=jit, progress=False)
    second = time.perf_counter() - start
    return {"compile_s": first - second, "run_s": second,
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ks", type=int, nargs="+", default=[0, 1, 2, 4, 8, 23])
    parser.add_argument("--jit", choices=["all", "auto", "on", "off"], default="all")
    parser.add_argument("--child", nargs=2)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(child(int(opts.child[0]), {"on": True, "off": False, "auto": "auto"}[opts.child[1]])))
        return
    jits = ["auto", "off", "on"] if opts.jit == "all" else [opts.jit]
    print(f"{'k':>3} {'jit':>4} {'compile s':>10} {'s per mh':>9} {'peak RSS GB':>12}")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for jit in jits:
        for k in opts.ks:
            out = subprocess.run([sys.executable, __file__, "--child", str(k), jit], capture_output=True,
                                 text=True, env=env)
            if out.returncode:
                print(f"{k:>3} {jit:>4} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            per = r["compile_s"] / k if k else 0.0
            print(f"{k:>3} {jit:>4} {r['compile_s']:>10.1f} {per:>9.2f} {r['rss_gb']:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
