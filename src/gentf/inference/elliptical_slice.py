"""Elliptical slice sampling (Murray, Adams & MacKay 2010), as Gen.jl's ``elliptical_slice``.

For a choice ``x`` at ``addr`` with prior ``N(mu, cov)`` and the rest of the model as likelihood
``L``: draw ``nu ~ N(0, cov)`` and a threshold ``log u``; on the ellipse
``x(theta) = mu + (x - mu) cos theta + nu sin theta`` shrink the bracket around ``theta = 0``
until ``log L(x(theta)) - log L(x) > log u``. The likelihood ratio is the ``update`` weight minus
the prior ratio ``log N(x(theta); mu, cov) - log N(x; mu, cov)`` (the prior is handled exactly by
the ellipse, so only the likelihood enters the slice). A point whose likelihood has an invalid
argument scores ``-inf`` (``core.domain.rejecting``) and the bracket shrinks past it. Always
moves; returns the new trace. Called eagerly, each call runs as ONE cached compiled program per
static structure (trace, ``addr``; ``_compile.kernel_call``); in a caller's graph it runs inline.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from ..core.choicemap import choicemap
from ..core.domain import rejecting
from ..core.gfi import update
from ..core.seeds import fold_in, split_seed, standard_uniform
from ._compile import kernel_call, numeric_input, uniform_log, while_loop

tfd = tfp.distributions


def elliptical_slice(trace, addr, mu, cov, seed=None):
    """One elliptical slice step on the choice at ``addr`` (prior ``N(mu, cov)``)."""
    return kernel_call("elliptical_slice", lambda t, a, s: _step(t, addr, a[0], a[1], s), trace,
                       (numeric_input(mu), numeric_input(cov)), seed, (addr,))


def _step(trace, addr, mu, cov, seed):
    s_nu, s_u, s_theta, s_loop = tf.unstack(split_seed(seed, 4))
    x = tf.convert_to_tensor(trace[addr])
    mu, cov = tf.cast(mu, x.dtype), tf.cast(cov, x.dtype)
    prior = tfd.MultivariateNormalTriL(mu, tf.linalg.cholesky(cov))
    nu = prior.sample(seed=s_nu) - mu
    log_u = uniform_log(s_u, x.dtype)
    f = x - mu

    def propose(theta):
        xp = mu + f * tf.cos(theta) + nu * tf.sin(theta)
        with rejecting():
            new, weight, _, _ = update(trace, constraints=choicemap({addr: xp}))
        return new, tf.cast(weight, x.dtype) - prior.log_prob(xp) + prior.log_prob(x)

    theta = 2 * math.pi * standard_uniform([], s_theta, x.dtype)
    new, log_lik_ratio = propose(theta)

    def shrink(state):
        i, theta, lo, hi, _, _ = state
        lo, hi = tf.where(theta < 0, theta, lo), tf.where(theta < 0, hi, theta)
        seed = fold_in(s_loop, i)
        theta = lo + (hi - lo) * standard_uniform([], seed, x.dtype)
        return (i + 1, theta, lo, hi) + propose(theta)

    # the state holds a trace: ``_compile.while_loop`` carries its flat tensor components
    out = while_loop(lambda state: state[-1] <= log_u, shrink,
                     (tf.constant(0), theta, theta - 2 * math.pi, theta, new, log_lik_ratio), "elliptical_slice")
    return out[4]
