"""Gen.jl's distributions, each backed by a TFP distribution, with Gen.jl's parameterisations.

Every distribution is a module-level instance: ``normal(0.0, 1.0) @ "x"`` in a @gen body, or
``normal(0.0, 1.0)`` outside one to draw a sample. Parameters with a batch shape give one
vectorised choice whose log density is the sum over the batch. Integer-valued distributions
(binom, categorical, geometric, neg_binom, poisson, uniform_discrete) have int32 values;
bernoulli has bool values; the others have values of the arguments' float dtype.

Arguments are checked by ``arg_checks`` (a ``DomainError`` eagerly, an assertion naming
``gentf.DomainError`` in a graph); values outside the support have log density ``-inf``.

Log densities are TFP's ``log_prob`` except where a closed form is exact and cheaper
(``categorical``: ``log probs[k]`` as Gen.jl, ``uniform_discrete``, ``beta_uniform``), and
``beta``/``gamma``/``dirichlet`` add a zero-valued term that restores the gradient TF drops at a
concentration of exactly 1 (``_xlogy_grad_fix``). Sampling uses the TFP distribution, except
``normal``, ``uniform``, ``bernoulli``, ``categorical`` and ``uniform_discrete``, which transform
gentf's standard noise (``core.seeds``: batchable across particles) exactly: ``mu + std z``,
``low + (high - low) u``, ``u < prob``, the Gumbel-max trick ``argmax_k log probs[k] - log(-log u_k)``
and ``low + floor((high - low + 1) u)``, and ``gamma``, which runs Marsaglia and Tsang's rejection
method on such noise (``_standard_gamma``). These give the same numbers for a seed eagerly, in
graphs and batched over particles without a loop (TFP's samplers loop there, and may take another
algorithm under ``vectorized_map``).

Where gentf differs from Gen.jl:
- ``categorical`` returns 0-based indices (Python convention; see DESIGN.md).
- ``piecewise_uniform`` is a TFP mixture of uniforms: at an interior bound it adds the densities
  of both adjacent pieces (Gen.jl takes one; a set of measure zero), and its gradient with respect
  to ``probs`` is that of the normalised mixture: equal to Gen.jl's along the simplex (the only
  directions valid ``probs`` can move in), different off it.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.seeds import split_seed, standard_normal, standard_uniform
from .distribution import Distribution, as_dtype, float_dtype, tfp_seed, to_float

tfd = tfp.distributions

__all__ = ["bernoulli", "beta", "beta_uniform", "binom", "categorical", "cauchy", "dirichlet",
           "exponential", "gamma", "geometric", "inv_gamma", "laplace", "mvnormal", "neg_binom",
           "normal", "piecewise_uniform", "poisson", "uniform", "uniform_discrete",
           "broadcasted_normal", "tfp_distribution", "TFPDistribution"]


# --- helpers ---------------------------------------------------------------------------------

def _tensor(value):
    return value if isinstance(value, (tf.Tensor, tf.Variable)) else tf.constant(np.asarray(value))


def _tol(dtype):
    """Tolerance for "sums to one" and "is symmetric": sqrt(eps), Julia's ``isapprox`` default."""
    return float(np.sqrt(np.finfo(dtype.as_numpy_dtype).eps))


def _positive(x, name):
    return (x > 0, f"{name} must be positive")


def _nonnegative(x, name):
    return (x >= 0, f"{name} must be nonnegative")


def _unit(p, name):
    return ((p >= 0) & (p <= 1), f"{name} must be in [0, 1]")


def _integral(x, name):
    if x.dtype.is_integer:
        return (tf.constant(True), f"{name} must be an integer")
    return (tf.equal(tf.floor(x), x), f"{name} must be an integer")


def _probvec(p, name):
    """``p`` (last axis) is a probability vector: nonnegative, summing to one within ``_tol``."""
    return [_nonnegative(p, name),
            (tf.abs(tf.reduce_sum(p, -1) - 1) <= _tol(p.dtype), f"{name} must sum to 1")]


def _between(value, low, high):
    """Elementwise ``low <= value <= high`` (the support of a closed interval)."""
    x = as_dtype(value, low.dtype)
    return (x >= low) & (x <= high)


def _broadcast_shape(*xs):
    """The broadcast shape of the tensors ``xs``: static when known, else a shape tensor."""
    shape = tf.TensorShape([])
    for x in xs:
        shape = tf.broadcast_static_shape(shape, x.shape)
    if not shape.is_fully_defined():
        shape = tf.shape(xs[0])
        for x in xs[1:]:
            shape = tf.broadcast_dynamic_shape(shape, tf.shape(x))
    return shape


def _broadcast(*xs):
    """The tensors ``xs`` broadcast to one shape (static where possible)."""
    shape = _broadcast_shape(*xs)
    return [tf.broadcast_to(x, shape) for x in xs]


def _int_or_float(x, dtype):
    """An integer-valued argument: integer input -> int32 tensor, float input -> ``dtype``."""
    if isinstance(x, (tf.Tensor, tf.Variable)) and x.dtype.is_integer:
        return tf.cast(x, tf.int32)
    arr = None if isinstance(x, (tf.Tensor, tf.Variable)) else np.asarray(x)
    if arr is not None and (arr.dtype.kind in "iub"):
        return tf.constant(arr.astype(np.int32))
    return to_float(x, dtype)


def _xlogy_grad_fix(a, x):
    """Zero, with gradient ``log(x)`` with respect to ``a`` where ``a == 0``.

    TFP's Beta, Gamma and Dirichlet compute ``(alpha - 1) log x`` as ``tf.math.xlogy``, whose
    gradient with respect to its first argument TF 2.21 sets to 0 where that argument is 0: without
    this term d/dalpha log p would be wrong at exactly alpha = 1 (e.g. a Dirichlet(ones) prior)."""
    a, x = _broadcast(a, x)
    hit = tf.equal(a, 0) & (x > 0)
    log_x = tf.math.log(tf.where(hit, x, tf.ones_like(x)))
    return tf.where(hit, (a - tf.stop_gradient(a)) * log_x, tf.zeros_like(log_x))


class _Real(Distribution):
    """A continuous distribution: values of the arguments' float dtype."""

    discrete = False


class _Count(Distribution):
    """An integer-valued distribution: int32 values; TFP scores them as floats. Support: the
    integers ``>= 0`` (subclasses narrow it with ``upper``)."""

    discrete = True

    def value_dtype(self, *args):
        return tf.int32

    def sample(self, seed, *args):
        return tf.cast(super().sample(seed, *args), tf.int32)

    def upper(self, *args):
        """Largest value in the support (``None``: unbounded)."""
        return None

    def lower(self, *args):
        return 0

    def in_support(self, value, *args):
        # Integer values (constraints are coerced to int32) compare as they are; an integer
        # stored as a float is compared in float64 (exact) and must have no fraction.
        x = _tensor(value)
        exact = x.dtype.is_integer
        x = x if exact else tf.cast(x, tf.float64)
        ok = x >= as_dtype(self.lower(*args), x.dtype)
        ok = ok if exact else ok & tf.equal(tf.floor(x), x)
        hi = self.upper(*args)
        return ok if hi is None else ok & (x <= as_dtype(hi, x.dtype))


# --- continuous distributions ------------------------------------------------------------------
class Normal(_Real):
    """``normal(mu, std)``: p(x) = exp(-(x - mu)^2 / (2 std^2)) / (std sqrt(2 pi)); std > 0."""

    name = "normal"
    _HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)

    def tfp_dist(self, mu, std):
        return tfd.Normal(mu, std)

    def arg_checks(self, mu, std):
        return [_positive(std, "std")]

    # The most used distribution: sampled and scored with the same maths as tfd.Normal, written
    # as raw ops, because building a TFP object costs ~3 ms eagerly and ~25 ms when traced.
    def sample(self, seed, mu, std):
        return mu + std * standard_normal(_broadcast_shape(mu, std), tfp_seed(seed), mu.dtype)

    def value_shape(self, mu, std):
        return tf.broadcast_static_shape(mu.shape, std.shape)

    def log_prob(self, value, mu, std):
        z = (as_dtype(value, mu.dtype) - mu) / std
        return -0.5 * z * z - tf.math.log(std) - self._HALF_LOG_2PI


