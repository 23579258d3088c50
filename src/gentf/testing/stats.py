"""Calibrated statistical assertions for samplers.

Each assertion takes a ``false_fail_rate`` ``a``: the probability that it fails when the
sampler is correct (under the stated approximation). Tolerances are derived from ``a``, never
hand-picked:

- means: by the CLT, ``|mean - mu| <= z_{1-a/2} * sd / sqrt(n_eff)``;
- probabilities: the same bound with ``sd = sqrt(p (1 - p))`` (normal approximation to the
  binomial, fine for ``n p (1 - p) >= 10``);
- rank uniformity (simulation-based calibration): Pearson's chi-square over equal-width bins
  compared with the ``1 - a`` quantile of ``chi2(bins - 1)``.
"""
from statistics import NormalDist

import numpy as np


def z_value(false_fail_rate):
    """``z`` with ``P(|Z| > z) = false_fail_rate`` for a standard normal ``Z``."""
    return NormalDist().inv_cdf(1.0 - false_fail_rate / 2.0)


def assert_mean_close(samples, mean, sd, n_eff=None, false_fail_rate=1e-6, what="mean"):
    """Assert the sample mean of ``samples`` (first axis) is ``mean`` within the CLT bound."""
    samples = np.asarray(samples, np.float64)
    n = samples.shape[0] if n_eff is None else n_eff
    tol = z_value(false_fail_rate) * np.asarray(sd, np.float64) / np.sqrt(n)
    err = np.abs(samples.mean(axis=0) - mean)
    if np.any(err > tol):
        raise AssertionError(f"{what}: sample mean {samples.mean(axis=0)} vs {mean}: "
                             f"error {err} > tolerance {tol} (n_eff={n}, false-fail rate {false_fail_rate})")


def assert_prob_close(count, n, p, false_fail_rate=1e-6, what="probability"):
    """Assert ``count / n`` estimates probability ``p`` within the binomial CLT bound."""
    tol = z_value(false_fail_rate) * np.sqrt(p * (1.0 - p) / n)
    if abs(count / n - p) > tol:
        raise AssertionError(f"{what}: {count}/{n} = {count / n:.4f} vs {p:.4f}: tolerance {tol:.4f}")


def assert_uniform_ranks(ranks, num_ranks, bins=10, false_fail_rate=1e-4, what="SBC ranks"):
    """Assert integer ranks in ``[0, num_ranks)`` are uniform (chi-square test)."""
    from scipy.stats import chi2  # the test extra provides scipy

    ranks = np.asarray(ranks)
    counts = np.histogram(ranks, bins=bins, range=(0, num_ranks))[0]
    expected = len(ranks) / bins
    stat = float(((counts - expected) ** 2 / expected).sum())
    limit = float(chi2.ppf(1.0 - false_fail_rate, bins - 1))
    if stat > limit:
        raise AssertionError(f"{what}: chi-square {stat:.2f} > {limit:.2f} (counts {counts.tolist()})")


def finite_difference_gradient(f, x, eps=1e-6):
    """Central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry of ``x``
    (float64); the error is O(eps^2) for smooth ``f``."""
    x = np.array(x, np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad
