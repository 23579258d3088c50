"""The seed tutorial's workload, timed in one process: gentf ``train`` against hand-written loops.

Workload (seed 000): softmax regression ``probs = softmax(xs W + b)`` on data of MNIST's shape
(784 features, 10 classes; synthetic noisy sparse prototypes, see ``synthetic_mnist``), batch
100, ``FixedStepGradientDescent(1e-5)`` (the seed's step), Gen.jl's ``train!`` with
``epoch_size = num_minibatch = minibatch_size = 1``: per iteration one gradient step on a fresh
batch of 100 *and* one evaluation (``generate`` on another fresh batch: ``evaluation_size``
defaults to ``epoch_size``). Gen.jl + GenTF took 25.6 s for 10,000 iterations in the seed.

Variants:
  (a) gentf ``train``, the tutorial's per-choice model (``categorical(probs[i]) @ ("y", i)``),
      ``--iters-per-choice`` iterations (it is ~100 scalar categorical op chains per step);
  (b) gentf ``train``, one vectorised choice ``categorical(probs) @ "ys"``, ``--iters``;
  each with the graph-form TFFunction (tf.compat.v1 graph in a session, as the seed) and the
  eager-form TFFunction (tf.Variables);
  (e) the seed's exercise: one graph-form TFFunction call per image from a nested @gen
      function, ``--iters-exercise`` iterations;
  (c) a hand-written TF loop: a ``tf.function`` step doing the same gradient ascent and
      evaluation;
  (d) a hand-written numpy loop (the analytic gradient ``xs^T (onehot(ys) - probs)``).
Every loop draws its batches with the same ``BatchLoader`` (numpy) per iteration. Times are
wall-clock, including tracing (reported separately as the first iteration); ratios are per
iteration against (c) and (d).

    python bench/seed_tutorial.py [--iters 10000] [--iters-per-choice 200] [--skip-per-choice]
"""
import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matmuls: threads only add contention
import time

import numpy as np
import tensorflow as tf

from gentf import (FixedStepGradientDescent, ParamUpdate, TFFunction, categorical, choicemap, gen,
                   train)
from gentf.datasets import BatchLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from tutorial import make_exercise_models, single_image_graph  # noqa: E402  (the seed's own models)

D, K, BATCH = 784, 10, 100