class BroadcastedNormal(Normal):
    """``broadcasted_normal(mu, std)``: independent normals, ``mu`` and ``std`` broadcast to one
    shape; the value has that shape and its log density is the sum of the elementwise ones."""

    name = "broadcasted_normal"

    def tfp_dist(self, mu, std):
        return tfd.Normal(*_broadcast(mu, std))


class Beta(_Real):
    """``beta(alpha, beta)``: p(x) = x^(alpha-1) (1-x)^(beta-1) / B(alpha, beta) on [0, 1]."""

    name = "beta"

    def tfp_dist(self, alpha, beta):
        return tfd.Beta(alpha, beta)

    def log_prob(self, value, alpha, beta):
        x = as_dtype(value, alpha.dtype)
        return (tfd.Beta(alpha, beta).log_prob(x) + _xlogy_grad_fix(alpha - 1, x)
                + _xlogy_grad_fix(beta - 1, 1 - x))

    def arg_checks(self, alpha, beta):
        return [_positive(alpha, "alpha"), _positive(beta, "beta")]

    def in_support(self, value, alpha, beta):
        return _between(value, tf.zeros([], alpha.dtype), tf.ones([], alpha.dtype))


class BetaUniform(Beta):
    """``beta_uniform(theta, alpha, beta)``: the mixture theta Beta(alpha, beta) + (1 - theta)
    Uniform(0, 1) on [0, 1]; backed by a TFP mixture of Beta(alpha, beta) and Beta(1, 1)."""

    name = "beta_uniform"

    def tfp_dist(self, theta, alpha, beta):
        theta, alpha, beta = _broadcast(theta, alpha, beta)
        one = tf.ones_like(alpha)
        return tfd.MixtureSameFamily(tfd.Categorical(probs=tf.stack([theta, 1 - theta], -1)),
                                     tfd.Beta(tf.stack([alpha, one], -1), tf.stack([beta, one], -1)))

    def log_prob(self, value, theta, alpha, beta):
        # log(theta p_beta(x) + (1 - theta)); the uniform's density on [0, 1] is 1. With theta = 0
        # the beta term is -inf even where p_beta is +inf (x = 0 with alpha < 1), not NaN.
        log_beta = tf.math.log(theta) + super().log_prob(value, alpha, beta)
        log_beta = tf.where(theta > 0, log_beta, tf.constant(-np.inf, log_beta.dtype))
        return tf.math.reduce_logsumexp(tf.stack(_broadcast(log_beta, tf.math.log1p(-theta)), -1), -1)

    def arg_checks(self, theta, alpha, beta):
        return [_unit(theta, "theta")] + super().arg_checks(alpha, beta)

    def in_support(self, value, theta, alpha, beta):
        return super().in_support(value, alpha, beta)


class Cauchy(_Real):
    """``cauchy(x0, gamma)``: p(x) = 1 / (pi gamma (1 + ((x - x0) / gamma)^2)); gamma > 0."""

    name = "cauchy"

    def tfp_dist(self, x0, gamma):
        return tfd.Cauchy(x0, gamma)

    def arg_checks(self, x0, gamma):
        return [_positive(gamma, "gamma")]


class Dirichlet(_Real):
    """``dirichlet(alpha)``: p(x) = prod_i x_i^(alpha_i - 1) / B(alpha) on the simplex (last axis)."""

    name = "dirichlet"

    def tfp_dist(self, alpha):
        return tfd.Dirichlet(alpha)

    def log_prob(self, value, alpha):
        x = as_dtype(value, alpha.dtype)
        return tfd.Dirichlet(alpha).log_prob(x) + tf.reduce_sum(_xlogy_grad_fix(alpha - 1, x), -1)

    def arg_checks(self, alpha):
        return [_positive(alpha, "alpha")]

    def in_support(self, value, alpha):
        x = as_dtype(value, alpha.dtype)
        return tf.reduce_all(x >= 0, -1) & (tf.abs(tf.reduce_sum(x, -1) - 1) <= _tol(alpha.dtype))


class Exponential(_Real):
    """``exponential(rate)``: p(x) = rate exp(-rate x) for x >= 0."""

    name = "exponential"

    def tfp_dist(self, rate):
        return tfd.Exponential(rate)

    def arg_checks(self, rate):
        return [_positive(rate, "rate")]

    def in_support(self, value, rate):
        return as_dtype(value, rate.dtype) >= 0


