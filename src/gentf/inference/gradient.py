"""Gradient-based MCMC on the selected continuous choices ``x`` of a trace, as Gen.jl.

Both kernels move a flat vector ``z`` of the selected choices with the target ``log pi(z)`` and
its gradient ``g = grad log pi(z)``:

- ``hmc``: momenta ``m ~ N(0, I)``; ``L`` leapfrog steps of size ``eps``
  (``m += eps/2 g; z += eps m; g = grad(z); m += eps/2 g``); accept with
  ``alpha = log pi(z') - log pi(z) + log N(-m'; 0, I) - log N(m; 0, I)``.
- ``mala``: ``z' ~ N(z + tau g(z), 2 tau I)``; accept with
  ``alpha = log pi(z') - log pi(z) - log q(z' | z) + log q(z | z')``.

For choices with unbounded support ``z = x`` and ``log pi(x) = log p(x)`` (the posterior of the
selected choices up to a constant). Bounded supports (unlike Gen.jl, like NumPyro and TFP): when
a selected choice can have bounded support (beta, gamma, exponential, uniform, ...), ``z`` holds
its unconstrained coordinates ``u``, ``x = f(u)`` with ``f`` the TFP default event-space
bijector of each choice (Sigmoid on (0, 1), Softplus on (0, inf), ...), and
``log pi(u) = log p(f(u)) + log |det J_f(u)|``. Proposals never leave the support, and the
returned trace holds ``x = f(u)``, distributed as ``p(x | rest)`` (see ``_unconstrained``).

How the target is evaluated: for a @gen trace one replay of the body under a gradient tape
(``_unconstrained.evaluate``) gives the trace at ``z``, ``log pi(z)`` and its gradient; for
other generative functions ``log p(x)`` is the score of ``update`` and ``g`` comes from
``choice_gradients`` (flattened by ``to_array``).

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
from ._unconstrained import evaluate, replayable


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
    (trace, z, log_pi, grad)`` at the trace's own point, ``at(z)`` the same at ``z``. For a @gen
    trace one replay under a tape gives all four (``_unconstrained.evaluate``: on ``u`` with
    ``log pi(u)``; ``u = x`` and ``log pi = log p(x)`` when no selected choice is bounded); for
    other generative functions, on ``x`` with ``log p(x)`` the score of ``update(trace, x)`` and
    its gradient by ``choice_gradients``."""
    if replayable(trace):
        def at(u):
            new, u, log_pi, grad, _ = evaluate(trace, selection, who, u)
            return new, u, log_pi, grad
        return at(None), at
    values, x, grad = _gradient(trace, selection, who)

    def at(x):
        new = update(trace, constraints=from_array(values, x))[0]
        return new, x, new.score, _gradient(new, selection, who)[2]
    return (trace, x, trace.score, grad), at


def hmc(trace, selection, L=10, eps=0.1, seed=None):
    """Hamiltonian Monte Carlo: ``L`` leapfrog steps of size ``eps``, then an accept test (in
    unconstrained coordinates when a selected choice has bounded support)."""
    return kernel_call("hmc", lambda t, a, s: _hmc(t, selection, L, a[0], s), trace, (numeric_input(eps),), seed,
                       (selection, L))


UNROLL_MAX = 16  # hmc unrolls at most this many leapfrog steps; more run as a tf.while_loop


def _hmc(trace, selection, L, eps, seed):
    """The leapfrog steps over ``(z, m, g, log pi)``; the trace at the end point is built once.
    Up to ``UNROLL_MAX`` steps are unrolled: a plain TF graph runs a while loop's iterations
    ~1.5x slower than the same ops unrolled (per-iteration control-flow ops; loop-invariant
    work is not folded), which is most of a small model's per-call time. More steps run as one
    ``tf.while_loop`` (its body traced once), so the program's size does not grow with ``L``."""
    s_mom, s_acc = tf.unstack(split_seed(seed, 2))
    (_, z0, log_pi0, g0), at = _target(trace, selection, "hmc")
    eps = tf.cast(eps, z0.dtype)
    m0 = standard_normal(tf.shape(z0), s_mom, z0.dtype)

    def leapfrog(i, z, m, g, log_pi):
        m = m + eps / 2 * g
        z = z + eps * m
        with rejecting():
            _, z, log_pi, g = at(z)
        return i + 1, z, m + eps / 2 * g, g, log_pi

    state = (tf.constant(0), z0, m0, g0, log_pi0)
    if L <= UNROLL_MAX:
        for _ in range(L):
            state = leapfrog(*state)
    else:
        state = tf.while_loop(lambda i, *_: i < L, leapfrog, state)
    _, z, m, _, log_pi = state
    with rejecting():
        new = at(z)[0] if L else trace
    alpha = log_pi - log_pi0 + _log_std_normal(-m) - _log_std_normal(m0)
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted


def mala(trace, selection, tau, seed=None):
    """Metropolis-adjusted Langevin: proposal ``N(x + tau grad log p(x), 2 tau I)`` (on ``u``
    with ``log pi(u)`` when a selected choice has bounded support)."""
    return kernel_call("mala", lambda t, a, s: _mala(t, selection, a[0], s), trace, (numeric_input(tau),), seed,
                       (selection,))


def _mala(trace, selection, tau, seed):
    """``alpha = log pi(z') - log pi(z) - log q(z' | z) + log q(z | z')`` on the coordinates of
    ``_target`` (for ``z = x``: ``log pi(x') - log pi(x)`` is the update weight)."""
    s_prop, s_acc = tf.unstack(split_seed(seed, 2))
    (_, z, log_pi, g), at = _target(trace, selection, "mala")
    tau = tf.cast(tau, z.dtype)
    std = tf.sqrt(2 * tau)
    z_new = z + tau * g + std * standard_normal(tf.shape(z), s_prop, z.dtype)
    with rejecting():
        new, _, log_pi_new, g_new = at(z_new)
    fwd = _log_std_normal((z_new - z - tau * g) / std)
    bwd = _log_std_normal((z - z_new - tau * g_new) / std)
    alpha = log_pi_new - log_pi + bwd - fwd  # the Gaussian normalisers cancel
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted
