"""Amortised variational inference with model learning: ``SVI`` and ``svi`` (Pyro's
``SVI(model, guide, optim, Trace_ELBO)``, done Gen's way).

The model ``p_theta(z, x)`` and the guide ``q_phi(z | x)`` are generative functions; the guide
proposes every latent choice of the model (same addresses), the observations ``x`` are
constraints. Both are run on a *minibatch*: ``data_fn(batch) -> (model_args, guide_args,
observations)``, and their choices are vectorised over the batch's leading axis of length ``B``
(seed 003's encoder returns a batch of ``B`` distributions; ``tfp_choice`` traces them as one
choice). ``theta`` and ``phi`` (``@gen`` params, eager- and graph-form ``TFFunction``
variables) are trained jointly through a ``ParamUpdate`` (any gentf rule or Keras optimizer).

The estimators (per-datum log weights ``log w_kb = log p_theta(x_b, z_kb) - log q_phi(z_kb | x_b)``
for ``K`` particles, the ELBO and IWAE per datum, their pathwise and score-function gradient
surrogates) and their named errors are in ``amortized_bounds.py``.

Compilation. One training step (guide, sampling, model, objective, gradients, update) is one
``tf.function``; ``run`` iterates a ``tf.data.Dataset`` inside one compiled call per epoch (or
per ``checkpoint_steps`` steps), with a progress bar, checkpoints and TensorBoard summaries as
``train``'s (``learning/checkpoint.py``).

Microbatches and ``tf.distribute``. A minibatch may be split into ``J`` microbatches, each with
its own seed, whose gradients are summed before one update; under a ``tf.distribute`` strategy
(``core/distribute.py``) the microbatches run on the replicas, so the data-parallel run equals
the one-device run with the same ``J`` (see ``SVI``).

Checkpoints hold the data position (the epoch's ``tf.data`` iterator, its steps done and their
metric sums: ``DataPosition``), so a run stopped mid-epoch resumes bit for bit (``SVI.run``).
"""
import tensorflow as tf

from ..core import compile as compiled
from ..core.address import show
from ..core.distribute import sharded, strategy_for
from ..core.errors import ArgumentError
from ..core.seeds import as_seed, fold_in
from ..core.tracking import Checkpointable
from ..learning.checkpoint import Loop, program_graph
from ..modeling.dsl import GenFunction
from .amortized_bounds import OBJECTIVES, log_weights, objective_terms
from .vi import _accumulate_reparam

_METRICS = ("objective", "loglik", "kl")  # the order of a checkpoint's score rows


