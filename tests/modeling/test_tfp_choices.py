"""``tfp_choice(dist) @ addr``: seed 003's TFP distributions (batch and event shapes) as choices.

Exact tier: scores equal the sum of TFP's own ``log_prob`` over sample and batch axes, eagerly and
under tf.function; shapes that do not fit are rejected naming the address; parameter gradients
through a Keras network that returns a distribution agree with finite differences."""
import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import gentf
from gentf import gen
from gentf.core.errors import ArgumentError, ConstraintMismatchError
from gentf.modeling.tfp_choices import tfp_choice
from gentf.testing import finite_difference_gradient

tfd = tfp.distributions
B, LATENT = 256, 2


class Encoder(keras.Model):
    """Seed 003's encoder head: a dense layer whose output parameterises MultivariateNormalDiag."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2 * LATENT, kernel_initializer=keras.initializers.RandomNormal(seed=1))

    def call(self, x):
        h = self.dense(x)
        return tfd.MultivariateNormalDiag(loc=h[:, :LATENT], scale_diag=tf.nn.softplus(h[:, LATENT:] + 1e-5))


class MixturePrior(tf.Module):
    """Seed 003's learnable prior: MixtureSameFamily of MultivariateNormalDiag components."""

    def __init__(self, components=4):
        rng = np.random.default_rng(0)
        self.loc = tf.Variable(rng.normal(size=(components, LATENT)).astype(np.float32))
        self.raw_scale_diag = tf.Variable(rng.normal(size=(components, LATENT)).astype(np.float32))
        self.mixture_logits = tf.Variable(rng.normal(size=(components,)).astype(np.float32))

    def __call__(self):
        return tfd.MixtureSameFamily(
            components_distribution=tfd.MultivariateNormalDiag(
                loc=self.loc, scale_diag=tf.nn.softplus(self.raw_scale_diag)),
            mixture_distribution=tfd.Categorical(logits=self.mixture_logits))


features = tf.constant(np.random.default_rng(2).normal(size=(B, 5)), tf.float32)
encoder_net = Encoder()
encoder_net(features[:1])  # build the layers: a TFFunction's parameters are the variables it sees
encoder = gentf.TFFunction(encoder_net)
prior_module = MixturePrior()
prior = gentf.TFFunction(prior_module, variables=prior_module.trainable_variables)


@gen
def guide(x):
    q = encoder(x) @ "encoder"
    return tfp_choice(q) @ "z"


@gen
def mixture_model(n):
    return tfp_choice(prior() @ "prior", sample_shape=[n]) @ "z"


@gen
def pixels(logits):
    return tfp_choice(tfd.Independent(tfd.Bernoulli(logits=logits), reinterpreted_batch_ndims=3)) @ "x"


def _both(fn):
    """``fn`` run eagerly and inside tf.function (the results must agree)."""
    return fn(), tf.function(fn, autograph=False)()


def test_mvn_diag_batch_256_event_2_score_is_sum_of_log_prob():
    def run():
        trace = gentf.simulate(guide, (features,), seed=3)
        return trace["z"], trace.score
    for z, score in _both(run):
        assert z.shape == (B, LATENT)
        expected = tf.reduce_sum(encoder_net(features).log_prob(z))
        np.testing.assert_allclose(score.numpy(), expected.numpy(), rtol=1e-5)
    q = encoder_net(features)
    assert q.batch_shape == (B,) and q.event_shape == (LATENT,)


def test_independent_bernoulli_event_28_28_1_constrained_score():
    logits = tf.constant(np.random.default_rng(4).normal(size=(8, 28, 28, 1)), tf.float32)
    x = tf.cast(np.random.default_rng(5).random((8, 28, 28, 1)) < 0.3, tf.int32)
    for weight in _both(lambda: gentf.assess(pixels, (logits,), {"x": x})[0]):
        lik = tfd.Independent(tfd.Bernoulli(logits=logits), reinterpreted_batch_ndims=3)
        assert lik.batch_shape == (8,) and lik.event_shape == (28, 28, 1)
        np.testing.assert_allclose(weight.numpy(), tf.reduce_sum(lik.log_prob(x)).numpy(), rtol=1e-5)