class Gamma(_Real):
    """``gamma(shape, scale)`` (Gen's SCALE, not rate): p(x) = x^(shape-1) exp(-x/scale) /
    (Gamma(shape) scale^shape) for x >= 0."""

    name = "gamma"

    def tfp_dist(self, shape, scale):
        return tfd.Gamma(concentration=shape, rate=1 / scale)

    def log_prob(self, value, shape, scale):
        x = as_dtype(value, shape.dtype)
        return self.tfp_dist(shape, scale).log_prob(x) + _xlogy_grad_fix(shape - 1, x)

    def arg_checks(self, shape, scale):
        return [_positive(shape, "shape"), _positive(scale, "scale")]

    def sample(self, seed, shape, scale):
        return scale * _standard_gamma(tf.broadcast_to(shape, _broadcast_shape(shape, scale)), tfp_seed(seed))

    def in_support(self, value, shape, scale):
        return as_dtype(value, shape.dtype) >= 0


_GAMMA_ROUNDS = 8  # Marsaglia-Tsang proposals per gamma draw


def _standard_gamma(alpha, seed):
    """Gamma(alpha, 1) draws from gentf's standard noise by Marsaglia and Tsang's method (2000):
    with ``d = a - 1/3``, ``c = 1 / sqrt(9 d)``, ``z ~ N(0, 1)``, ``v = (1 + c z)^3``, accept
    ``d v`` when ``v > 0`` and ``log u < z^2 / 2 + d - d v + d log v``; for ``alpha < 1``,
    ``a = alpha + 1`` and the draw is ``Gamma(a) u'^(1 / alpha)``. ``_GAMMA_ROUNDS`` proposals are
    made at once and the first accepted is kept: each is accepted with probability >= 0.95, so
    all are rejected with probability < 4e-11 (then ``d``, the mode, is returned). Elementwise
    noise, so batched over particles without a loop and the same numbers eagerly."""
    dtype = alpha.dtype
    boost = alpha < 1
    a = tf.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / tf.sqrt(9.0 * d)
    s1, s2, s3 = tf.unstack(split_seed(seed, 3))
    rounds = tf.concat([[_GAMMA_ROUNDS], tf.shape(alpha)], 0)
    z = standard_normal(rounds, s1, dtype)
    u = standard_uniform(rounds, s2, dtype)
    v = (1.0 + c * z) ** 3
    log_v = tf.math.log(tf.where(v > 0, v, tf.ones_like(v)))
    ok = (v > 0) & (tf.math.log(u) < 0.5 * z * z + d - d * v + d * log_v)
    first = ok & tf.equal(tf.cumsum(tf.cast(ok, tf.int32), axis=0), 1)
    x = tf.reduce_sum(tf.where(first, d * v, tf.zeros_like(v)), axis=0)
    x = tf.where(tf.reduce_any(ok, axis=0), x, d)
    boosted = x * tf.math.exp(tf.math.log(standard_uniform(tf.shape(alpha), s3, dtype)) / alpha)
    return tf.reshape(tf.where(boost, boosted, x), tf.shape(alpha))


class InvGamma(_Real):
    """``inv_gamma(shape, scale)``: p(x) = scale^shape x^(-shape-1) exp(-scale/x) / Gamma(shape)
    for x > 0."""

    name = "inv_gamma"

    def tfp_dist(self, shape, scale):
        return tfd.InverseGamma(concentration=shape, scale=scale)

    def arg_checks(self, shape, scale):
        return [_positive(shape, "shape"), _positive(scale, "scale")]

    def in_support(self, value, shape, scale):
        return as_dtype(value, shape.dtype) > 0


class Laplace(_Real):
    """``laplace(loc, scale)``: p(x) = exp(-|x - loc| / scale) / (2 scale); scale > 0."""

    name = "laplace"

    def tfp_dist(self, loc, scale):
        return tfd.Laplace(loc, scale)

    def arg_checks(self, loc, scale):
        return [_positive(scale, "scale")]


class MvNormal(_Real):
    """``mvnormal(mu, cov)``: p(x) = exp(-(x-mu)' cov^-1 (x-mu) / 2) / sqrt((2 pi)^d det cov),
    with a full covariance matrix ``cov`` (symmetric positive definite; factored by Cholesky)."""

    name = "mvnormal"

    def tfp_dist(self, mu, cov):
        return tfd.MultivariateNormalTriL(mu, tf.linalg.cholesky(cov))

    def arg_checks(self, mu, cov):
        rank = cov.shape.rank
        d, c = (cov.shape[-2], cov.shape[-1]) if rank is not None and rank >= 2 else (None, None)
        if rank is not None and (rank < 2 or (None not in (d, c) and d != c)):
            return [(tf.constant(False), f"cov must be a square matrix, got shape {cov.shape}")]
        if mu.shape.rank is not None and not mu.shape[-1:].is_compatible_with([d]):
            return [(tf.constant(False), f"mu must have shape [..., {d}] to match cov, got {mu.shape}")]
        # TF's Cholesky fills its output with NaN (it does not raise) when cov is not PD.
        chol = tf.linalg.cholesky(cov)
        diag = tf.linalg.diag_part(chol)
        sym = tf.abs(cov - tf.linalg.matrix_transpose(cov)) <= _tol(cov.dtype) * tf.reduce_max(
            tf.abs(cov), [-2, -1], keepdims=True)
        return [(sym, "cov must be symmetric"),
                (tf.math.is_finite(diag) & (diag > 0), "cov must be positive definite")]


class PiecewiseUniform(_Real):
    """``piecewise_uniform(bounds, probs)``: density probs[i] / (bounds[i+1] - bounds[i]) on
    [bounds[i], bounds[i+1]]; ``bounds`` strictly increasing, ``len(probs) = len(bounds) - 1``,
    ``probs`` a probability vector. Backed by a TFP mixture of uniforms."""

    name = "piecewise_uniform"

    def tfp_dist(self, bounds, probs):
        return tfd.MixtureSameFamily(tfd.Categorical(probs=probs),
                                     tfd.Uniform(bounds[..., :-1], bounds[..., 1:]))

    def arg_checks(self, bounds, probs):
        nb, np_ = bounds.shape[-1:], probs.shape[-1:]
        if nb.is_fully_defined() and np_.is_fully_defined() and nb[0] != np_[0] + 1:
            return [(tf.constant(False), f"probs must have len(bounds) - 1 = {nb[0] - 1} elements, "
                                          f"got {np_[0]}")]
        return [(bounds[..., 1:] > bounds[..., :-1], "bounds must be strictly increasing")] + \
            _probvec(probs, "probs")

    def in_support(self, value, bounds, probs):
        return _between(value, bounds[..., 0], bounds[..., -1])


class Uniform(_Real):
    """``uniform(low, high)``: p(x) = 1 / (high - low) on [low, high]; low < high."""

    name = "uniform"

    def tfp_dist(self, low, high):
        return tfd.Uniform(low, high)

    def arg_checks(self, low, high):
        return [(low < high, "low must be less than high")]

    def sample(self, seed, low, high):
        return low + (high - low) * standard_uniform(_broadcast_shape(low, high), tfp_seed(seed), low.dtype)

    def in_support(self, value, low, high):
        return _between(value, low, high)


# --- discrete distributions --------------------------------------------------------------------
class Bernoulli(Distribution):
    """``bernoulli(prob)``: P(true) = prob, P(false) = 1 - prob; bool values."""

    name = "bernoulli"
    discrete = True

    def tfp_dist(self, prob):
        return tfd.Bernoulli(probs=prob, dtype=tf.bool)

    def arg_checks(self, prob):
        return [_unit(prob, "prob")]

    def value_dtype(self, *args):
        return tf.bool

    def sample(self, seed, prob):
        return standard_uniform(tf.shape(prob), tfp_seed(seed), prob.dtype) < prob


class Binom(_Count):
    """``binom(n, p)``: P(k) = C(n, k) p^k (1-p)^(n-k), k = 0..n (successes in n trials)."""

    name = "binom"

    def convert_args(self, args):
        dtype = float_dtype(args)
        return (_int_or_float(args[0], dtype), to_float(args[1], dtype))

    def tfp_dist(self, n, p):
        return tfd.Binomial(total_count=tf.cast(n, p.dtype), probs=p)

    def arg_checks(self, n, p):
        return [_nonnegative(n, "n"), _integral(n, "n"), _unit(p, "p")]

    def upper(self, n, p):
        return n


class Categorical(_Count):
    """``categorical(probs)``: P(i) = probs[i], i = 0..K-1 (0-based; Gen.jl's is 1-based).
    ``probs`` (last axis) nonnegative, summing to 1; a batch ``[N, K]`` gives N values."""

    name = "categorical"

    def tfp_dist(self, probs):
        return tfd.Categorical(probs=probs, dtype=tf.int32)

    def arg_checks(self, probs):
        return _probvec(probs, "probs")

    def value_checks(self, value, probs):
        # Gen.jl indexes probs with the value (a BoundsError outside 1..K); log 0 would be -inf
        # and the normalised weights of importance sampling NaN.
        k = probs.shape[-1]
        index = tf.cast(_tensor(value), tf.int32)
        ok = (index >= 0) & (index < tf.shape(probs)[-1])
        return [(ok, f"the observed value must be a category in 0..{k - 1}" if k is not None
                 else "the observed value must be a category in 0..len(probs) - 1")]

    def sample(self, seed, probs):
        gumbel = -tf.math.log(-tf.math.log(standard_uniform(tf.shape(probs), tfp_seed(seed), probs.dtype)))
        return tf.argmax(tf.math.log(probs) + gumbel, axis=-1, output_type=tf.int32)

    def in_support(self, value, probs):
        # An integer outside 0..K-1 selects no probability in log_prob (log 0 = -inf): no
        # separate test; a float value still must be a whole number (``_Count``).
        return None if _tensor(value).dtype.is_integer else super().in_support(value, probs)

    def log_prob(self, value, probs):
        # log probs[value] (as Gen.jl); an index outside 0..K-1 selects nothing: log 0 = -inf.
        index = tf.cast(_tensor(value), tf.int32)
        return tf.math.log(tf.reduce_sum(tf.one_hot(index, tf.shape(probs)[-1], dtype=probs.dtype) * probs, -1))


class Geometric(_Count):
    """``geometric(p)``: P(k) = p (1-p)^k, k = 0, 1, ... (failures before the first success);
    0 < p <= 1."""

    name = "geometric"

    def tfp_dist(self, p):
        return tfd.Geometric(probs=p)

    def arg_checks(self, p):
        return [((p > 0) & (p <= 1), "p must be in (0, 1]")]


class NegBinom(_Count):
    """``neg_binom(r, p)`` (Distributions.jl's NegativeBinomial): P(k) = C(k+r-1, k) p^r (1-p)^k,
    k = 0, 1, ... failures before the r-th success; r > 0, 0 < p <= 1. TFP's NegativeBinomial
    counts successes before ``total_count`` failures, so it gets success probability 1 - p."""

    name = "neg_binom"

    def tfp_dist(self, r, p):
        return tfd.NegativeBinomial(total_count=r, logits=tf.math.log1p(-p) - tf.math.log(p))

    def sample(self, seed, r, p):
        # Poisson(Gamma(r, rate p / (1 - p))), as TFP does, but with TFP's XLA-compatible Gamma
        # sampler (TFP's NegativeBinomial sampler does not compile with jit_compile=True).
        gamma_seed, poisson_seed = tfp.random.split_seed(tfp_seed(seed), 2)
        lam = tfd.Gamma(r, log_rate=tf.math.log(p) - tf.math.log1p(-p)).sample(seed=gamma_seed)
        return tf.cast(tfd.Poisson(rate=lam).sample(seed=poisson_seed), tf.int32)

    def arg_checks(self, r, p):
        return [_positive(r, "r"), ((p > 0) & (p <= 1), "p must be in (0, 1]")]


class Poisson(_Count):
    """``poisson(lambda)``: P(k) = lambda^k exp(-lambda) / k!, k = 0, 1, ...; lambda >= 0."""

    name = "poisson"

    def tfp_dist(self, lam):
        return tfd.Poisson(rate=lam)

    def arg_checks(self, lam):
        return [_nonnegative(lam, "lambda")]


