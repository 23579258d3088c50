"""Gradient-based MCMC on the selected continuous choices ``x`` of a trace, as Gen.jl.

Both kernels read ``x`` and ``grad log p`` with ``choice_gradients`` (flattened by ``to_array``)
and write proposals with ``update``.

- ``hmc``: momenta ``m ~ N(0, I)``; ``L`` leapfrog steps of size ``eps``
  (``m += eps/2 g; x += eps m; g = grad(x); m += eps/2 g``); accept with
  ``alpha = log p(x') - log p(x) + log N(-m'; 0, I) - log N(m; 0, I)``.
- ``mala``: ``x' ~ N(x + tau g(x), 2 tau I)``; accept with
  ``alpha = w - log q(x' | x) + log q(x | x')``, ``w`` the update weight.

Bounded supports (unlike Gen.jl, like NumPyro and TFP): when a selected choice can have bounded
support (beta, gamma, exponential, uniform, ...), both kernels run the same dynamics on the
unconstrained coordinates ``u``, ``x = f(u)`` with ``f`` the TFP default event-space bijector of
each choice (Sigmoid on (0, 1), Softplus on (0, inf), ...), targeting
``log pi(u) = log p(f(u)) + log |det J_f(u)|`` instead of ``log p(x)``: in the formulas above
``x`` becomes ``u``, ``log p`` becomes ``log pi`` and ``g = grad_u log pi(u)``. Proposals never
leave the support, and the returned trace holds ``x = f(u)``, distributed as ``p(x | rest)``
(see ``_unconstrained``). Choices with unbounded support keep ``u = x``; when every selected
choice is unbounded the original code above runs unchanged.

Trial points (leapfrog steps, proposals) are evaluated inside ``core.domain.rejecting()``: a
point where a choice leaves its support, or where a downstream distribution argument becomes
invalid, has ``log p = -inf`` and is rejected instead of raising ``DomainError``.

Returns ``(new_trace, accepted)``. A discrete choice in the selection is a NonDifferentiableError.
Called eagerly, each call runs as ONE cached compiled program per static structure (trace,
selection, ``L``; ``_compile.kernel_call``); in a caller's graph it runs inline.
"""
import math

import tensorflow as tf

from ..core.choicemap import from_array, to_array
from ..core.domain import rejecting
from ..core.errors import NonDifferentiableError
from ..core.gfi import choice_gradients, update
from ..core.seeds import split_seed, standard_normal
from ._compile import choose, kernel_call, numeric_input, uniform_log
from ._unconstrained import evaluate, needs_transform


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


def _target(trace, selection, who):
    """The coordinates ``z`` the samplers move and their log density: ``(start, at)``, ``start =
    (trace, z, log_pi, grad)`` at the trace's own point, ``at(prev, z)`` the same at ``z``. On
    ``u`` with ``log pi(u)`` (``_unconstrained.evaluate``) when a selected choice may have bounded
    support; else on ``x`` with ``log p(x)``, the score of ``update(prev, x)``, and its gradient by
    ``choice_gradients``."""
    if needs_transform(trace, selection):
        def at(_, u):
            new, u, log_pi, grad, _ = evaluate(trace, selection, who, u)
            return new, u, log_pi, grad
        return at(trace, None), at
    values, x, grad = _gradient(trace, selection, who)

    def at(prev, x):
        new = update(prev, constraints=from_array(values, x))[0]
        return new, x, new.score, _gradient(new, selection, who)[2]
    return (trace, x, trace.score, grad), at


def hmc(trace, selection, L=10, eps=0.1, seed=None):
    """Hamiltonian Monte Carlo: ``L`` leapfrog steps of size ``eps``, then an accept test (in
    unconstrained coordinates when a selected choice has bounded support)."""
    return kernel_call("hmc", lambda t, a, s: _hmc(t, selection, L, a[0], s), trace, (numeric_input(eps),), seed,
                       (selection, L))


def _hmc(trace, selection, L, eps, seed):
    s_mom, s_acc = tf.unstack(split_seed(seed, 2))
    (new, z, log_pi0, g), at = _target(trace, selection, "hmc")
    eps = tf.cast(eps, z.dtype)
    m = standard_normal(tf.shape(z), s_mom, z.dtype)
    m0_score = _log_std_normal(m)
    log_pi = log_pi0
    for _ in range(L):
        m = m + eps / 2 * g
        z = z + eps * m
        with rejecting():
            new, z, log_pi, g = at(new, z)
        m = m + eps / 2 * g
    alpha = log_pi - log_pi0 + _log_std_normal(-m) - m0_score
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted


def mala(trace, selection, tau, seed=None):
    """Metropolis-adjusted Langevin: proposal ``N(x + tau grad log p(x), 2 tau I)`` (on ``u``
    with ``log pi(u)`` when a selected choice has bounded support)."""
    return kernel_call("mala", lambda t, a, s: _mala(t, selection, a[0], s), trace, (numeric_input(tau),), seed,
                       (selection,))


def _mala(trace, selection, tau, seed):
    s_prop, s_acc = tf.unstack(split_seed(seed, 2))
    if needs_transform(trace, selection):
        return _mala_unconstrained(trace, selection, tau, s_prop, s_acc)
    values, x, g = _gradient(trace, selection, "mala")
    tau = tf.cast(tau, x.dtype)
    std = tf.sqrt(2 * tau)
    x_new = x + tau * g + std * standard_normal(tf.shape(x), s_prop, x.dtype)
    with rejecting():
        new, weight, _, _ = update(trace, constraints=from_array(values, x_new))
        _, _, g_new = _gradient(new, selection, "mala")
    fwd = _log_std_normal((x_new - x - tau * g) / std)
    bwd = _log_std_normal((x - x_new - tau * g_new) / std)
    alpha = weight + bwd - fwd  # the Gaussian normalisers cancel
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted


def _mala_unconstrained(trace, selection, tau, s_prop, s_acc):
    """``mala`` on ``u``: ``alpha = log pi(u') - log pi(u) - log q(u' | u) + log q(u | u')``."""
    _, u, log_pi, g, _ = evaluate(trace, selection, "mala")
    tau = tf.cast(tau, u.dtype)
    std = tf.sqrt(2 * tau)
    u_new = u + tau * g + std * standard_normal(tf.shape(u), s_prop, u.dtype)
    with rejecting():
        new, _, log_pi_new, g_new, _ = evaluate(trace, selection, "mala", u_new)
    fwd = _log_std_normal((u_new - u - tau * g) / std)
    bwd = _log_std_normal((u - u_new - tau * g_new) / std)
    alpha = log_pi_new - log_pi + bwd - fwd
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted
