"""The estimators of amortised VI (``SVI``, ``amortized.py``): per-datum log weights of the guide
as a proposal for the model, the ELBO and IWAE, and the surrogates whose gradients estimate
theirs.

Per-datum log weights. With ``K`` particles the guide runs once on the minibatch repeated ``K``
times (``[K * B]``, particle-major); every choice's elementwise ``log_prob`` is summed over all
but its leading (data) axis, so each particle ``k`` and datum ``b`` gets::

    log w_kb = log p_theta(x_b, z_kb) - log q_phi(z_kb | x_b)

A choice whose log density has no data axis (a global latent, rank 0) is a global term ``g``.

Objectives, reported per datum (divided by ``B``) and ascended per datum, as seed 003's
``reduce_mean``::

    ELBO = (1/K) sum_kb log w_kb + g                 E[ELBO] = log p(x) - KL(q || p(z | x))
    IWAE = sum_b log (1/K) sum_k w_kb                 (Burda et al.; needs per-datum latents)

Gradients. Reparameterised choices (float values whose sampler is differentiable: ``normal``,
and any TFP distribution with ``FULLY_REPARAMETERIZED``) pass gradients through their values:
the ``pathwise'' estimator. Other guide choices (discrete ones; continuous ones without a
reparameterised sampler, whose values are then ``stop_gradient``-ed) get score-function terms.
The surrogate whose gradient is the estimator::

    ELBO:  ELBO + (1/K) sum_kb  sg(log w_kb - b_kb) log q_nr(z_kb)  + sg(ELBO) log q_nr(global)
    IWAE:  IWAE +       sum_kb  sg(L_b - L_{-k,b})  log q_nr(z_kb)

``log q_nr`` is the guide's log density of its non-reparameterised choices (per datum, since the
data are independent given the globals only ``w_kb`` carries ``z_kb``'s signal: Rao-Blackwellised
per datum); ``b_kb`` is the mean of the other particles' ``log w_.b`` (0 when ``K = 1``);
``L_{-k,b}`` is VIMCO's leave-one-out bound (``vi._vimco_baselines``, geometric). Both
baselines do not depend on ``z_kb``, so the estimators stay unbiased.

Named errors: a model latent the guide does not propose raises ``MissingChoiceError``, a guide
choice the model does not have ``UnvisitedConstraintError``, a choice both observed and proposed
``AddressError``; each names the address.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from ..core.address import show
from ..core.choicemap import ChoiceMap, choicemap, merge
from ..core.domain import check, nan_checks
from ..core.errors import AddressError, ArgumentError, MissingChoiceError, UnvisitedConstraintError
from ..core.seeds import SeedStream, as_seed
from ..modeling.distributions import Normal
from ..modeling.dsl import GenFunction
from ..modeling.handlers import GenerateHandler, coerce, total
from ..modeling.trace import CallRecord, ChoiceRecord
from .vi import _vimco_baselines

tfd = tfp.distributions
OBJECTIVES = ("elbo", "iwae")


def _reparameterized(dist, args, value):
    if not value.dtype.is_floating:
        return False
    if isinstance(dist, Normal):  # sampled as mu + sigma * eps with raw TF ops
        return True
    return dist.tfp_dist(*args).reparameterization_type == tfd.FULLY_REPARAMETERIZED


class _Terms:
    """The log-density terms of one run: per datum ``[N]`` and global (scalars), each also
    for the non-reparameterised choices only (guide) and for observed choices only (model)."""

    def __init__(self, size):
        self.size = size
        self.datum, self.glob, self.nr_datum, self.nr_glob, self.obs_datum = [], [], [], [], []
        self.glob_paths = []

    def add(self, path, lp, nonreparam=False, observed=False):
        if lp.shape.rank == 0:
            self.glob.append(lp)
            self.glob_paths.append(path)
            if nonreparam:
                self.nr_glob.append(lp)
            return
        lead = lp.shape[0] if lp.shape.rank is not None else None
        if lp.shape.rank is None or (lead is not None and isinstance(self.size, int) and lead != self.size):
            raise ArgumentError(
                f"SVI: the choice at address {show(path)} has log-density shape {lp.shape}, whose "
                f"leading axis is not the data axis (length {self.size}, particles included)")
        per = tf.reduce_sum(tf.reshape(lp, tf.stack([tf.shape(lp)[0], -1])), 1)
        self.datum.append(per)
        if nonreparam:
            self.nr_datum.append(per)
        if observed:
            self.obs_datum.append(per)

    @staticmethod
    def total(terms, like):
        """Sum of ``terms`` (``handlers.total``: float64 when any is), zeros shaped like ``like``
        when empty."""
        return total(terms) if terms else tf.zeros_like(like)


class _Pointwise(GenerateHandler):
    """Runs a body like ``generate``, recording each choice's per-datum log density in ``terms``.
    ``role="guide"``: unconstrained choices are proposed (non-reparameterised values are
    ``stop_gradient``-ed). ``role="model"``: every choice must be constrained (observed or
    proposed by the guide, whose addresses are ``proposed``)."""

    def __init__(self, gen_fn, constraints, seeds, terms, role, proposed=frozenset(), prefix=()):
        super().__init__(gen_fn, constraints, seeds, require_all=False)
        self.terms, self.role, self.proposed, self.prefix = terms, role, proposed, prefix

    def choice(self, path, dist, args):
        full = self.prefix + path
        nonreparam = False
        if self.batches is not None:  # in a graph, Handler.visit leaves the checks to the scoring
            dist.validate(args, full, self.domain_checks)
        if self.constraints.has_value(path):
            value = coerce(self.constraints[path], dist, args, full, checks=self.domain_checks)
        elif self.role == "model":
            raise MissingChoiceError(f"SVI: the model's latent choice at address {show(full)} is neither "
                                     f"observed nor proposed by the guide")
        else:
            value = dist.sample(self.seeds(), *args)
            if not _reparameterized(dist, args, value):
                nonreparam, value = True, tf.stop_gradient(value)
        lp = dist.log_density(value, *args)
        self.terms.add(full, lp, nonreparam, observed=self.role == "model" and full not in self.proposed)
        return value, tf.reduce_sum(lp)

    def call(self, path, gen_fn, args):
        if isinstance(gen_fn, GenFunction):
            child = _Pointwise(gen_fn, self.constraints.get_submap(path), self.child_seeds(), self.terms,
                               self.role, self.proposed, self.prefix + path)
            return gen_fn._run(child, args)
        trace = super().call(path, gen_fn, args)  # another generative function: one global term
        choices = trace.get_choices()
        if not choices.is_empty():
            discrete = any(not tf.as_dtype(v.dtype).is_floating for _, v in choices.items())
            self.terms.add(self.prefix + path, trace.score, nonreparam=self.role == "guide" and discrete)
        return trace

    def finish(self):
        for path, _ in self.constraints.items():
            visited = isinstance(self.records.get(path), ChoiceRecord) or any(
                isinstance(self.records.get(path[:k]), CallRecord) for k in range(1, len(path) + 1))
            if not visited and self.prefix + path in self.proposed:
                raise UnvisitedConstraintError(
                    f"SVI: the guide's choice at address {show(self.prefix + path)} is not a choice of "
                    f"the model {self.fn_stack[0]!r}")
        super().finish()


def _leading(x):
    shape = getattr(x, "shape", None)
    return shape[0] if shape is not None and shape.rank else "none"


def _repeat(nest, k, lead):
    """Tile every tensor whose leading static dimension is the data axis' ``lead`` ``k`` times."""
    def tile(x):
        if isinstance(x, (tf.Tensor, tf.Variable)) and x.shape.rank and x.shape[0] == lead:
            return tf.tile(x, [k] + [1] * (x.shape.rank - 1))
        return x
    return tf.nest.map_structure(tile, nest) if k > 1 else nest


