"""The trained encoder (an SVI guide) as a data-driven proposal for ``importance_sampling``.

Per-datum linear-Gaussian VAE with a D-dimensional latent (D = 8, independent coordinates)::

    model(x):  z ~ N(0, I_D),  x | z ~ N(w z + b, I_D)          p(x) = prod_d N(x_d; b, w^2 + 1)
    guide(x):  z ~ N(a x + c, exp(log_s)^2 I_D)                 exact: a = w / (w^2 + 1),
                                                                c = -w b / (w^2 + 1), exp(2 log_s) = 1 / (w^2 + 1)

``importance_sampling(model, (x,), {"x": x}, proposal=guide, proposal_args=(x,), num_samples=K)``
draws ``z_k ~ q(. | x)`` and returns ``log (1/K) sum_k p(x, z_k) / q(z_k | x)``: the IWAE bound
of ``log p(x)`` (the same per-datum estimator as ``SVI.evaluate(objective="iwae")``). With the prior
as proposal the weights are ``p(x | z_k)``, whose spread grows with D and with w (the posterior sd
``1 / sqrt(w^2 + 1)`` is much narrower than the prior's): with w = 3 its effective sample size per
coordinate is ~ 0.3, so over 8 coordinates ~ 1e-4 K, and the estimate is far below ``log p(x)`` and
varies by nats across seeds. The trained guide is close to the exact posterior, whose weights are
all exactly ``p(x)``: the estimate is within a few hundredths of a nat for every seed."""
import numpy as np
import tensorflow as tf
from scipy import stats

import gentf
from gentf import gen, normal, param

F64 = tf.float64
D, W, B = 8, 3.0, -0.5


@gen
def vae_model(x):
    z = normal(tf.zeros_like(x), tf.ones_like(x)) @ "z"
    normal(param("w") * z + param("b"), 1.0) @ "x"


@gen
def vae_guide(x):
    normal(param("a") * x + param("c"), tf.exp(param("log_s")) * tf.ones_like(x)) @ "z"


def data_fn(x):
    return (x,), (x,), {"x": x}


def exact_guide():
    v = 1.0 / (W * W + 1.0)
    return dict(a=W * v, c=-W * B * v, log_s=0.5 * np.log(v))


def log_px(x):
    return float(np.sum(stats.norm.logpdf(x, B, np.sqrt(W * W + 1.0))))


def set_params(fn, values):
    for name, value in values.items():
        gentf.init_param(fn, name, tf.constant(value, F64))


def log_ml(x, proposal, seeds, k=20):
    kw = dict(proposal=vae_guide, proposal_args=(x,)) if proposal else {}
    return np.array([float(gentf.importance_sampling(vae_model, (x,), {"x": x}, num_samples=k, seed=s, **kw)[2])
                     for s in seeds])


def test_encoder_proposal_weights_are_the_hand_computed_iwae_weights():
    """log w_k = log N(z_k; 0, I) + log N(x; w z_k + b, I) - log N(z_k; a x + c, s^2 I) for the traces'
    own z_k; at the exact posterior every log w_k is log p(x) (to rounding), for any draw."""
    set_params(vae_model, dict(w=W, b=B))
    g = dict(a=0.2, c=0.1, log_s=-0.4)
    set_params(vae_guide, g)
    x = tf.constant(np.random.default_rng(1).normal(B, np.sqrt(W * W + 1), size=D), F64)
    traces, log_norm_w, lml = gentf.importance_sampling(vae_model, (x,), {"x": x}, vae_guide, (x,), 5, seed=4)
    z = traces.get_choices()["z"].numpy()                                   # [5, D]: particles batched
    xn = x.numpy()
    hand = (stats.norm.logpdf(z).sum(1) + stats.norm.logpdf(xn, W * z + B, 1.0).sum(1)
            - stats.norm.logpdf(z, g["a"] * xn + g["c"], np.exp(g["log_s"])).sum(1))
    total = np.logaddexp.reduce(hand)
    np.testing.assert_allclose(float(lml), total - np.log(5), rtol=1e-12)
    np.testing.assert_allclose(log_norm_w.numpy(), hand - total, atol=1e-12)
    set_params(vae_guide, exact_guide())
    _, log_norm_w, lml = gentf.importance_sampling(vae_model, (x,), {"x": x}, vae_guide, (x,), 5, seed=4)
    np.testing.assert_allclose(float(lml), log_px(xn), atol=1e-10)
    np.testing.assert_allclose(log_norm_w.numpy(), np.full(5, -np.log(5)), atol=1e-10)


def test_trained_encoder_gives_a_far_tighter_log_ml_than_the_prior():
    """Train the guide by SVI (ELBO, Adam) on 256 data from the model with the model's parameters
    fixed; then estimate log p(x) of a held-out datum with K = 20 particles over 8 seeds. Measured
    (log p(x) = -18.88): encoder proposal mean error -0.010 nat, sd 0.015; prior proposal mean
    error -13.0 nats, sd 3.1. Asserted (loosely): encoder error < 0.1 nat, encoder sd < 1/20 of
    the prior's, prior's mean error > 10x the encoder's."""
    set_params(vae_model, dict(w=W, b=B))
    set_params(vae_guide, dict(a=0.0, c=0.0, log_s=0.0))
    rng = np.random.default_rng(0)
    data = rng.normal(B, np.sqrt(W * W + 1), size=(256, D))
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(data, F64)).shuffle(256, seed=0).batch(64)
    update = gentf.ParamUpdate(gentf.ADAM(0.05, 0.9, 0.999, 1e-8), vae_guide)   # the encoder only
    gentf.svi(vae_model, vae_guide, dataset, update, data_fn, num_particles=4, num_epochs=60, seed=0)
    trained = {n: float(gentf.get_param(vae_guide, n)) for n in ("a", "c", "log_s")}
    np.testing.assert_allclose(list(trained.values()), list(exact_guide().values()), atol=0.05)

    x = rng.normal(B, np.sqrt(W * W + 1), size=D)
    exact = log_px(x)
    xt = tf.constant(x, F64)
    enc, prior = log_ml(xt, True, range(8)), log_ml(xt, False, range(8))
    enc_err, prior_err = abs(enc.mean() - exact), abs(prior.mean() - exact)
    assert enc_err < 0.1, (enc, exact)
    assert enc.std() < prior.std() / 20, (enc.std(), prior.std())
    assert prior_err > 10 * enc_err, (prior_err, enc_err)
    # both are lower bounds in expectation (Jensen): the prior's estimate is below log p(x)
    assert prior.mean() < exact
