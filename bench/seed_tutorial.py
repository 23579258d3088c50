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
Every loop draws its batches with the same ``BatchLoader`` (numpy) per iteration. Each loop is
built and run for one iteration first (tracing, reported apart); then ``--rounds`` rounds run
every variant in turn for its share of the iterations (each round starting one variant later,
so no variant always runs first or after the same one), so variants compared in one round saw
the same machine load (this machine is shared): ms/iter is the median over rounds, and each
ratio the median over rounds of the ratio to (c) or (d) in the same round.

    python bench/seed_tutorial.py [--iters 10000] [--iters-per-choice 200] [--rounds 5] [--skip-per-choice]
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


class GentfLoop:
    """gentf ``train`` on one variant; ``run(k)`` trains ``k`` more iterations (one ``train``
    call of ``k`` epochs: the cached epoch program is reused across calls)."""

    def __init__(self, data, form, per_choice, step, exercise=False):
        self.f, spec, self.predict = (graph_softmax_single if exercise else graph_softmax if form == "graph"
                                      else eager_softmax)()
        self.model = make_exercise_models(self.f) if exercise else (
            per_choice_model if per_choice else vectorized_model)(self.f)
        self.update = ParamUpdate(FixedStepGradientDescent(step), spec)
        loader = BatchLoader(data[0], data[1], seed=0)

        def data_generator():
            xs, ys = loader.next_batch(BATCH)
            if exercise:
                return (xs,), choicemap({(i, "y"): int(y) for i, y in enumerate(ys)})
            if per_choice:
                return (xs,), choicemap({("y", i): int(y) for i, y in enumerate(ys)})
            return (xs,), choicemap({"ys": ys})
        self.data_generator, self.calls = data_generator, 0

    def run(self, k):
        self.calls += 1
        train(self.model, self.data_generator, self.update, num_epoch=k, seed=self.calls, progress=False)


class TFLoop:
    """The same maths as a hand-written ``tf.function`` step (gradient ascent, then evaluation)."""

    def __init__(self, data, step):
        self.W = W = tf.Variable(np.zeros((D, K), np.float64))
        self.b = b = tf.Variable(np.zeros(K, np.float64))

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
        self.iteration, self.loader = iteration, BatchLoader(data[0], data[1], seed=0)
        self.predict = lambda x: x @ self.W.numpy() + self.b.numpy()

    def run(self, k):
        for _ in range(k):
            xs, ys = self.loader.next_batch(BATCH)
            exs, eys = self.loader.next_batch(BATCH)
            score = self.iteration(xs, ys, exs, eys)
        float(score)


class NumpyLoop:
    """The analytic gradient ``xs^T (onehot(ys) - probs)`` in numpy."""

    def __init__(self, data, step):
        self.W, self.b, self.step = np.zeros((D, K)), np.zeros(K), step
        self.loader, self.eye = BatchLoader(data[0], data[1], seed=0), np.eye(K)
        self.predict = lambda x: x @ self.W + self.b

    def probs(self, xs):
        logits = xs @ self.W + self.b
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def run(self, k):
        for _ in range(k):
            xs, ys = self.loader.next_batch(BATCH)
            g = self.eye[ys] - self.probs(xs)               # d log p / d logits
            self.W += self.step * (xs.T @ g)
            self.b += self.step * g.sum(0)
            exs, eys = self.loader.next_batch(BATCH)
            np.sum(np.log(self.probs(exs)[np.arange(BATCH), eys]))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=10000)
    parser.add_argument("--iters-per-choice", type=int, default=200)
    parser.add_argument("--iters-exercise", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-per-choice", action="store_true")
    parser.add_argument("--step", type=float, default=1e-5)
    args = parser.parse_args(argv)
    data = synthetic_mnist()
    print(f"synthetic MNIST-shaped data: train {data[0].shape}, test {data[2].shape}; batch {BATCH}; "
          f"FixedStepGradientDescent({args.step}); each iteration = 1 step + 1 evaluation batch; "
          f"{args.rounds} rounds, each running every variant in turn")
    variants = [("(d) numpy loop", lambda: NumpyLoop(data, args.step), args.iters),
                ("(c) hand-written TF loop", lambda: TFLoop(data, args.step), args.iters)]
    for form in ("graph", "eager"):
        variants.append((f"(b) gentf train, vectorised, {form} form",
                         lambda form=form: GentfLoop(data, form, False, args.step), args.iters))
    if not args.skip_per_choice:
        for form in ("graph", "eager"):
            variants.append((f"(a) gentf train, per-choice, {form} form",
                             lambda form=form: GentfLoop(data, form, True, args.step), args.iters_per_choice))
        variants.append(("(e) gentf train, exercise, graph form",
                         lambda: GentfLoop(data, "graph", True, args.step, exercise=True), args.iters_exercise))
    loops, first = {}, {}
    for name, make, _ in variants:  # construction and the first iteration (tracing), once
        first[name] = timed(lambda: loops.setdefault(name, make()).run(1))
        print(f"  ready: {name}: first iteration {first[name]:.2f} s", flush=True)
    per_it = {name: [] for name, _, _ in variants}
    for r in range(args.rounds):
        for name, _, iters in variants[r % len(variants):] + variants[:r % len(variants)]:  # rotated
            k = max(1, (iters - 1) // args.rounds)
            per_it[name].append(timed(lambda: loops[name].run(k)) / k)
    hand, numpy_ = per_it["(c) hand-written TF loop"], per_it["(d) numpy loop"]
    print()
    print(f"{'variant':42} {'ms/iter':>8} {'vs (c)':>7} {'vs (d)':>7} {'1st it s':>8} {'10k-iter s':>10} {'test acc':>8}")
    rows = []
    for name, _, _ in variants:
        ms = 1e3 * float(np.median(per_it[name]))
        vs_c = float(np.median(np.array(per_it[name]) / np.array(hand)))  # per round: same load
        vs_d = float(np.median(np.array(per_it[name]) / np.array(numpy_)))
        acc = accuracy(loops[name].predict, data)
        rows.append((name, ms, vs_c, vs_d, first[name], acc))
        print(f"{name:42} {ms:8.3f} {vs_c:7.2f} {vs_d:7.2f} {first[name]:8.2f} "
              f"{first[name] + 9.999 * ms:10.1f} {acc:8.3f}")
    print("ms/iter: median over rounds; ratios: median over rounds of the ratio to the loop run in the same "
          "round; '1st it s' is construction plus the first iteration (tracing); '10k-iter s' extrapolates to "
          "10,000 iterations (Gen.jl + GenTF in the seed: 25.6 s).")
    return rows


if __name__ == "__main__":
    main()