def synthetic_mnist(n_train=10000, n_test=2000, flip=0.8, seed=0):
    """MNIST-shaped data: 10 sparse binary prototype "digits" of 784 pixels; an image keeps each
    pixel of its class's prototype with probability ``1 - flip`` (else a random sparse pixel),
    times an intensity in [0.5, 1]. Labels uniform in 0..9. Linearly separable enough that the
    seed's settings reach ~0.99 test accuracy in 1,000 iterations."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    protos = (rng.random((K, D)) < 0.15).astype(np.float64)
    y = rng.integers(0, K, size=n).astype(np.int32)
    keep = rng.random((n, D)) > flip
    x = np.where(keep, protos[y], rng.random((n, D)) < 0.15) * rng.uniform(0.5, 1.0, size=(n, D))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


# --- the two TFFunction forms -------------------------------------------------------------
def graph_softmax():
    with tf.Graph().as_default():
        xs = tf.compat.v1.placeholder(tf.float64, shape=(None, D))
        W = tf.compat.v1.Variable(np.zeros((D, K), np.float64))
        b = tf.compat.v1.Variable(np.zeros(K, np.float64))
        probs = tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=1)
    f = TFFunction([W, b], [xs], probs)
    return f, (f, [W, b]), lambda x: np.asarray(f(x))


def eager_softmax():
    W = tf.Variable(np.zeros((D, K), np.float64), name="W")
    b = tf.Variable(np.zeros(K, np.float64), name="b")
    f = TFFunction(lambda xs: tf.nn.softmax(tf.matmul(xs, W) + b, axis=1), variables=[W, b])
    return f, f, lambda x: f(x).numpy()


def per_choice_model(f):
    @gen
    def digit_model(xs):
        probs = f(xs) @ "probs"
        for i in range(xs.shape[0]):
            categorical(probs[i]) @ ("y", i)
    return digit_model


def graph_softmax_single():
    """The seed's exercise graph (``examples/tutorial.py``) at MNIST's 784 pixels."""
    f, W, b = single_image_graph(D)
    return f, (f, [W, b]), lambda xs: np.stack([np.asarray(f(x)) for x in xs[:200]])


def vectorized_model(f):
    @gen
    def digit_model_vectorized(xs):
        probs = f(xs) @ "probs"
        categorical(probs) @ "ys"
    return digit_model_vectorized


def accuracy(predict, data):
    probs = predict(data[2])
    return float(np.mean(np.argmax(probs, axis=1) == data[3][:len(probs)]))


def run_gentf(data, form, per_choice, iters, step, exercise=False):
    f, spec, predict = (graph_softmax_single if exercise else graph_softmax if form == "graph" else eager_softmax)()
    model = make_exercise_models(f) if exercise else (per_choice_model if per_choice else vectorized_model)(f)
    loader = BatchLoader(data[0], data[1], seed=0)

    def data_generator():
        xs, ys = loader.next_batch(BATCH)
        if exercise:
            return (xs,), choicemap({(i, "y"): int(y) for i, y in enumerate(ys)})
        if per_choice:
            return (xs,), choicemap({("y", i): int(y) for i, y in enumerate(ys)})
        return (xs,), choicemap({"ys": ys})
    stamps = []
    start = time.perf_counter()
    scores = train(model, data_generator, ParamUpdate(FixedStepGradientDescent(step), spec), num_epoch=iters,
                   seed=0, progress=False,
                   callback=lambda e, s: stamps.append(time.perf_counter()) if e == 0 else None)
    total = time.perf_counter() - start
    return total, stamps[0] - start, accuracy(predict, data), scores[-1]


def run_tf_loop(data, iters, step):
    W = tf.Variable(np.zeros((D, K), np.float64))
    b = tf.Variable(np.zeros(K, np.float64))

    def loglik(xs, ys):
        logp = tf.nn.log_softmax(tf.matmul(xs, W) + b, axis=1)
        return tf.reduce_sum(tf.gather(logp, ys, axis=1, batch_dims=1))

    @tf.function
    def iteration(xs, ys, exs, eys):
        with tf.GradientTape() as tape:
            ll = loglik(xs, ys)
        gW, gb = tape.gradient(ll, [W, b])
        W.assign_add(step * gW)
        b.assign_add(step * gb)
        return loglik(exs, eys)
    loader = BatchLoader(data[0], data[1], seed=0)
    start = time.perf_counter()
    for i in range(iters):
        xs, ys = loader.next_batch(BATCH)
        exs, eys = loader.next_batch(BATCH)
        score = iteration(xs, ys, exs, eys)
        if i == 0:
            first = time.perf_counter() - start
    score = float(score)
    total = time.perf_counter() - start
    predict = lambda x: (x @ W.numpy() + b.numpy())
    return total, first, accuracy(predict, data), score


def run_numpy_loop(data, iters, step):
    W, b = np.zeros((D, K)), np.zeros(K)

    def probs_of(xs):
        logits = xs @ W + b
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    loader = BatchLoader(data[0], data[1], seed=0)
    eye = np.eye(K)
    start = time.perf_counter()
    for i in range(iters):
        xs, ys = loader.next_batch(BATCH)
        g = eye[ys] - probs_of(xs)               # d log p / d logits
        W += step * (xs.T @ g)
        b += step * g.sum(0)
        exs, eys = loader.next_batch(BATCH)
        score = np.sum(np.log(probs_of(exs)[np.arange(BATCH), eys]))
        if i == 0:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return total, first, accuracy(lambda x: x @ W + b, data), score


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=10000)
    parser.add_argument("--iters-per-choice", type=int, default=200)
    parser.add_argument("--iters-exercise", type=int, default=50)
    parser.add_argument("--skip-per-choice", action="store_true")
    parser.add_argument("--step", type=float, default=1e-5)
    args = parser.parse_args(argv)
    data = synthetic_mnist()
    print(f"synthetic MNIST-shaped data: train {data[0].shape}, test {data[2].shape}; batch {BATCH}; "
          f"FixedStepGradientDescent({args.step}); each iteration = 1 step + 1 evaluation batch")
    rows = []
    runs = [("(d) numpy loop", lambda: run_numpy_loop(data, args.iters, args.step), args.iters),
            ("(c) hand-written TF loop", lambda: run_tf_loop(data, args.iters, args.step), args.iters)]
    for form in ("graph", "eager"):
        runs.append((f"(b) gentf train, vectorised, {form} form",
                     lambda form=form: run_gentf(data, form, False, args.iters, args.step), args.iters))
    if not args.skip_per_choice:
        for form in ("graph", "eager"):
            runs.append((f"(a) gentf train, per-choice, {form} form",
                         lambda form=form: run_gentf(data, form, True, args.iters_per_choice, args.step),
                         args.iters_per_choice))
        runs.append(("(e) gentf train, exercise, graph form",
                     lambda: run_gentf(data, "graph", True, args.iters_exercise, args.step, exercise=True),
                     args.iters_exercise))
    for name, fn, iters in runs:
        total, first, acc, score = fn()
        rows.append((name, iters, total, first, acc, float(score)))
        print(f"  done: {name}: {total:.2f} s", flush=True)
    per_it = {name: (total - first) / max(iters - 1, 1) for name, iters, total, first, *_ in rows}
    c, d = per_it["(c) hand-written TF loop"], per_it["(d) numpy loop"]
    print()
    print(f"{'variant':42} {'iters':>6} {'total s':>8} {'1st it s':>8} {'ms/iter':>8} {'vs (c)':>7} {'vs (d)':>7} "
          f"{'10k-iter s':>10} {'test acc':>8}")
    for name, iters, total, first, acc, score in rows:
        ms = 1e3 * per_it[name]
        print(f"{name:42} {iters:6d} {total:8.2f} {first:8.2f} {ms:8.3f} {per_it[name] / c:7.2f} "
              f"{per_it[name] / d:7.2f} {first + 9999 * per_it[name]:10.1f} {acc:8.3f}")
    print("ms/iter excludes the first iteration (tracing); '10k-iter s' extrapolates to 10,000 iterations "
          "(Gen.jl + GenTF in the seed: 25.6 s).")
    return rows


if __name__ == "__main__":
    main()
