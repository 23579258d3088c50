"""Elliptical slice sampling (Murray, Adams & MacKay 2010), as Gen.jl's ``elliptical_slice``.

For a choice ``x`` at ``addr`` with prior ``N(mu, cov)`` and the rest of the model as likelihood
``L``: draw ``nu = chol(cov) z ~ N(0, cov)`` (``z ~ N(0, I)``) and a threshold ``log u``; on the ellipse
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

from ..core.choicemap import choicemap
from ..core.domain import rejecting
from ..core.gfi import update
from ..core.seeds import fold_in, split_seed, standard_normal, standard_uniform
from ._compile import kernel_call, numeric_input, uniform_log


def elliptical_slice(trace, addr, mu, cov, seed=None):
    """One elliptical slice step on the choice at ``addr`` (prior ``N(mu, cov)``)."""
    return kernel_call("elliptical_slice", lambda t, a, s: _step(t, addr, a[0], a[1], s), trace,
                       (numeric_input(mu), numeric_input(cov)), seed, (addr,))


def _step(trace, addr, mu, cov, seed):
    s_nu, s_u, s_theta, s_loop = tf.unstack(split_seed(seed, 4))
    x = tf.convert_to_tensor(trace[addr])
    mu, cov = tf.cast(mu, x.dtype), tf.cast(cov, x.dtype)
    chol = tf.linalg.cholesky(cov)
    nu = tf.linalg.matvec(chol, standard_normal(tf.shape(x), s_nu, x.dtype))  # nu ~ N(0, cov)
    log_u = uniform_log(s_u, x.dtype)
    f = x - mu
    # whitened ellipse: chol^-1 (x(theta) - mu) = a cos theta + b sin theta, so the prior ratio
    # log N(x(theta); mu, cov) - log N(x; mu, cov) = -(|a cos + b sin|^2 - |a|^2) / 2 needs no
    # solve per proposal
    a, b = tf.unstack(tf.linalg.triangular_solve(chol, tf.stack([f, nu], -1), lower=True), axis=-1)
    a_sq = tf.reduce_sum(a * a)

    def point(theta):
        return mu + f * tf.cos(theta) + nu * tf.sin(theta)

    def log_lik_ratio(theta):
        with rejecting():
            weight = update(trace, constraints=choicemap({addr: point(theta)}))[1]
        white = a * tf.cos(theta) + b * tf.sin(theta)
        return tf.cast(weight, x.dtype) + 0.5 * (tf.reduce_sum(white * white) - a_sq)

    def shrink(i, theta, lo, hi, _):
        lo, hi = tf.where(theta < 0, theta, lo), tf.where(theta < 0, hi, theta)
        theta = lo + (hi - lo) * standard_uniform([], fold_in(s_loop, i), x.dtype)
        return i + 1, theta, lo, hi, log_lik_ratio(theta)

    # the loop carries the angle and bracket only; the trace is built once, at the accepted angle
    theta = 2 * math.pi * standard_uniform([], s_theta, x.dtype)
    out = tf.while_loop(lambda *state: state[-1] <= log_u, shrink,
                        (tf.constant(0), theta, theta - 2 * math.pi, theta, log_lik_ratio(theta)))
    with rejecting():
        return update(trace, constraints=choicemap({addr: point(out[1])}))[0]