def log_weights(model, guide, model_args, guide_args, observations, num_particles=1, seed=None):
    """Per-datum log importance weights of the guide as a proposal for the model.

    Returns ``(log_w, glob, parts)``: ``log_w`` ``[K, B]`` as in the module docstring, ``glob``
    the global term ``g``, and ``parts``, a dict of the pieces the objectives need (the
    non-reparameterised guide terms ``nr`` ``[K, B]`` and ``nr_glob``, the observed choices' log
    density ``loglik`` ``[K, B]``, the proposed latents ``latents`` (a ChoiceMap of ``[K * B, ...]``
    values) and ``glob_paths``, the addresses of global choices)."""
    obs = choicemap({path: v if isinstance(v, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(v)
                     for path, v in choicemap(observations).items()})
    values = [v for _, v in obs.items()]
    if not values:
        raise ArgumentError("SVI: no observations; the data axis is the observations' leading axis")
    lead = _leading(values[0])
    k = int(num_particles)
    if k < 1:
        raise ArgumentError(f"SVI: num_particles must be at least 1, got {num_particles}")
    # The data first: an infinite datum would otherwise fail as the guide's argument (q(z | x)).
    check([(cond, f"observation at address {show(path)}: {message}")
           for path, v in obs.items() for cond, message in nan_checks(v)])
    obs = choicemap({path: _repeat(v, k, lead) for path, v in obs.items()})
    size = (lead * k if isinstance(lead, int) else None) if lead != "none" else None
    s_guide, s_model = tf.unstack(tf.random.experimental.stateless_split(as_seed(seed), 2))
    q_terms = _Terms(size)
    q_trace = guide._run(_Pointwise(guide, ChoiceMap(), SeedStream(s_guide), q_terms, "guide"),
                         tuple(_repeat(tuple(guide_args), k, lead)))
    latents = q_trace.get_choices()
    for path, _ in latents.items():
        if obs.has_value(path):
            raise AddressError(f"SVI: the choice at address {show(path)} is both observed and proposed by the guide")
    p_terms = _Terms(size)
    proposed = frozenset(path for path, _ in latents.items())
    model._run(_Pointwise(model, merge(obs, latents), SeedStream(s_model), p_terms, "model", proposed),
               tuple(_repeat(tuple(model_args), k, lead)))
    anchor = (p_terms.datum + q_terms.datum + [tf.zeros([size if size is not None else tf.shape(values[0])[0] * k])])[0]

    def per_particle(terms):
        return tf.reshape(_Terms.total(terms, anchor), [k, -1])
    log_p, log_q = per_particle(p_terms.datum), per_particle(q_terms.datum)
    dtype = tf.float64 if tf.float64 in (log_p.dtype, log_q.dtype) else log_p.dtype
    log_w = tf.cast(log_p, dtype) - tf.cast(log_q, dtype)
    zero = tf.zeros([], dtype)
    glob = tf.cast(_Terms.total(p_terms.glob, zero), dtype) - tf.cast(_Terms.total(q_terms.glob, zero), dtype)
    parts = dict(nr=tf.cast(per_particle(q_terms.nr_datum), dtype),
                 nr_glob=tf.cast(_Terms.total(q_terms.nr_glob, zero), dtype),
                 loglik=tf.cast(per_particle(p_terms.obs_datum), dtype), latents=latents,
                 glob_paths=p_terms.glob_paths + q_terms.glob_paths)
    return log_w, glob, parts


def objective_terms(log_w, glob, parts, objective):
    """``(estimate, surrogate)`` summed over the batch (see the module docstring)."""
    k = log_w.shape[0]
    if objective == "elbo":
        estimate = tf.reduce_sum(log_w) / k + glob
        if k > 1:
            baseline = (tf.reduce_sum(log_w, 0, keepdims=True) - log_w) / (k - 1)
        else:
            baseline = tf.zeros_like(log_w)
        signal = tf.stop_gradient(log_w - baseline)
        surrogate = (estimate + tf.reduce_sum(signal * parts["nr"]) / k
                     + tf.stop_gradient(estimate) * parts["nr_glob"])
        return estimate, surrogate
    if parts["glob_paths"]:
        raise ArgumentError(f"SVI: objective='iwae' needs per-datum choices; the choice at address "
                            f"{show(parts['glob_paths'][0])} has no data axis (use objective='elbo')")
    bound = tf.reduce_logsumexp(log_w, 0) - math.log(k)                      # [B]
    estimate = tf.reduce_sum(bound)
    if k > 1:
        signal = tf.stop_gradient(bound[None, :] - tf.transpose(_vimco_baselines(tf.transpose(log_w), True)))
        surrogate = estimate + tf.reduce_sum(signal * parts["nr"])
    else:
        surrogate = estimate + tf.reduce_sum(tf.stop_gradient(log_w) * parts["nr"])
    return estimate, surrogate