def test_mixture_prior_with_sample_shape_score_and_trace_through_tf_function():
    z = tf.constant(np.random.default_rng(6).normal(size=(B, LATENT)), tf.float32)
    for trace in _both(lambda: gentf.generate(mixture_model, (B,), {"z": z})[0]):
        np.testing.assert_allclose(trace.score.numpy(), tf.reduce_sum(prior_module().log_prob(z)).numpy(),
                                   rtol=1e-5)
        # the TFFunction's return value (a MixtureSameFamily) crossed the tf.function boundary
        assert isinstance(trace["prior"], tfd.MixtureSameFamily)
    sampled = gentf.simulate(mixture_model, (7,), seed=1)["z"]
    assert sampled.shape == (7, LATENT)


def test_value_shapes_that_do_not_fit_name_the_address():
    logits = tf.zeros([8, 28, 28, 1])
    with pytest.raises(ConstraintMismatchError, match=r'"x"|x'):
        gentf.assess(pixels, (logits,), {"x": tf.zeros([8, 28, 28], tf.int32)})  # TFP would broadcast
    with pytest.raises(ConstraintMismatchError, match="address.*z"):
        gentf.generate(mixture_model, (B,), {"z": tf.zeros([B + 1, LATENT])})
    with pytest.raises(ConstraintMismatchError, match="address.*z"):
        gentf.generate(guide, (features,), {"z": tf.zeros([B, LATENT + 1])})
    with pytest.raises(ConstraintMismatchError, match="address.*x"):  # a float image for Bernoulli
        gentf.assess(pixels, (logits,), {"x": tf.zeros([8, 28, 28, 1], tf.float32) + 0.5})


def test_not_a_distribution_is_an_argument_error():
    @gen
    def bad():
        return tfp_choice(tf.zeros(3)) @ "z"
    with pytest.raises(ArgumentError, match="not a tfp.distributions.Distribution"):
        gentf.simulate(bad, ())
    assert tfp_choice(tfd.Normal(0.0, 1.0), sample_shape=4).shape == (4,)  # outside a model: a draw


def test_parameter_gradients_through_a_network_returning_a_distribution_match_finite_differences():
    x = features[:4]
    z = tf.constant(np.random.default_rng(7).normal(size=(4, LATENT)), tf.float32)
    kernel = encoder_net.dense.kernel
    acc = gentf.get_param_grad_tf_var(encoder, kernel)
    gentf.reset_param_grads_tf_op(encoder)()
    trace, _ = gentf.generate(guide, (x,), {"z": z})
    gentf.accumulate_param_gradients(trace)
    grad = acc.numpy()
    gentf.reset_param_grads_tf_op(encoder)()
    start = kernel.numpy()

    def score(w):
        x64, z64 = tf.cast(x, tf.float64), tf.cast(z, tf.float64)
        h = x64 @ tf.constant(w) + tf.cast(encoder_net.dense.bias, tf.float64)
        q = tfd.MultivariateNormalDiag(h[:, :LATENT], tf.nn.softplus(h[:, LATENT:] + 1e-5))
        return float(tf.reduce_sum(q.log_prob(z64)))
    fd = finite_difference_gradient(score, start.astype(np.float64), eps=1e-5)
    kernel.assign(start)
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-3)


# --- observations outside the support --------------------------------------------------------------
counts = tf.constant(np.random.default_rng(8).integers(0, 17, size=(8, 28, 28, 1)), tf.int32)  # 0..16, not 0/1


@pytest.mark.parametrize("how", [1, 2, "importance_sampling"])  # eager, auto-compiled, XLA inference
def test_pixel_counts_under_bernoulli_are_a_domain_error_naming_the_address(how):
    # TFP's Bernoulli.log_prob of a count is finite (x * logit - softplus(logit)): a meaningless ELBO
    logits = tf.zeros([8, 28, 28, 1])
    match = r"tfp_choice at address 'x': the observed value is outside the support of Bernoulli \(0 to 1\)"
    with pytest.raises(gentf.DomainError, match=match):
        if how == "importance_sampling":
            gentf.importance_sampling(pixels, (logits,), {"x": counts}, 4, seed=1)
        else:
            gentf.generate(pixels, (logits,), {"x": counts}, seed=how)


