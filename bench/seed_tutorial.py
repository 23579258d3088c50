"""Seed 000's workload: softmax regression, batches of 100 images of 784 features, trained by
FixedStepGradientDescent(1e-5) for 10,000 iterations (Gen.jl + GenTF: 25.6 s in the seed).

Synthetic data of MNIST's shape. Compares, in one run: gentf ``train`` with per-choice
addresses ``("y", i)`` (as the tutorial) and with one vectorised choice ``"ys"``; a hand-written
TF2 loop (one ``tf.function`` step: forward, gradient, update); a hand-written numpy loop.
gentf times include tracing; gentf uses the seed's graph-form TFFunction (session-run per call).

    python bench/seed_tutorial.py [--iters N] [--skip-per-choice]
"""
import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import tutorial  # noqa: E402
from gentf.datasets import BatchLoader, Dataset  # noqa: E402


def synthetic(n=60000, d=784, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    y = np.argmax(x @ rng.normal(size=(d, 10)), axis=1).astype(np.int32)
    return Dataset(x, y, x[:1000], y[:1000])


def hand_tf(data, iters, step):
    W = tf.Variable(tf.zeros((784, 10), tf.float64))
    b = tf.Variable(tf.zeros(10, tf.float64))

    @tf.function
    def sgd_step(xs, ys):
        with tf.GradientTape() as tape:
            probs = tf.nn.softmax(xs @ W + b, axis=1)
            logp = tf.reduce_sum(tf.math.log(tf.gather(probs, ys, batch_dims=1)))
        gW, gb = tape.gradient(logp, [W, b])
        W.assign_add(step * gW)
        b.assign_add(step * gb)
    loader = BatchLoader(data.train_x, data.train_y, seed=0)
    start = time.perf_counter()
    for _ in range(iters):
        sgd_step(*loader.next_batch(100))
    b.numpy()
    return time.perf_counter() - start


def hand_numpy(data, iters, step):
    W, b = np.zeros((784, 10)), np.zeros(10)
    loader = BatchLoader(data.train_x, data.train_y, seed=0)
    start = time.perf_counter()
    for _ in range(iters):
        xs, ys = loader.next_batch(100)
        z = xs @ W + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(100), ys] -= 1.0   # d logp / dz = onehot - p
        W -= step * xs.T @ p
        b -= step * p.sum(0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=10000)
    parser.add_argument("--skip-per-choice", action="store_true")
    args = parser.parse_args()
    data, step = synthetic(), 1e-5
    times = {"numpy loop": hand_numpy(data, args.iters, step), "hand TF tf.function loop": hand_tf(data, args.iters, step)}
    times["gentf train (vectorised choice)"] = tutorial.run_softmax(data, args.iters, step, vectorized=True)[1]
    if not args.skip_per_choice:
        times["gentf train (per-choice, as the seed)"] = tutorial.run_softmax(data, args.iters, step)[1]
    ref = times["hand TF tf.function loop"]
    print(f"{args.iters} iterations, batch 100, 784 features (Gen.jl+GenTF, seed: 25.6 s for 10,000)")
    for name, secs in times.items():
        print(f"{name:>40}: {secs:8.2f} s  {secs / ref:6.2f}x hand TF  {secs / args.iters * 1e3:7.3f} ms/iter")


if __name__ == "__main__":
    main()
