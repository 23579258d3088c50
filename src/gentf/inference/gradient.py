"""Gradient-based MCMC on the selected continuous choices ``x`` of a trace, as Gen.jl.

Both kernels read ``x`` and ``grad log p`` with ``choice_gradients`` (flattened by ``to_array``)
and write proposals with ``update``.

- ``hmc``: momenta ``m ~ N(0, I)``; ``L`` leapfrog steps of size ``eps``
  (``m += eps/2 g; x += eps m; g = grad(x); m += eps/2 g``); accept with
  ``alpha = log p(x') - log p(x) + log N(-m'; 0, I) - log N(m; 0, I)``.
- ``mala``: ``x' ~ N(x + tau g(x), 2 tau I)``; accept with
  ``alpha = w - log q(x' | x) + log q(x | x')``, ``w`` the update weight.

Returns ``(new_trace, accepted)``. A discrete choice in the selection is a NonDifferentiableError.
"""
import math

import tensorflow as tf

from ..core.choicemap import from_array, to_array
from ..core.errors import NonDifferentiableError
from ..core.gfi import choice_gradients, update
from ..core.seeds import as_seed, split_seed
from ._compile import choose, uniform_log


def _gradient(trace, selection, who):
    """``(values choice map, x, grad log p(x))`` of the selected choices, as flat vectors."""
    try:
        _, values, grads = choice_gradients(trace, selection)
    except NonDifferentiableError as e:
        raise NonDifferentiableError(f"{who}: the selection must hold only continuous choices; {e}") from None
    dtype = trace.score.dtype
    return values, to_array(values, dtype), to_array(grads, dtype)


def _log_std_normal(z):
    return -0.5 * tf.reduce_sum(z * z) - 0.5 * math.log(2 * math.pi) * tf.cast(tf.size(z), z.dtype)


def hmc(trace, selection, L=10, eps=0.1, seed=None):
    """Hamiltonian Monte Carlo: ``L`` leapfrog steps of size ``eps``, then an accept test."""
    s_mom, s_acc = tf.unstack(split_seed(as_seed(seed), 2))
    values, x, g = _gradient(trace, selection, "hmc")
    eps = tf.cast(eps, x.dtype)
    m = tf.random.stateless_normal(tf.shape(x), s_mom, dtype=x.dtype)
    m0_score = _log_std_normal(m)
    new = trace
    for _ in range(L):
        m = m + eps / 2 * g
        x = x + eps * m
        new = update(new, constraints=from_array(values, x))[0]
        _, _, g = _gradient(new, selection, "hmc")
        m = m + eps / 2 * g
    alpha = new.score - trace.score + _log_std_normal(-m) - m0_score
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted


def mala(trace, selection, tau, seed=None):
    """Metropolis-adjusted Langevin: proposal ``N(x + tau grad log p(x), 2 tau I)``."""
    s_prop, s_acc = tf.unstack(split_seed(as_seed(seed), 2))
    values, x, g = _gradient(trace, selection, "mala")
    tau = tf.cast(tau, x.dtype)
    std = tf.sqrt(2 * tau)
    x_new = x + tau * g + std * tf.random.stateless_normal(tf.shape(x), s_prop, dtype=x.dtype)
    new, weight, _, _ = update(trace, constraints=from_array(values, x_new))
    _, _, g_new = _gradient(new, selection, "mala")
    fwd = _log_std_normal((x_new - x - tau * g) / std)
    bwd = _log_std_normal((x - x_new - tau * g_new) / std)
    alpha = weight + bwd - fwd  # the Gaussian normalisers cancel
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted
