"""Amortised variational inference with model learning: ``SVI`` and ``svi`` (Pyro's
``SVI(model, guide, optim, Trace_ELBO)``, done Gen's way).

The model ``p_theta(z, x)`` and the guide ``q_phi(z | x)`` are generative functions; the guide
proposes every latent choice of the model (same addresses), the observations ``x`` are
constraints. Both are run on a *minibatch*: ``data_fn(batch) -> (model_args, guide_args,
observations)``, and their choices are vectorised over the batch's leading axis of length ``B``
(seed 003's encoder returns a batch of ``B`` distributions; ``tfp_choice`` traces them as one
choice). ``theta`` and ``phi`` (``@gen`` params, eager- and graph-form ``TFFunction``
variables) are trained jointly through a ``ParamUpdate`` (any gentf rule or Keras optimizer).

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

Compilation. One training step (guide, sampling, model, objective, gradients, update) is one
``tf.function``; ``run`` iterates a ``tf.data.Dataset`` inside one compiled call per epoch, with
a progress bar, checkpoints and TensorBoard summaries as ``train``'s (``learning/checkpoint.py``).
Named errors: a model latent the guide does not propose raises ``MissingChoiceError``, a guide
choice the model does not have ``UnvisitedConstraintError``, a choice both observed and proposed
``AddressError``; each names the address.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from ..core.address import show
from ..core.choicemap import ChoiceMap, choicemap, merge
from ..core.errors import AddressError, ArgumentError, MissingChoiceError, UnvisitedConstraintError
from ..core.seeds import SeedStream, as_seed, fold_in
from ..learning.checkpoint import Loop
from ..modeling.distributions import Normal
from ..modeling.dsl import GenFunction
from ..modeling.handlers import GenerateHandler, coerce, total
from ..modeling.trace import CallRecord, ChoiceRecord
from .vi import _accumulate_reparam, _vimco_baselines

tfd = tfp.distributions
OBJECTIVES = ("elbo", "iwae")
_METRICS = ("objective", "loglik", "kl")  # the order of a checkpoint's score rows


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
        if self.constraints.has_value(path):
            value = coerce(self.constraints[path], dist, args, full)
        elif self.role == "model":
            raise MissingChoiceError(f"SVI: the model's latent choice at address {show(full)} is neither "
                                     f"observed nor proposed by the guide")
        else:
            value = dist.sample(self.seeds(), *args)
            if not _reparameterized(dist, args, value):
                nonreparam, value = True, tf.stop_gradient(value)
        lp = dist.log_prob(value, *args)
        ok = dist.in_support(value, *args)
        if ok is not None:
            lp = tf.where(ok, lp, tf.constant(-math.inf, lp.dtype))
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


class SVI:
    """``SVI(model, guide, update, data_fn, objective="elbo", num_particles=1)``.

    - ``data_fn(batch) -> (model_args, guide_args, observations)`` maps a dataset element
      (a tensor or nest of tensors whose leading axis is the minibatch) to the arguments of
      the model and the guide and the observed choices (dict or ChoiceMap). With ``K > 1``
      particles, every tensor argument whose leading dimension is the observations' is tiled
      ``K`` times, so read the batch size from a tensor's shape, not from a Python int.
    - ``update``: a ``ParamUpdate`` over the model's and guide's parameters (its ``apply()``
      ascends), or None to only accumulate gradients (read them with ``get_param_grad``).
    - ``step(batch, seed)``: one compiled training step; ``run(dataset, num_epochs, seed)``: one
      compiled call per epoch over a ``tf.data.Dataset``; ``evaluate(data, objective,
      num_particles, seed)``: the estimates without training.

    Every method returns per-datum means (nats per datum): ``{"objective": ELBO or IWAE,
    "loglik": E_q[log p(x | z)] (observed choices), "kl": loglik - ELBO}``; for ``iwae`` the
    ``loglik`` and ``kl`` are the particles' averages (the ELBO pieces), as Pyro reports them.
    """

    def __init__(self, model, guide, update, data_fn, objective="elbo", num_particles=1):
        if objective not in OBJECTIVES:
            raise ArgumentError(f"SVI: objective must be one of {OBJECTIVES}, got {objective!r}")
        for name, fn in (("model", model), ("guide", guide)):
            if not isinstance(fn, GenFunction):
                raise ArgumentError(f"SVI: the {name} must be a @gen function, got {fn!r}")
        self.model, self.guide, self.update, self.data_fn = model, guide, update, data_fn
        self.objective, self.num_particles = objective, int(num_particles)
        self._compiled = {}

    def _metrics(self, batch, seed, objective, k, train):
        model_args, guide_args, observations = self.data_fn(batch)
        with tf.GradientTape() as tape:
            log_w, glob, parts = log_weights(self.model, self.guide, model_args, guide_args,
                                             observations, k, seed)
            estimate, surrogate = objective_terms(log_w, glob, parts, objective)
            size = tf.cast(tf.shape(log_w)[1], log_w.dtype)
            loss = surrogate / size
        if train:
            _accumulate_reparam(tape, loss, [v for v in tape.watched_variables() if v.trainable])
            if self.update is not None:
                self.update.apply()
        loglik = tf.reduce_sum(parts["loglik"]) / k
        elbo = tf.reduce_sum(log_w) / k + glob
        return {"objective": estimate / size, "loglik": loglik / size, "kl": (loglik - elbo) / size}, size

    def _program(self, kind, objective, k, train):
        key = (kind, objective, k, train)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        if kind == "step":
            def fn(batch, seed):
                return self._metrics(batch, seed, objective, k, train)[0]
        else:
            def fn(dataset, seed):
                iterator = iter(dataset)
                zero = {"objective": 0.0, "loglik": 0.0, "kl": 0.0}

                def body(i, sums, count, element):
                    metrics, size = self._metrics(element.get_value(), fold_in(seed, i), objective, k, train)
                    sums = {key: sums[key] + tf.cast(metrics[key], tf.float64) * tf.cast(size, tf.float64)
                            for key in sums}
                    return i + 1, sums, count + tf.cast(size, tf.float64), iterator.get_next_as_optional()
                sums = {key: tf.constant(v, tf.float64) for key, v in zero.items()}
                _, sums, count, _ = tf.while_loop(
                    lambda i, s, c, element: element.has_value(), body,
                    (tf.constant(0), sums, tf.constant(0.0, tf.float64), iterator.get_next_as_optional()))
                return {key: v / count for key, v in sums.items()}
        fn = self._compiled[key] = tf.function(fn, autograph=False)
        return fn

    def step(self, batch, seed=None):
        """One training step on one minibatch (one compiled call); returns the metrics."""
        out = self._program("step", self.objective, self.num_particles, True)(batch, as_seed(seed))
        return {key: float(v) for key, v in out.items()}

    def run(self, dataset, num_epochs=1, seed=None, callback=None, progress=None, checkpoint=None,
            checkpoint_every=1, checkpoint_secs=0.0, summary=None, histogram_every=1, images=None):
        """Train for ``num_epochs`` passes over ``dataset`` (a ``tf.data.Dataset`` of minibatches),
        one compiled call per epoch; returns the list of each epoch's mean metrics (weighted by
        batch size). ``callback(epoch, metrics)`` runs after each epoch.

        Epoch ``e`` draws from ``fold_in(seed, e)``. ``progress`` shows a tqdm bar with the
        running objective (default: when ``num_epochs > 1``; False silences it).
        ``checkpoint`` (a ``tf.train.CheckpointManager`` or a directory): restore the latest
        checkpoint, if any (the model's and guide's parameters, the ``update``'s optimizer state,
        the epoch counter, the seed and the metrics so far), continue from its epoch, save after
        the last epoch and, every ``checkpoint_every`` epochs, when ``checkpoint_secs`` seconds
        have passed since the last save (default 0: every epoch, as Keras' ``ModelCheckpoint``;
        an epoch is a pass over the data): a resumed run equals the uninterrupted
        one bit for bit when the dataset yields the same batches every pass (a ``shuffle``
        without a fixed order per epoch does not; the dataset's position is not saved, each
        epoch iterates it from the start). ``summary`` (a ``tf.summary`` writer or a log
        directory): TensorBoard scalars ``objective``, ``loglik`` and ``kl`` per epoch,
        histograms ``params/<name>`` every ``histogram_every`` epochs and after the last, the
        compiled epoch's graph once, and,
        when ``images(epoch)`` is given (a function returning ``{name: [k, h, w, c] images}``,
        e.g. decoded samples of a VAE), those images each epoch. Raises ``CheckpointError`` for
        an unreadable or mismatched checkpoint."""
        if not isinstance(dataset, tf.data.Dataset):
            raise ArgumentError(f"SVI.run: expected a tf.data.Dataset, got {type(dataset).__name__}")
        program = self._program("epoch", self.objective, self.num_particles, True)
        driver = Loop("SVI", {"model": self.model, "guide": self.guide, "update": self.update}, as_seed(seed),
                      None if seed is None else as_seed(seed).numpy(), num_epochs,
                      num_epochs > 1 if progress is None else progress, checkpoint, checkpoint_every,
                      checkpoint_secs, summary, histogram_every, self.update, width=len(_METRICS))
        try:
            for epoch in range(driver.first, num_epochs):
                epoch_seed = fold_in(driver.state.seed, epoch)
                metrics = {key: float(v) for key, v in program(dataset, epoch_seed).items()}
                driver.end(epoch, tuple(metrics[key] for key in _METRICS), loglik=metrics["loglik"], kl=metrics["kl"],
                           graph=lambda: program.get_concrete_function(dataset, epoch_seed).graph)
                if images is not None and driver.summaries is not None:
                    with driver.summaries.writer.as_default(step=epoch):
                        for name, value in images(epoch).items():
                            tf.summary.image(name, value, max_outputs=int(value.shape[0]))
                if callback is not None:
                    callback(epoch, metrics)
        finally:
            driver.close()
        return [dict(zip(_METRICS, (float(x) for x in row))) for row in driver.history[:num_epochs]]

    def evaluate(self, data, objective=None, num_particles=None, seed=None):
        """The estimates on ``data`` (a minibatch, or a ``tf.data.Dataset`` averaged over all
        its data) without training; ``objective`` and ``num_particles`` default to the SVI's."""
        objective = objective or self.objective
        if objective not in OBJECTIVES:
            raise ArgumentError(f"SVI: objective must be one of {OBJECTIVES}, got {objective!r}")
        k = int(num_particles or self.num_particles)
        kind = "epoch" if isinstance(data, tf.data.Dataset) else "step"
        out = self._program(kind, objective, k, False)(data, as_seed(seed))
        return {key: float(v) for key, v in out.items()}


def svi(model, guide, data, update, data_fn, objective="elbo", num_particles=1, num_epochs=1,
        seed=None, callback=None, **loop):
    """Train ``model`` and ``guide`` jointly on ``data`` (a ``tf.data.Dataset`` of minibatches) by
    stochastic gradient ascent on ``objective`` ("elbo" or "iwae" with ``num_particles``
    particles); returns ``(svi_object, history)``, ``history`` the per-epoch metrics of
    ``SVI.run`` (see ``SVI``). ``loop``: ``SVI.run``'s ``progress``, ``checkpoint``,
    ``checkpoint_every``, ``checkpoint_secs``, ``summary``, ``histogram_every`` and ``images``."""
    engine = SVI(model, guide, update, data_fn, objective, num_particles)
    return engine, engine.run(data, num_epochs, seed, callback, **loop)