class SVI:
    """``SVI(model, guide, update, data_fn, objective="elbo", num_particles=1, num_microbatches=None)``.

    - ``data_fn(batch) -> (model_args, guide_args, observations)`` maps a dataset element
      (a tensor or nest of tensors whose leading axis is the minibatch) to the arguments of
      the model and the guide and the observed choices (dict or ChoiceMap). With ``K > 1``
      particles, every tensor argument whose leading dimension is the observations' is tiled
      ``K`` times, so read the batch size from a tensor's shape, not from a Python int.
    - ``update``: a ``ParamUpdate`` over the model's and guide's parameters (its ``apply()``
      ascends), or None to only accumulate gradients (read them with ``get_param_grad``).
    - ``num_microbatches`` ``J``: each minibatch of ``B`` data is split into ``J`` contiguous
      microbatches of ``B / J`` data; microbatch ``j`` draws its randomness from
      ``fold_in(seed, j)`` (with one microbatch, from the step's ``seed`` itself). The objective
      stays the minibatch's per-datum mean: microbatch ``j``, whose surrogate is ``S_j`` (the
      surrogate of ``amortized_bounds`` summed over its data), accumulates ``d/d(theta, phi) S_j / B``,
      so the one ``apply`` that follows ascends ``sum_j dS_j / B``, the gradient of the
      minibatch's mean surrogate. Default: the number of replicas of the ``tf.distribute``
      strategy (1 without one). ``J > 1`` needs every leaf of a batch to have the same leading
      axis, of a static size divisible by ``J`` or of an unknown size (a ``.batch(b)``
      dataset's), which is split at ``floor(j B / J)`` (a partial last batch into parts whose
      sizes differ by at most one, maybe empty; ``S_j / B`` still weighs each datum ``1 / B``),
      and only per-datum choices: a global latent couples all the data, its term cannot be
      split (``ArgumentError`` names it).
    - ``step(batch, seed)``: one compiled training step; ``run(dataset, num_epochs, seed)``:
      compiled calls over a ``tf.data.Dataset``, one per epoch (or per ``checkpoint_steps``);
      ``evaluate(data, objective, num_particles, seed)``: the estimates without training.

    Every method returns per-datum means (nats per datum): ``{"objective": ELBO or IWAE,
    "loglik": E_q[log p(x | z)] (observed choices), "kl": loglik - ELBO}``; for ``iwae`` the
    ``loglik`` and ``kl`` are the particles' averages (the ELBO pieces), as Pyro reports them.

    Batches of any size: a dataset batched the usual way, ``from_tensor_slices(x).batch(b)``,
    whose last batch is partial (element shapes with a leading ``None``; Keras ``fit`` takes it
    too), runs as one epoch program traced once with the dataset's ``element_spec``: the model and
    the guide see an unknown batch dimension (read it with ``tf.shape(x)[0]``, as
    ``normal(tf.zeros([tf.shape(x)[0], d]), 1.0) @ "z"``). Each step ascends its minibatch's
    per-datum *mean* objective, a partial batch of ``b' < b`` data its mean over those ``b'``
    (each of its data weighs ``1 / b'``, as Keras averages a batch's loss); an epoch's metrics
    (``run``, ``evaluate`` of a dataset) are per-datum means over all its data, each batch
    weighted by its size, so the partial batch counts each of its data once.

    Data parallelism (``tf.distribute``; Keras ``fit``'s convention, as ``train``): create the
    model's and guide's parameters and the ``update`` inside ``strategy.scope()``, then
    construct the ``SVI`` (inside the scope or not: the strategy is also found from the
    update's parameters; one made outside the scope raises ``ArgumentError``). Microbatch ``j``
    runs on replica ``j mod R`` (``core.distribute.sharded``), adding its gradient to that
    replica's copies of the sync-on-read accumulators; ``apply`` ascends their all-reduced
    sum, the sum of the one-device run. ``J`` must be a multiple of ``R``. A microbatch's seed
    does not depend on the replica that runs it, so a run under a strategy equals the
    one-device run with the same ``num_microbatches``, up to the order of the sums' additions.
    Every worker of a ``MultiWorkerMirroredStrategy`` reads the same (whole) minibatches.
    """

    def __init__(self, model, guide, update, data_fn, objective="elbo", num_particles=1, num_microbatches=None):
        if objective not in OBJECTIVES:
            raise ArgumentError(f"SVI: objective must be one of {OBJECTIVES}, got {objective!r}")
        for name, fn in (("model", model), ("guide", guide)):
            if not isinstance(fn, GenFunction):
                raise ArgumentError(f"SVI: the {name} must be a @gen function, got {fn!r}")
        self.model, self.guide, self.update, self.data_fn = model, guide, update, data_fn
        self.objective, self.num_particles = objective, int(num_particles)
        strategy = strategy_for(update.variables + update.accumulators if update is not None else [], "SVI")
        self._strategy = strategy if strategy is not None else tf.distribute.get_strategy()  # default: 1 replica
        replicas = self._strategy.num_replicas_in_sync
        self.num_microbatches = replicas if num_microbatches is None else int(num_microbatches)
        if self.num_microbatches < 1 or self.num_microbatches % replicas:
            raise ArgumentError(f"SVI: num_microbatches must be a positive multiple of the {replicas} replicas "
                                f"of {self._strategy!r}, got {num_microbatches}")

    def _microbatch(self, batch, seed, objective, k, train, total=None):
        """One microbatch of ``b`` data: with ``train``, accumulates the gradient of its
        surrogate divided by the minibatch's size ``total`` (None: ``b``, the whole minibatch);
        returns ``[estimate, loglik, elbo, b]`` (float64), each summed over its data."""
        count = self.num_microbatches
        model_args, guide_args, observations = self.data_fn(batch)
        with tf.GradientTape() as tape:
            log_w, glob, parts = log_weights(self.model, self.guide, model_args, guide_args, observations, k, seed)
            if count > 1 and parts["glob_paths"]:
                raise ArgumentError(f"SVI: {count} microbatches need per-datum choices; the choice at address "
                                    f"{show(parts['glob_paths'][0])} has no data axis (use num_microbatches=1)")
            estimate, surrogate = objective_terms(log_w, glob, parts, objective)
            size = tf.cast(tf.shape(log_w)[1], log_w.dtype)
            loss = surrogate / (size if total is None else tf.cast(total, log_w.dtype))
        if train:
            _accumulate_reparam(tape, loss, [v for v in tape.watched_variables() if v.trainable])
        loglik = tf.reduce_sum(parts["loglik"]) / k
        elbo = tf.reduce_sum(log_w) / k + glob
        return tf.cast(tf.stack([estimate, loglik, elbo, size]), tf.float64)

    def _minibatch(self, batch, seed, objective, k, train):
        """One minibatch: its microbatches, split among the strategy's replicas, then (``train``)
        one ``apply``; returns the sums of ``_microbatch``."""
        count = self.num_microbatches
        seeds = [seed] if count == 1 else [fold_in(seed, j) for j in range(count)]
        parts, total = _split(batch, count)
        sums = sharded(self._strategy, lambda item: self._microbatch(*item, objective, k, train, total),
                       list(zip(parts, seeds)), "SVI")
        if train and self.update is not None:
            self.update.apply()
        return sums

    def _program(self, kind, objective, k, train):
        """``kind``'s program as a function of its inputs, run as one cached compiled program
        per key and input signature (``core.compile``; eagerly, its reason recorded, for a model
        that cannot be traced). "step": one minibatch ``(batch, seed)``; "epoch": ``(iterator,
        seed, start, sums, stop)``, steps ``start, start + 1, ...`` (step ``i`` seeded by
        ``fold_in(seed, i)``) until the iterator ends or step ``stop``, returning the sums and
        the steps run; an element is fetched only for a step that runs."""
        def step(batch, seed):
            return self._minibatch(batch, seed, objective, k, train)

        def epoch(iterator, seed, start, sums, stop):
            def fetch(i):
                return tf.cond(i < stop, iterator.get_next_as_optional,
                               lambda: tf.experimental.Optional.empty(iterator.element_spec))

            def body(i, sums, element):
                sums += self._minibatch(element.get_value(), fold_in(seed, i), objective, k, train)
                return i + 1, sums, fetch(i + 1)
            i, sums, _ = tf.while_loop(lambda i, sums, element: element.has_value(), body,
                                       (start, sums, fetch(start)))
            return sums, i - start
        fn = step if kind == "step" else epoch
        key = self.program_key(kind, objective, k, train)
        return lambda *inputs: compiled.run(self, key, lambda: fn, inputs, fallback=lambda: fn(*inputs))

    @staticmethod
    def program_key(kind, objective, k, train):
        """The ``core.compile`` key of a program of ``_program``."""
        return ("SVI", kind, objective, k, train)

    def step(self, batch, seed=None):
        """One training step on one minibatch (one compiled call); returns the metrics."""
        return _means(self._program("step", self.objective, self.num_particles, True)(batch, as_seed(seed)))

    def run(self, dataset, num_epochs=1, seed=None, callback=None, progress=None, checkpoint=None,
            checkpoint_every=1, checkpoint_secs=0.0, checkpoint_steps=None, summary=None, histogram_every=1,
            images=None):
        """Train for ``num_epochs`` passes over ``dataset`` (a ``tf.data.Dataset`` of minibatches),
        one compiled call per epoch (per ``checkpoint_steps`` steps when given); returns the list
        of each epoch's mean metrics (weighted by batch size). ``callback(epoch, metrics)`` runs
        after each epoch.

        Step ``i`` of epoch ``e`` draws from ``fold_in(fold_in(seed, e), i)``. ``progress`` shows
        a tqdm bar with the running objective (default: when ``num_epochs > 1``; False silences it).

        ``checkpoint`` (a ``tf.train.CheckpointManager`` or a directory): restore the latest
        checkpoint, if any, and continue from where it was made; save after the last epoch
        and, every ``checkpoint_every`` epochs, when ``checkpoint_secs`` seconds have passed since
        the last save (default 0: every epoch, as Keras' ``ModelCheckpoint``). With
        ``checkpoint_steps=N`` the epoch runs as compiled calls of ``N`` steps, with a save
        (same ``checkpoint_secs`` rule) after each: Keras' ``save_freq=N``. A checkpoint holds
        the model's and guide's parameters, the ``update``'s optimizer state, the seed, the
        epochs done and their metrics, and the data position: the epoch's ``tf.data`` iterator
        (each epoch iterates a fresh one; its state includes a seeded ``shuffle``'s order), the
        steps of the epoch done and their summed metrics. So a run resumed from any checkpoint,
        even one made mid-epoch, equals the uninterrupted run bit for bit when the dataset's
        order is fixed by its seeds (an unseeded ``shuffle`` is not; a ``from_generator``
        dataset's iterator cannot be saved). Checkpoints are numbered by their save count.
        Raises ``CheckpointError`` for an unreadable or mismatched checkpoint.

        ``summary`` (a ``tf.summary`` writer or a log directory): TensorBoard scalars
        ``objective``, ``loglik`` and ``kl`` per epoch, histograms ``params/<name>`` every
        ``histogram_every`` epochs and after the last, the compiled epoch's graph once, and,
        when ``images(epoch)`` is given (a function returning ``{name: [k, h, w, c] images}``,
        e.g. decoded samples of a VAE), those images each epoch."""
        if not isinstance(dataset, tf.data.Dataset):
            raise ArgumentError(f"SVI.run: expected a tf.data.Dataset, got {type(dataset).__name__}")
        if checkpoint_steps is not None and (not isinstance(checkpoint_steps, int) or checkpoint_steps < 1):
            raise ArgumentError(f"SVI.run: checkpoint_steps must be a positive int or None, got {checkpoint_steps!r}")
        program = self._program("epoch", self.objective, self.num_particles, True)
        position = DataPosition(dataset)
        driver = Loop("SVI", {"model": self.model, "guide": self.guide, "update": self.update, "data": position},
                      as_seed(seed), None if seed is None else as_seed(seed).numpy(), num_epochs,
                      num_epochs > 1 if progress is None else progress, checkpoint, checkpoint_every,
                      checkpoint_secs, summary, histogram_every, self.update, width=len(_METRICS), numbered=False)
        try:
            for epoch in range(driver.first, num_epochs):
                epoch_seed = fold_in(driver.state.seed, epoch)
                while position.run(program, epoch_seed, checkpoint_steps) == checkpoint_steps:
                    driver.save_within()
                metrics = _means(position.sums.numpy())
                position.next_epoch()  # before ``end``: its checkpoint starts the next epoch
                driver.end(epoch, tuple(metrics[key] for key in _METRICS), loglik=metrics["loglik"], kl=metrics["kl"],
                           graph=lambda: program_graph(self, self.program_key("epoch", self.objective,
                                                                              self.num_particles, True), position.last))
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
        if isinstance(data, tf.data.Dataset):
            position = DataPosition(data)
            position.run(self._program("epoch", objective, k, False), as_seed(seed))
            return _means(position.sums.numpy())
        return _means(self._program("step", objective, k, False)(data, as_seed(seed)))


