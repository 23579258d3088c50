"""Seed 002's multilayer perceptron as a Keras model inside a gentf model, trained with ``train``.

The seed's network: two hidden ``tanh`` layers of 30 units and a softmax readout over 10 classes,
weights ~ truncated normal (stddev 0.001), biases 0.1, trained with Adam (learning rate 0.01) on
minibatches of 100 images. Here it is a ``keras.Sequential`` wrapped in an eager-form
``TFFunction``, called from a @gen model that makes one vectorised ``categorical`` choice for the
labels of a batch:

    probs = mlp(xs)                  # (N, 10), TFFunction(keras model)
    ys ~ categorical(probs)          # one choice "ys" of N labels

``train`` maximises the log likelihood of the labels with ``ADAM(0.01, 0.9, 0.999, 1e-8)``.
Data: scikit-learn's 8x8 digits (``gentf.datasets.load_digits``; no download). Prints the
held-out accuracy.

    python examples/mlp.py [--iters N] [--batch B] [--units U] [--seed S]
"""
import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from gentf import ADAM, ParamUpdate, TFFunction, categorical, choicemap, gen, train
from gentf.datasets import BatchLoader, load_digits


def make_mlp(input_size, units=30, n_layers=2, out_size=10, seed=0):
    """The seed's ``_mlp``: ``n_layers`` tanh layers of ``units``, then a softmax readout."""
    keras.utils.set_random_seed(seed)
    dense = lambda n, act: keras.layers.Dense(
        n, activation=act, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.001, seed=seed),
        bias_initializer=keras.initializers.Constant(0.1))
    model = keras.Sequential([keras.Input((input_size,))] + [dense(units, "tanh") for _ in range(n_layers)]
                             + [dense(out_size, "softmax")])
    return model


def make_model(mlp):
    tf_mlp = TFFunction(mlp)

    @gen
    def digit_mlp(xs):
        probs = tf_mlp(tf.cast(xs, tf.float32)) @ "probs"   # (N, 10) class probabilities
        categorical(probs) @ "ys"                            # the N labels, one choice
    return digit_mlp, tf_mlp


def run(iters=400, batch=100, units=30, learning_rate=0.01, seed=0, verbose=True):
    """Train on digits; returns a dict with accuracy (held out), train_accuracy, scores, seconds."""
    data = load_digits()
    mlp = make_mlp(data.train_x.shape[1], units=units, seed=seed)
    model, tf_mlp = make_model(mlp)
    loader = BatchLoader(data.train_x, data.train_y, seed=seed)

    def data_generator():
        xs, ys = loader.next_batch(batch)
        return (xs,), choicemap({"ys": ys})

    update = ParamUpdate(ADAM(learning_rate, 0.9, 0.999, 1e-8), tf_mlp)
    start = time.perf_counter()
    scores = train(model, data_generator, update, num_epoch=iters, seed=seed)
    seconds = time.perf_counter() - start
    acc = lambda x, y: float(np.mean(np.argmax(mlp(x.astype(np.float32)).numpy(), axis=1) == y))
    result = dict(accuracy=acc(data.test_x, data.test_y), train_accuracy=acc(data.train_x, data.train_y),
                  scores=scores, seconds=seconds)
    if verbose:
        print(f"MLP {data.train_x.shape[1]}-{units}-{units}-10 (tanh, softmax) on digits "
              f"{data.train_x.shape} train / {data.test_x.shape} test; {iters} iterations of batch {batch}, "
              f"ADAM({learning_rate}); {seconds:.2f} s")
        print(f"score (log p of a batch's labels): first {scores[0]:.2f}, last {scores[-1]:.2f}")
        print(f"train accuracy {result['train_accuracy']:.4f}; held-out accuracy {result['accuracy']:.4f}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run(args.iters, args.batch, args.units, args.lr, args.seed)


if __name__ == "__main__":
    main()