class UniformDiscrete(_Count):
    """``uniform_discrete(low, high)``: P(k) = 1 / (high - low + 1) for the integers
    k = low..high, both ends included (as Gen.jl). Integer arguments."""

    name = "uniform_discrete"

    def convert_args(self, args):
        dtype = float_dtype(args)
        low, high = (_int_or_float(a, dtype) for a in args)
        if low.dtype != high.dtype:  # one float: both float (checked to be integers)
            low, high = to_float(low, dtype), to_float(high, dtype)
        return low, high

    def tfp_dist(self, low, high):
        # Sampled in float64: exact for every int32 range. ceil(Uniform(low - 1, high)) clipped to
        # [low, high] puts mass 1/n on each integer.
        low, high = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
        return tfd.QuantizedDistribution(tfd.Uniform(low - 1, high), low=low, high=high)

    def arg_checks(self, low, high):
        return [_integral(low, "low"), _integral(high, "high"),
                (low <= high, "low must be less than or equal to high")]

    def lower(self, low, high):
        return low

    def upper(self, low, high):
        return high

    def sample(self, seed, low, high):
        # low + floor(n u), u ~ Uniform(0, 1) in float64 (exact for every int32 range): gentf's
        # noise, so the same numbers per seed eagerly and batched over particles
        low, high = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
        u = standard_uniform(_broadcast_shape(low, high), tfp_seed(seed), tf.float64)
        return tf.cast(tf.minimum(low + tf.floor((high - low + 1) * u), high), tf.int32)

    def log_prob(self, value, low, high):
        # Exact -log(n) (QuantizedDistribution's CDF differences lose precision for large n).
        dtype = float_dtype((low, high))
        n = tf.cast(high, dtype) - tf.cast(low, dtype) + 1
        return tf.broadcast_to(-tf.math.log(n), tf.broadcast_dynamic_shape(tf.shape(n), tf.shape(value)))


# --- any TFP distribution ----------------------------------------------------------------------
class TFPDistribution(Distribution):
    """A traceable distribution from ``factory(*args) -> tfd.Distribution``. Its log density is the
    TFP ``log_prob`` summed over the batch shape. Arguments become tensors keeping their dtype
    (floats promoted to one float dtype, as for the built-in distributions)."""

    finite_args = False  # e.g. logits of -inf are valid; NaN is not

    def __init__(self, factory, name=None, discrete=None):
        self.factory = factory
        fname = getattr(factory, "__name__", None)
        self.name = name or (fname if fname and fname != "<lambda>" else "tfp_distribution")
        self._discrete = discrete
        self._inferred = None

    @property
    def discrete(self):
        """As given, else inferred (after the first call) from the TFP distribution's dtype."""
        return self._discrete if self._discrete is not None else self._inferred

    def convert_args(self, args):
        dtype = float_dtype(args)

        def conv(a):
            if isinstance(a, tf.Variable) and not a.dtype.is_floating:
                return a
            t = a if isinstance(a, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(a)
            return to_float(a, dtype) if t.dtype.is_floating else t
        return tuple(conv(a) for a in args)

    def tfp_dist(self, *args):
        dist = self.factory(*args)
        if self._inferred is None:
            self._inferred = not dist.dtype.is_floating
        return dist

    def value_dtype(self, *args):
        return self.tfp_dist(*args).dtype


def tfp_distribution(factory, name=None, discrete=None):
    """Wrap ``factory`` (any callable returning a ``tfd.Distribution``, e.g.
    ``lambda loc: tfd.Independent(tfd.Normal(loc, 1.0), 1)``) as a traceable distribution.
    ``discrete`` defaults to whether the TFP distribution's dtype is not a float dtype."""
    return TFPDistribution(factory, name, discrete)


bernoulli = Bernoulli()
beta = Beta()
beta_uniform = BetaUniform()
binom = Binom()
categorical = Categorical()
cauchy = Cauchy()
dirichlet = Dirichlet()
exponential = Exponential()
gamma = Gamma()
geometric = Geometric()
inv_gamma = InvGamma()
laplace = Laplace()
mvnormal = MvNormal()
neg_binom = NegBinom()
normal = Normal()
piecewise_uniform = PiecewiseUniform()
poisson = Poisson()
uniform = Uniform()
uniform_discrete = UniformDiscrete()
broadcasted_normal = BroadcastedNormal()
