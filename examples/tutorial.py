"""Gen's "Modeling with TensorFlow code" tutorial (seed 000), ported to gentf line by line.

A softmax regression ``probs = softmax(xs W + b)`` is written as a graph-form ``TFFunction``
(tf.compat.v1 placeholder and Variables, run in the function's own session, as GenTF does),
called from a @gen model that makes one ``categorical`` choice per image, and trained with
``train`` (Gen.jl's ``train!``) by stochastic gradient ascent on batches of 100 images.

Data: scikit-learn's bundled 8x8 digits (D = 64, the default; no download) or MNIST with
``--mnist FOLDER`` (the four IDX files; D = 784).

Step size: ``train`` sums (does not average) the gradient over the 100 images of a batch, as
Gen.jl does, so the effective per-image step is ``100 * step``. The seed's 1e-5 with 10,000
iterations suits MNIST's 784 pixels in [0, 1]; on digits (64 pixels in [0, 1]) we use 1e-2 with
300 iterations, which reaches ~0.95 held-out accuracy (``--step``, ``--iters`` override).

Also run: the same model with one vectorised choice ``categorical(probs) @ "ys"`` (identical
scores, far fewer graph ops), and the seed's exercise (one image per TFFunction call, looped;
100 iterations). Prints accuracies and times; writes the training curves to ``--out``.

    python examples/tutorial.py [--mnist FOLDER] [--out DIR] [--iters N] [--step S]
"""
import argparse
import os
import time

import numpy as np
import tensorflow as tf

from gentf import (FixedStepGradientDescent, ParamUpdate, TFFunction, categorical, choicemap,
                   gen, generate, get_choices, get_retval, train)
from gentf.datasets import BatchLoader, load_digits, load_mnist


def softmax_graph(D):
    """The seed's graph: ``xs`` (N, D) placeholder, ``W`` (D, 10) and ``b`` (10,) Variables
    initialised to zeros, ``probs = softmax(xs W + b)``. Returns ``(TFFunction, W, b)``."""
    with tf.Graph().as_default():
        xs = tf.compat.v1.placeholder(tf.float64, shape=(None, D))        # input images, (N, D)
        W = tf.compat.v1.Variable(np.zeros((D, 10), np.float64))          # weights, (D, 10)
        b = tf.compat.v1.Variable(np.zeros(10, np.float64))               # biases, (10,)
        probs = tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=1)        # class probabilities, (N, 10)
    return TFFunction([W, b], [xs], probs), W, b


def single_image_graph(D):
    """The exercise's graph: one image ``x`` (D,) -> its class probabilities (10,)."""
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float64, shape=(D,))
        W = tf.compat.v1.Variable(np.zeros((D, 10), np.float64))
        b = tf.compat.v1.Variable(np.zeros(10, np.float64))
        probs = tf.squeeze(tf.nn.softmax(tf.add(tf.matmul(tf.expand_dims(x, axis=0), W), b), axis=1), axis=0)
    return TFFunction([W, b], [x], probs), W, b


def make_digit_model(tf_softmax_model):
    @gen
    def digit_model(xs):
        N = xs.shape[0]                                    # N input images of D pixels
        probs = tf_softmax_model(xs) @ "probs"             # (N, 10) label probabilities
        for i in range(N):
            categorical(probs[i]) @ ("y", i)               # a digit label for each image
    return digit_model


def make_digit_model_vectorized(tf_softmax_model):
    @gen
    def digit_model_vectorized(xs):
        probs = tf_softmax_model(xs) @ "probs"
        categorical(probs) @ "ys"                           # one choice: the vector of N labels
    return digit_model_vectorized


def make_exercise_models(tf_softmax_model_single):
    @gen
    def digit_model_single_image(x):
        probs = tf_softmax_model_single(x) @ "probs"
        categorical(probs) @ "y"

    @gen
    def digit_model_unvectorized(xs):
        for i in range(xs.shape[0]):
            digit_model_single_image(xs[i]) @ i
    return digit_model_unvectorized


def make_data_generator(loader, batch_size, layout):
    """``() -> ((xs,), constraints)`` with the labels at ``("y", i)`` (per choice), ``"ys"``
    (vectorised) or ``(i, "y")`` (the exercise)."""
    def data_generator():
        xs, ys = loader.next_batch(batch_size)
        if layout == "vectorized":
            return (xs,), choicemap({"ys": ys})
        constraints = choicemap()
        for i, y in enumerate(ys):
            constraints[("y", i) if layout == "per_choice" else (i, "y")] = int(y)
        return (xs,), constraints
    return data_generator


def accuracy(probs, labels):
    return float(np.mean(np.argmax(np.asarray(probs), axis=1) == labels))


def run_softmax(data, iters, step, vectorized=False, batch_size=100, seed=0):
    """Train the seed's softmax regression; returns (held-out accuracy, seconds, scores)."""
    tf_softmax_model, W, b = softmax_graph(data.train_x.shape[1])
    model = (make_digit_model_vectorized if vectorized else make_digit_model)(tf_softmax_model)
    update = ParamUpdate(FixedStepGradientDescent(step), (tf_softmax_model, [W, b]))
    data_generator = make_data_generator(BatchLoader(data.train_x, data.train_y, seed=seed), batch_size,
                                         "vectorized" if vectorized else "per_choice")
    start = time.perf_counter()
    scores = train(model, data_generator, update, num_epoch=iters, epoch_size=1, num_minibatch=1,
                   minibatch_size=1, verbose=False, seed=seed)
    seconds = time.perf_counter() - start
    return accuracy(tf_softmax_model(data.test_x), data.test_y), seconds, scores


def run_exercise(data, iters, step, batch_size=100, seed=0):
    """The exercise: one TFFunction call per image; returns (accuracy, seconds, scores)."""
    tf_softmax_model_single, W_unvec, b_unvec = single_image_graph(data.train_x.shape[1])
    model = make_exercise_models(tf_softmax_model_single)
    update_unvec = ParamUpdate(FixedStepGradientDescent(step), (tf_softmax_model_single, [W_unvec, b_unvec]))
    data_generator = make_data_generator(BatchLoader(data.train_x, data.train_y, seed=seed), batch_size, "exercise")
    start = time.perf_counter()
    scores = train(model, data_generator, update_unvec, num_epoch=iters, seed=seed)
    seconds = time.perf_counter() - start
    probs = np.stack([tf_softmax_model_single(x) for x in data.test_x])
    return accuracy(probs, data.test_y), seconds, scores


def plot(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, scores in curves.items():
        ax.plot(scores, label=label, lw=0.8)
    ax.set_xlabel("iterations of stochastic gradient descent")
    ax.set_ylabel("Estimate of expected conditional log likelihood")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", metavar="FOLDER", help="MNIST IDX files (default: scikit-learn digits)")
    parser.add_argument("--out", default="out", help="folder for the training-curve PNGs")
    parser.add_argument("--iters", type=int, help="training iterations (digits 300, MNIST 10000)")
    parser.add_argument("--step", type=float, help="step size (digits 1e-2, MNIST 1e-5 as the seed)")
    parser.add_argument("--exercise-iters", type=int, default=100, help="0 skips the exercise")
    parser.add_argument("--skip-per-choice", action="store_true", help="only the vectorised model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = load_mnist(args.mnist) if args.mnist else load_digits()
    iters = args.iters or (10000 if args.mnist else 300)
    step = args.step or (1e-5 if args.mnist else 1e-2)
    print(f"data: {'MNIST' if args.mnist else 'digits'} {data.train_x.shape} train, {data.test_x.shape} test; "
          f"{iters} iterations of batch 100, FixedStepGradientDescent({step})")

    # The TFFunction on its own (seed: `probs = tf_softmax_model(fake_xs)`), and a trace of it.
    tf_softmax_model, _, _ = softmax_graph(data.train_x.shape[1])
    fake_xs = np.random.default_rng(args.seed).random((5, data.train_x.shape[1]))
    print("tf_softmax_model(fake_xs):", tf_softmax_model(fake_xs).shape)
    trace, _ = generate(tf_softmax_model, (fake_xs,))
    print("its choices:", get_choices(trace).is_empty(), "- its return value:", get_retval(trace).shape)
    trace, _ = generate(make_digit_model(tf_softmax_model), (fake_xs,))
    print("digit_model's choices:", {addr: int(v) for addr, v in get_choices(trace).items()})

    results, curves = {}, {}
    variants = [("vectorized", True)] + ([] if args.skip_per_choice else [("per-choice", False)])
    for name, vectorized in variants:
        acc, secs, scores = run_softmax(data, iters, step, vectorized=vectorized, seed=args.seed)
        results[name], curves[f"digit_model ({name})"] = (acc, secs), scores
        print(f"{name:>12}: held-out accuracy {acc:.4f}; train {secs:.2f} s ({iters} iterations)")
    if args.exercise_iters:
        acc, secs, scores = run_exercise(data, args.exercise_iters, step, seed=args.seed)
        results["exercise"], curves["exercise (one image per call)"] = (acc, secs), scores
        print(f"{'exercise':>12}: held-out accuracy {acc:.4f}; train {secs:.2f} s "
              f"({args.exercise_iters} iterations, one TFFunction call per image)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "training_curve.png")
    plot(curves, path)
    print("training curves:", path)
    return results


if __name__ == "__main__":
    main()
