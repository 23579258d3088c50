"""Convergence diagnostics and export to ArviZ.

Samples follow ArviZ's layout: ``[chains, draws, ...]``. A choice map of such arrays (e.g.
stacked ``run_chain`` samples of several chains) is treated address by address.

- ``rhat``: split-free potential scale reduction (Gelman-Rubin) over the chains,
  ``tfp.mcmc.potential_scale_reduction``: for ``C`` chains of ``N`` draws, with ``W`` the mean
  of the within-chain variances and ``B/N`` the variance of the chain means,
  ``sigma2 = (N - 1)/N W + B/N`` and ``R = (C + 1)/C sigma2/W - (N - 1)/(C N)`` (Brooks and
  Gelman 1998; not square-rooted, and below 1 by chance for mixed chains).
- ``ess``: effective sample size ``N / (1 + 2 sum_k rho_k)`` pooled across chains,
  ``tfp.mcmc.effective_sample_size``; a 1-D array is one chain.
"""
import logging

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.choicemap import ChoiceMap


def _per_address(fn, samples):
    if isinstance(samples, ChoiceMap):
        out = ChoiceMap()
        for path, value in samples.items():
            out.set(path, fn(value))
        return out
    return fn(samples)


def _draws_first(x):
    x = tf.convert_to_tensor(x)
    perm = [1, 0] + list(range(2, x.shape.rank))
    return tf.transpose(x, perm)


def rhat(samples):
    """Potential scale reduction of ``[chains, draws, ...]`` samples (per address for a choice map)."""
    return _per_address(lambda x: tfp.mcmc.potential_scale_reduction(
        _draws_first(tf.cast(x, tf.float64)), independent_chain_ndims=1), samples)


class _RealFFT(logging.Filter):
    """Drops TF's warning that TFP's autocorrelation casts its FFT's (real) result from complex:
    one per ``ess`` call and address, e.g. per summary of a multi-chain ``run_chain``."""

    def filter(self, record):
        return "casting an input of type complex" not in record.getMessage()


def ess(samples):
    """Effective sample size of ``[chains, draws, ...]`` samples, or of one chain ``[draws]``.
    One chain of vector values ``w`` (shape ``[draws, d]``) is ``ess(w[None])``: a 2-D array
    is read as ``[chains, draws]``."""
    quiet = _RealFFT()
    tf.get_logger().addFilter(quiet)
    try:
        return _per_address(_ess, samples)
    finally:
        tf.get_logger().removeFilter(quiet)


def _ess(x):
    x = tf.cast(tf.convert_to_tensor(x), tf.float64)
    if x.shape.rank == 1:
        return tfp.mcmc.effective_sample_size(x)
    if x.shape[0] == 1:  # one chain: no cross-chain variance to pool
        return tfp.mcmc.effective_sample_size(x[0])
    return tfp.mcmc.effective_sample_size(_draws_first(x), cross_chain_dims=1)


def address_name(path):
    """A choice's address as a variable or TensorBoard tag name: ``("w", 0)`` is ``"w/0"``."""
    return "/".join(str(k) for k in path) if isinstance(path, tuple) else str(path)


def to_arviz(samples, chains=False):
    """An ``arviz.InferenceData`` whose posterior holds every address of ``samples`` (a choice
    map of stacked draws, a list of choice maps from an eager chain, or ``{name: array}``).
    Values are ``[draws, ...]``, or ``[chains, draws, ...]`` when ``chains=True``. Addresses
    become variable names ``"a/b/1"``."""
    import arviz as az

    if isinstance(samples, list):
        paths = [p for p, _ in samples[0].items()]
        samples = {p: np.stack([np.asarray(cm[p]) for cm in samples]) for p in paths}
    elif isinstance(samples, ChoiceMap):
        samples = dict(samples.items())
    posterior = {}
    for key, value in samples.items():
        value = np.asarray(value)
        posterior[address_name(key)] = value if chains else value[None]
    return az.from_dict(posterior=posterior)