def test_support_of_other_families_and_in_support_values():
    @gen
    def waits(d):
        return tfp_choice(d) @ "t"
    bad = [(tfd.Bernoulli(logits=tf.zeros(3), dtype=tf.float32), [0.0, 0.5, 1.0], "not a whole number"),
           (tfd.Binomial(5.0, probs=tf.fill([3], 0.5)), [0.0, 6.0, 1.0], r"Binomial \(0 to 5\)"),
           (tfd.Categorical(logits=tf.zeros([3, 4])), tf.constant([0, 4, 1]), r"Categorical \(0 to 3\)"),
           (tfd.Poisson(tf.ones(3)), [0.0, -1.0, 2.0], "negative"),
           (tfd.Exponential(tf.ones(3)), [0.0, -1.0, 2.0], "support of Exponential"),
           (tfd.Independent(tfd.Beta(tf.ones(3), tf.ones(3)), 1), [0.2, 1.5, 0.5], "support of Beta")]
    for d, value, match in bad:
        for run in (lambda: gentf.assess(waits, (d,), {"t": value}),
                    tf.function(lambda: gentf.assess(waits, (d,), {"t": value}), autograph=False)):
            with pytest.raises((gentf.DomainError, tf.errors.InvalidArgumentError),
                               match=f"tfp_choice at address .{{0,4}}t.{{0,4}}: .*{match}"):
                run()
    good = [(tfd.Bernoulli(logits=tf.zeros(3), dtype=tf.float32), [0.0, 1.0, 1.0]),
            (tfd.Binomial(5.0, probs=tf.fill([3], 0.5)), [0.0, 5.0, 1.0]),
            (tfd.Exponential(tf.ones(3)), [0.0, 0.5, 2.0]),
            (tfd.Normal(tf.zeros(3), 1.0), [-1e3, 0.0, 1e3])]
    for d, value in good:
        weight, _ = gentf.assess(waits, (d,), {"t": value})
        np.testing.assert_allclose(weight, tf.reduce_sum(d.log_prob(value)), rtol=1e-6)


def test_support_check_in_a_user_graph_and_turned_off():
    logits = tf.zeros([8, 28, 28, 1])

    @tf.function(autograph=False)
    def user_program(x):
        return gentf.assess(pixels, (logits,), {"x": x})[0]

    assert np.isfinite(user_program(tf.minimum(counts, 1)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="gentf.DomainError: tfp_choice at address .{0,4}x"):
        user_program(counts)
    gentf.set_validate_args(False)
    try:  # TFP's own (finite, meaningless) score, no check
        weight, _ = gentf.assess(pixels, (logits,), {"x": counts})
        lik = tfd.Independent(tfd.Bernoulli(logits=logits), reinterpreted_batch_ndims=3)
        np.testing.assert_allclose(weight, tf.reduce_sum(lik.log_prob(counts)), rtol=1e-5)
    finally:
        gentf.set_validate_args(True)


def test_training_on_counts_stops_before_any_parameter_moves():
    decoder_net = keras.layers.Dense(28 * 28, kernel_initializer=keras.initializers.RandomNormal(seed=2))
    decoder_net.build((None, LATENT))
    decoder = gentf.TFFunction(lambda z: tf.reshape(decoder_net(z), [-1, 28, 28, 1]),
                               variables=decoder_net.trainable_variables)

    @gen
    def vae(x):
        z = tfp_choice(tfd.MultivariateNormalDiag(tf.zeros([8, LATENT]), tf.ones([8, LATENT]))) @ "z"
        logits = decoder(z) @ "decoder"
        tfp_choice(tfd.Independent(tfd.Bernoulli(logits=logits), reinterpreted_batch_ndims=3)) @ "x"

    @gen
    def q(x):
        loc = gentf.param("loc") + tf.zeros([8, LATENT])
        tfp_choice(tfd.MultivariateNormalDiag(loc, tf.ones([8, LATENT]))) @ "z"

    gentf.init_param(q, "loc", tf.zeros([LATENT]))
    update = gentf.ParamUpdate(gentf.ADAM(0.01, 0.9, 0.999, 1e-8), vae, q, decoder)
    engine = gentf.SVI(vae, q, update, lambda x: ((x,), (x,), {"x": x}))
    before = [v.numpy().copy() for v in update.variables]
    with pytest.raises(gentf.DomainError, match="tfp_choice at address 'x'.*support of Bernoulli"):
        engine.step(counts, seed=0)
    for old, var in zip(before, update.variables):
        np.testing.assert_array_equal(var.numpy(), old)
    engine.step(tf.minimum(counts, 1), seed=0)  # valid pixels train
    assert any(not np.array_equal(var.numpy(), old) for old, var in zip(before, update.variables))