def _split(batch, count):
    """``(parts, total)``: ``batch`` (a nest of tensors with one leading data axis of ``total``
    data) as ``count`` contiguous parts; ``total`` None for one part. A static leading size must
    be divisible by ``count`` (equal parts); an unknown one (a ``.batch(b)`` dataset's elements,
    whose last batch may be partial) is split at ``floor(j * total / count)``: equal parts when
    ``count`` divides the batch, sizes differing by at most one otherwise."""
    if count == 1:
        return [batch], None
    leaves = [tf.convert_to_tensor(x) for x in tf.nest.flatten(batch)]
    sizes = sorted({x.shape[0] if x.shape.rank else "none" for x in leaves}, key=str)  # "none": no axis
    static = [s for s in sizes if isinstance(s, int)]
    if not leaves or "none" in sizes or len(static) > 1 or (None not in sizes and static[0] % count):
        shown = [None if s == "none" else s for s in sizes]
        raise ArgumentError(f"SVI: a minibatch whose leaves have leading sizes {shown} does not split into {count} "
                            "equal microbatches (num_microbatches, by default the strategy's replicas): every "
                            f"leaf needs the same leading axis, of a static size divisible by {count} or of an "
                            "unknown size (a .batch(b) dataset's: split as evenly as possible)")
    if None not in sizes:
        size = static[0] // count
        return [tf.nest.map_structure(lambda x: x[j * size:(j + 1) * size], batch) for j in range(count)], static[0]
    total = tf.shape(leaves[0])[0]
    ends = [(j * total) // count for j in range(count)] + [total]
    return [tf.nest.map_structure(lambda x: x[ends[j]:ends[j + 1]], batch) for j in range(count)], total


def _means(sums):
    """Per-datum metrics from the sums ``[estimate, loglik, elbo, size]``."""
    estimate, loglik, elbo, size = (float(x) for x in sums)
    return {"objective": estimate / size, "loglik": loglik / size, "kl": (loglik - elbo) / size}


_MAX_STEPS = 2 ** 31 - 1  # an epoch's step counter is an int32


class DataPosition(Checkpointable):
    """Where ``SVI.run`` is in its data, checkpointed with the loop: the epoch's ``tf.data``
    iterator (``iterator``, a fresh one per epoch), the steps of the epoch run (``step``) and
    their summed metrics (``sums``, as ``SVI._microbatch``'s)."""

    def __init__(self, dataset):
        self.dataset, self.iterator = dataset, iter(dataset)
        self.step = tf.Variable(0, dtype=tf.int32, trainable=False, name="step")
        self.sums = tf.Variable(tf.zeros([4], tf.float64), trainable=False, name="sums")
        self.last = None  # the inputs of the last program call

    def _checkpoint_children(self):
        return {"iterator": self.iterator, "step": self.step, "sums": self.sums}

    def run(self, program, seed, steps=None):
        """Run the epoch program for the next ``steps`` steps (None: to the epoch's end);
        returns the number of steps it ran (fewer than ``steps``: the epoch ended)."""
        start = int(self.step.numpy())
        stop = _MAX_STEPS if steps is None else start + steps
        self.last = (self.iterator, seed, tf.constant(start), tf.convert_to_tensor(self.sums), tf.constant(stop))
        sums, ran = program(*self.last)
        self.sums.assign(sums)
        self.step.assign_add(ran)
        return int(ran)

    def next_epoch(self):
        """Start the next epoch: a fresh iterator, no steps, zero sums."""
        self.iterator = iter(self.dataset)
        self.step.assign(0)
        self.sums.assign(tf.zeros([4], tf.float64))


def svi(model, guide, data, update, data_fn, objective="elbo", num_particles=1, num_epochs=1,
        seed=None, callback=None, num_microbatches=None, **loop):
    """Train ``model`` and ``guide`` jointly on ``data`` (a ``tf.data.Dataset`` of minibatches) by
    stochastic gradient ascent on ``objective`` ("elbo" or "iwae" with ``num_particles``
    particles); returns ``(svi_object, history)``, ``history`` the per-epoch metrics of
    ``SVI.run`` (see ``SVI``, also for ``num_microbatches`` and ``tf.distribute``). ``loop``:
    ``SVI.run``'s ``progress``, ``checkpoint``, ``checkpoint_every``, ``checkpoint_secs``,
    ``checkpoint_steps``, ``summary``, ``histogram_every`` and ``images``."""
    engine = SVI(model, guide, update, data_fn, objective, num_particles, num_microbatches)
    return engine, engine.run(data, num_epochs, seed, callback, **loop)
