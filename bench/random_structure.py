"""Random control flow (issue 12 §2): importance resampling on Gen.jl's combined line/sine model.

Model ("Introduction to Modeling"): ``is_line ~ bernoulli(0.5)``; a Python ``if`` on it splices
the line model (slope ~ normal(0, 1), intercept ~ normal(0, 2)) or the sine model (phase ~
uniform(0, 2 pi), period ~ gamma(5, 1), amplitude ~ gamma(1, 1)); noise ~ gamma(1, 1);
``y_i ~ normal(f(x_i), noise)`` for 20 points. The ``if`` reads a random value, so the model
cannot be traced as one program.

Printed, in one run, ms per particle of ``importance_resampling``:
  eager  the eager per-particle loop importance sampling ran for such models before path programs
         (``generate`` per particle; timed on ``--eager-particles`` particles, its cost per
         particle does not depend on N);
  path   path-compiled (``inference.paths``): a stage program draws ``is_line`` for all particles,
         then one batched program per branch; ``first`` is the first call (tracing included),
         ``warm`` the median of ``--repeats`` later calls with new seeds (after ``--warmup`` calls:
         a new group size may trace one more program);
and the ratio eager / path (warm). Target: path <= 1 ms per particle at 10,000 particles.

    python bench/random_structure.py [--particles 1000 10000] [--eager-particles 10] [--repeats 3]
"""
import argparse
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import gentf  # noqa: E402
from gentf.core.seeds import as_seed, split_seed, vectorizable_randomness  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from intro_to_modeling import combined_model  # noqa: E402  (Gen.jl's tutorial model)


XS = [-5.0 + 10.0 * i / 19 for i in range(20)]
YS = [2.0 * math.sin(2 * math.pi * x / 4.0 + 0.5) for x in XS]  # a sine: the posterior favours it
OBS = {("y", i): y for i, y in enumerate(YS)}


def eager_ms(n):
    """ms per particle of the eager loop (the batched generator, as importance sampling's loop)."""
    seeds = tf.unstack(split_seed(as_seed(0), n + 1))
    with vectorizable_randomness():
        gentf.generate(combined_model, (XS,), OBS, seed=seeds[0])
        start = time.perf_counter()
        for s in seeds[1:]:
            gentf.generate(combined_model, (XS,), OBS, seed=s)
    return (time.perf_counter() - start) / n * 1e3


def path_ms(n, warmup, repeats):
    """(first call, median warm call) in ms per particle, and P(is_line | data) of the last call."""
    start = time.perf_counter()
    gentf.importance_resampling(combined_model, (XS,), OBS, n, seed=1)
    first = time.perf_counter() - start
    for s in range(warmup):
        gentf.importance_resampling(combined_model, (XS,), OBS, n, seed=100 + s)
    times = []
    for s in range(repeats):
        start = time.perf_counter()
        gentf.importance_resampling(combined_model, (XS,), OBS, n, seed=200 + s)
        times.append(time.perf_counter() - start)
    traces, log_w, _ = gentf.importance_sampling(combined_model, (XS,), OBS, n, seed=300)
    w = np.exp(np.asarray(log_w, np.float64))
    p_line = float(np.sum(w[traces.values(("is_line",)) == True]))  # noqa: E712 (object array)
    return first / n * 1e3, statistics.median(times) / n * 1e3, p_line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--eager-particles", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    eager = eager_ms(opts.eager_particles)
    print(f"eager loop: {eager:.2f} ms per particle ({opts.eager_particles} particles)")
    print(f"{'N':>7} {'path first':>11} {'path warm':>10} {'eager/path':>11} {'P(is_line|y)':>13}")
    for n in opts.particles:
        first, warm, p_line = path_ms(n, opts.warmup, opts.repeats)
        print(f"{n:>7} {first:>9.3f}ms {warm:>8.3f}ms {eager / warm:>10.0f}x {p_line:>13.4f}")


if __name__ == "__main__":
    main()
