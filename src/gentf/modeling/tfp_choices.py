"""Choices from ready-made TFP distribution objects: ``tfp_choice(dist) @ addr``.

Networks written for TFP return the distribution itself (seed 003: the encoder returns
``MultivariateNormalDiag`` with batch shape ``[B]`` and event shape ``[2]``, the decoder
``Independent(Bernoulli(logits), reinterpreted_batch_ndims=3)`` with event shape ``[28, 28, 1]``,
the learnable prior a ``MixtureSameFamily``). Inside a @gen body::

    q = encoder(x) @ "encoder"                 # a TFFunction returning a tfd.Distribution
    z = tfp_choice(q) @ "z"                    # one choice; value shape [B, 2]
    x = tfp_choice(prior, sample_shape=[B]) @ "z"   # B iid draws of a batch-less prior

Value and score (``s`` = ``sample_shape``, ``b`` = the batch shape, ``e`` = the event shape):

- the value has shape ``s + b + e`` and the distribution's dtype (``dist.sample(s)``);
- the score is ``log p(value) = sum over s and b of dist.log_prob(value)``; ``log_prob`` already
  sums over the event. So the batch is a set of independent variables traced as one choice, as
  for gentf's vectorised choices (``normal(tf.zeros(100), 1.0) @ "ys"``): the score of a VAE's
  latent choice over a minibatch is the joint log density of the whole minibatch. Divide by the
  batch size for per-example values (as ``gentf.SVI`` reports them);
- a constraint must have exactly the shape ``s + b + e`` (TFP's ``log_prob`` would broadcast a
  smaller one silently): any other shape, or a dtype of another kind (a float image for an
  integer ``Bernoulli``: cast it, or build ``Bernoulli(..., dtype=tf.float32)``), raises
  ``ConstraintMismatchError`` naming the address. ``tfp_choice`` of anything that is not a
  ``tfd.Distribution`` raises ``ArgumentError``.

An observed value is checked against the distribution's support (``support_checks``), with the
NaN and infinity checks of every float observation, under ``gentf.set_validate_args`` (default
on): a value outside it (16 under a ``Bernoulli``, 0.5 under an integer-valued one, -1 under an
``Exponential``) is a ``DomainError`` naming the address, eagerly and inside compiled programs
(``core.domain.check``), where TFP's ``log_prob`` would give a finite, meaningless score.

Sampling uses the distribution's own sampler with gentf's stateless seed, so a reparameterised
distribution (``dist.reparameterization_type``) gives values differentiable in its parameters.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.errors import ArgumentError
from .distribution import Distribution, as_dtype, tfp_seed

tfd = tfp.distributions
tfb = tfp.bijectors

# Discrete families whose values are whole numbers >= 0 (also with a float dtype), and the
# largest value of those bounded above (a function of the distribution).
_COUNTS = (tfd.Bernoulli, tfd.Binomial, tfd.Categorical, tfd.Poisson, tfd.Geometric,
           tfd.NegativeBinomial, tfd.OneHotCategorical, tfd.Multinomial)
_UPPER = {
    tfd.Bernoulli: lambda d: 1,
    tfd.OneHotCategorical: lambda d: 1,
    tfd.Binomial: lambda d: d.total_count,
    tfd.Categorical: lambda d: _num_categories(d) - 1,
}


def _num_categories(dist):
    """K of a ``Categorical``: static when its parameter's last axis is."""
    param = dist.logits if dist.logits is not None else dist.probs
    k = param.shape[-1] if param.shape.rank is not None else None
    return k if k is not None else tf.shape(param)[-1]


def support_checks(dist, value):
    """``[(bool tensor, message), ...]``: is ``value`` (of ``dist``'s dtype and value shape) in
    the support of the TFP distribution ``dist``? ``Independent`` is looked through (its event is
    its base distribution's batch). A discrete family (``_COUNTS``) takes whole numbers from 0 up
    to its largest value (``Bernoulli``: 1; ``Binomial``: ``total_count``; ``Categorical``:
    ``K - 1``), as TFP's ``validate_args`` sample checks; a continuous distribution takes the
    values that its ``experimental_default_event_space_bijector`` maps back (its inverse is NaN
    outside the support: a negative ``Exponential`` value, a ``Beta`` value above 1). A
    distribution TFP gives no bijector for, an identity bijector (``Normal``, ...), or one that
    fails to build, adds no check. Elementwise conditions (the caller reduces them)."""
    while isinstance(dist, tfd.Independent):
        dist = dist.distribution
    name = type(dist).__name__
    if value.dtype == tf.bool:
        return []
    if isinstance(dist, _COUNTS):
        checks = []
        if value.dtype.is_floating:
            checks.append((tf.equal(value, tf.round(value)), f"the observed value is not a whole number ({name})"))
        upper = next((f(dist) for cls, f in _UPPER.items() if isinstance(dist, cls)), None)
        ok = value >= 0
        if upper is None:
            message = f"the observed value is negative, outside the support of {name} (0, 1, 2, ...)"
        else:
            ok = ok & (value <= tf.cast(upper, value.dtype))
            static = tf.get_static_value(upper)
            bound = "its upper bound" if static is None or np.ndim(static) else f"{np.asarray(static).item():g}"
            message = f"the observed value is outside the support of {name} (0 to {bound})"
        return checks + [(ok, message)]
    if not value.dtype.is_floating:
        return []
    try:
        bijector = dist.experimental_default_event_space_bijector()
        if bijector is None or isinstance(bijector, tfb.Identity):
            return []
        back = bijector.inverse(value)
    except Exception:  # noqa: BLE001 -- TFP raises all kinds (NotImplementedError, TypeError, ...)
        return []
    # The inverse of the bijector has the shape of an unconstrained point (one fewer entry per
    # event for a simplex): reduce over all of it, keeping nothing elementwise.
    return [(tf.reduce_all(~tf.math.is_nan(back)), f"the observed value is outside the support of {name}")]


def _sample_shape(shape):
    """``sample_shape`` as a tuple of ints when static, else an int32 vector tensor."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    if isinstance(shape, (tf.Tensor, tf.Variable)):
        static = tf.get_static_value(shape)
        if static is None:
            return tf.reshape(tf.cast(shape, tf.int32), [-1])
        shape = np.reshape(static, [-1])
    try:
        return tuple(int(n) for n in shape)
    except TypeError as e:
        raise ArgumentError(f"tfp_choice: sample_shape {shape!r} is not a shape") from e


class TFPChoice(Distribution):
    """The distribution of ``tfp_choice(dist, sample_shape=())``: its arguments are the TFP
    distribution object and the sample shape (see the module docstring)."""

    name = "tfp_choice"
    discrete = False  # per call: the value's dtype tells (integer and bool values are discrete)

    def __call__(self, dist, sample_shape=()):
        return super().__call__(dist, sample_shape)

    def convert_args(self, args):
        if len(args) not in (1, 2):
            raise ArgumentError(f"tfp_choice takes a distribution and a sample shape, got {len(args)} arguments")
        dist, shape = args[0], (args[1] if len(args) == 2 else ())
        if not isinstance(dist, tfd.Distribution):
            raise ArgumentError(f"tfp_choice: {dist!r} is not a tfp.distributions.Distribution")
        return dist, _sample_shape(shape)

    def tfp_dist(self, dist, sample_shape=()):
        return dist

    def value_dtype(self, dist, sample_shape=()):
        return dist.dtype

    def value_shape(self, dist, sample_shape=()):
        if isinstance(sample_shape, tf.Tensor):
            leading = tf.TensorShape([None] * int(sample_shape.shape[0]))
        else:
            leading = tf.TensorShape(sample_shape)
        return leading.concatenate(dist.batch_shape).concatenate(dist.event_shape)

    def sample(self, seed, dist, sample_shape=()):
        return dist.sample(sample_shape, seed=tfp_seed(seed))

    def value_checks(self, value, dist, sample_shape=()):
        """The observed value is in the support of ``dist`` (``support_checks``)."""
        return support_checks(dist, value)

    def log_prob(self, value, dist, sample_shape=()):
        """``dist.log_prob(value)``: shape ``sample_shape + batch_shape`` (summed over the event)."""
        return dist.log_prob(as_dtype(value, dist.dtype))


tfp_choice = TFPChoice()
tfp_choice.__doc__ = """``tfp_choice(dist, sample_shape=()) @ addr`` traces a draw of the TFP distribution
object ``dist`` (e.g. one a network returned) at ``addr``; see ``gentf.modeling.tfp_choices``."""
