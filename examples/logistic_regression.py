"""Seed 002's logistic regression, as a gentf model trained with ``train`` and ``ADAM``.

Synthetic data as in the seed: ``x ~ normal(0, 1)`` of shape (n_obs, n_features) = (1000, 5),
``true_beta ~ normal(0, 1)``, ``y ~ bernoulli(sigmoid(x true_beta))``. The model is

    p = sigmoid(x beta)              # an eager-form TFFunction; beta is a tf.Variable
    y ~ bernoulli(p)                 # one vectorised choice "ys" (or one per row: ("y", i))

and ``train`` maximises the log likelihood of the labels with ``ADAM`` (the seed's second
optimizer, learning rate 0.01), on minibatches drawn from the data set. Prints the recovered
beta next to the true one and to the maximum-likelihood estimate (Newton's method in numpy),
and the accuracy of ``round(p)``.

    python examples/logistic_regression.py [--epochs N] [--batch B] [--per-choice] [--seed S]
"""
import argparse
import time

import numpy as np
import tensorflow as tf

from gentf import ADAM, ParamUpdate, TFFunction, bernoulli, choicemap, gen, train


def make_data(n_obs=1000, n_features=5, seed=0):
    """The seed's synthetic data: ``(x, y, true_beta)``."""
    rng = np.random.default_rng(seed)
    true_beta = rng.normal(size=(n_features, 1))
    x = rng.normal(size=(n_obs, n_features))
    y = rng.binomial(n=1, p=1.0 / (1.0 + np.exp(-(x @ true_beta))))
    return x, y[:, 0].astype(bool), true_beta[:, 0]


def make_model(n_features, seed=0, per_choice=False):
    """``(model, y_hat, beta_hat)``: ``y_hat = TFFunction(x -> sigmoid(x beta_hat))``."""
    beta_init = np.random.default_rng(seed + 1).normal(size=(n_features, 1))
    beta_hat = tf.Variable(beta_init, dtype=tf.float64, name="beta_hat")
    y_hat = TFFunction(lambda x: tf.squeeze(tf.nn.sigmoid(tf.matmul(x, beta_hat)), axis=1), variables=[beta_hat])

    if per_choice:
        @gen
        def logistic_model(x):
            p = y_hat(x) @ "p"
            for i in range(x.shape[0]):
                bernoulli(p[i]) @ ("y", i)
    else:
        @gen
        def logistic_model(x):
            p = y_hat(x) @ "p"              # (N,) probabilities
            bernoulli(p) @ "ys"             # the N labels, one choice
    return logistic_model, y_hat, beta_hat


def mle(x, y, iters=25):
    """The maximum-likelihood beta by Newton's method (for comparison)."""
    beta = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (y - p)
        hess = (x * (p * (1 - p))[:, None]).T @ x
        beta = beta + np.linalg.solve(hess, grad)
    return beta


def run(epochs=1000, batch=100, learning_rate=0.01, per_choice=False, seed=0, verbose=True):
    """Train; returns a dict with true_beta, beta_hat, mle_beta, accuracy, true_accuracy, scores,
    seconds."""
    x, y, true_beta = make_data(seed=seed)
    model, y_hat, beta_hat = make_model(x.shape[1], seed=seed, per_choice=per_choice)
    rng = np.random.default_rng(seed + 2)

    def data_generator():
        rows = rng.choice(len(x), size=batch, replace=False)
        if per_choice:
            return (x[rows],), choicemap({("y", i): bool(v) for i, v in enumerate(y[rows])})
        return (x[rows],), choicemap({"ys": y[rows]})

    update = ParamUpdate(ADAM(learning_rate, 0.9, 0.999, 1e-8), y_hat)
    start = time.perf_counter()
    scores = train(model, data_generator, update, num_epoch=epochs, epoch_size=1, num_minibatch=1,
                   minibatch_size=1, seed=seed)
    seconds = time.perf_counter() - start
    p = y_hat(x).numpy()
    result = dict(true_beta=true_beta, beta_hat=beta_hat.numpy()[:, 0], mle_beta=mle(x, y),
                  accuracy=float(np.mean((p > 0.5) == y)),
                  true_accuracy=float(np.mean(((x @ true_beta) > 0) == y)), scores=scores, seconds=seconds)
    if verbose:
        np.set_printoptions(precision=3, suppress=True)
        print(f"{epochs} epochs of batch {batch}, ADAM({learning_rate}); "
              f"{'per-choice' if per_choice else 'vectorised'} model; {seconds:.2f} s")
        print("true beta:     ", result["true_beta"])
        print("recovered beta:", result["beta_hat"])
        print("MLE beta:      ", result["mle_beta"])
        print(f"max |recovered - true| = {np.max(np.abs(result['beta_hat'] - true_beta)):.3f}; "
              f"max |recovered - MLE| = {np.max(np.abs(result['beta_hat'] - result['mle_beta'])):.3f}")
        print(f"score (mean log p of a batch): first {scores[0]:.2f}, last {scores[-1]:.2f}")
        print(f"accuracy {result['accuracy']:.3f} (true beta: {result['true_accuracy']:.3f})")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--per-choice", action="store_true", help="one bernoulli choice per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run(args.epochs, args.batch, args.lr, args.per_choice, args.seed)


if __name__ == "__main__":
    main()
