"""``train``: Gen.jl's ``train!``, supervised maximum likelihood by stochastic gradient ascent.

``train`` maximises ``E_{(x, u) ~ data} [log p(u; x, theta)]``, the expected conditional log
probability that ``gen_fn`` generates the constraints ``u`` given arguments ``x``. Per epoch
(Gen.jl's ``train!``, src/inference/train.jl):

1. draw ``epoch_size`` examples ``(x_j, u_j) = data_generator()``;
2. ``num_minibatch`` times: pick ``minibatch_size`` distinct examples at random (the first
   entries of a fresh permutation); for each, ``trace = generate(gen_fn, x, u)`` and
   ``accumulate_param_gradients(trace)`` (scale 1, as Gen.jl: the accumulators hold the *sum*
   ``sum_j d/dtheta log p(u_j; x_j, theta)`` over the minibatch); then ``update.apply()``;
3. draw ``evaluation_size`` fresh examples (default ``epoch_size``) and record the mean
   ``generate`` weight, ``(1/E) sum_j log p(u_j; x_j, theta)`` (the weight when ``u`` fixes
   every choice; in general Gen's weight ``log p(t; x) - log q(t; u, x)``).

Returns the per-epoch scores (a float64 numpy array of length ``num_epoch``).

Data: ``data`` is Gen.jl's ``data_generator`` (a callable returning ``(args, constraints)``) or
a ``tf.data.Dataset`` whose elements are ``(args, constraints)``: ``args`` a tuple of tensors,
``constraints`` a dict ``{address: tensor}`` where a hierarchical address is a nested dict
(``{"z": {1: x}}`` is the address ``("z", 1)``; string or int keys, as ``gentf.choicemap``
reads them). The dataset is prefetched and iterated *inside* the compiled epoch (its iterator
is an input of the program): each epoch takes the next ``epoch_size`` elements for the
minibatches, then ``evaluation_size`` for the evaluation; a dataset that runs out raises
``ArgumentError`` (``.repeat()`` it to train longer).
For the same data order and seed both kinds of data give the same scores and parameters.

Batched datasets: an element may be a batch of examples for a vectorised model, and its shapes
need not be fixed: ``from_tensor_slices((X, Y)).batch(b)`` (mapped into the element structure)
has a leading dimension ``None`` since its last batch may be partial; Keras ``fit`` takes it,
and so does ``train``. The epoch program is then traced once with the dataset's ``element_spec``
(no retrace for the partial batch), so the model sees an unknown leading dimension: read it
with ``tf.shape(x)[0]`` (``normal(tf.zeros([tf.shape(x)[0], d]), 1.0) @ "z"``, ``categorical(net(x))
@ "y"``). A model that needs a static length (a Python loop over the batch) raises
``ArgumentError``: give the dataset fixed shapes (``.batch(b, drop_remainder=True)``). Elements
of fixed shapes are stacked and the minibatches gathered from the stack; others are picked by
``tf.switch_case`` (``_picker``). An element is one example of the maths above: its weight is
the model's log density of the whole batch, the *sum* over its examples, so a partial batch of
``b' < b`` examples weighs each of its examples as a full batch does (the minibatch gradient is
the sum over the examples drawn, as Gen.jl's), and the score is the mean weight per *element*
(a partial batch among the evaluation elements counts as one element, whatever its size;
Keras ``fit`` reports the mean per example: ``docs/choices.md``).

Randomness: epoch ``e``'s minibatch permutations and ``generate`` seeds are pure functions of
``(seed, e)`` (``_epoch_randomness``), so any epoch can be replayed alone (checkpoint resume).

Checkpoints and TensorBoard summaries: see ``learning/checkpoint.py``.

Devices and ``tf.distribute``: the epoch runs where the caller's ``tf.device`` scope and the
parameters' Variables are. Under a ``tf.distribute`` strategy (Keras ``fit``'s convention: the
model and ``update`` built inside ``strategy.scope()``; ``core/distribute.py``) it runs
data-parallel: each minibatch's examples, and the evaluation examples, are split among the
replicas (example ``i`` with its own seed on replica ``i mod R``); each replica accumulates its
share's gradients, and ``apply`` ascends their all-reduced sum, the single-device sum. Every
worker of a ``MultiWorkerMirroredStrategy`` must see the same data (same generator and seed,
or the same dataset order).

Speed: one epoch (all its minibatches, updates and the evaluation) runs as *one* call of a
``tf.function`` cached per static structure of the epoch's data (argument shapes, constraint
addresses, static Python arguments); the tensors are its inputs, so a new batch with the same
structure reuses the graph. If tracing fails because the model's structure depends on random
values, ``train`` runs eagerly from then on (and says so when ``verbose``).
"""
import contextlib

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ..core.choicemap import choicemap, pack, unpack
from ..core.distribute import sharded, strategy_for
from ..core import compile as compiled
from ..core.errors import ArgumentError
from ..core.gfi import accumulate_param_gradients, generate
from ..core.nest import decode, encode, host_tensor
from ..core.seeds import as_seed, splitmix64
from ..modeling.handlers import samples_constant
from ..modeling.params import accumulate
from .checkpoint import SaveSchedule, Summaries, TrainState, manager_for, restore


def train(gen_fn, data, update, num_epoch=1, epoch_size=1, num_minibatch=1, minibatch_size=1,
          evaluation_size=None, verbose=False, callback=None, seed=None, jit_compile="auto",
          progress=None, checkpoint=None, checkpoint_every=100, checkpoint_secs=60.0, summary=None,
          histogram_every=100):
    """Train the parameters of ``update`` so that ``gen_fn`` generates the data's constraints.

    ``data``: a ``data_generator()`` returning ``(args, constraints)`` (a tuple of arguments of
    ``gen_fn`` and a choice map) or a ``tf.data.Dataset`` of such pairs (module docstring).
    ``callback(epoch, score)`` (``epoch`` counts from 0) runs after each epoch. ``seed`` fixes
    the minibatch permutations and the seeds of ``generate`` (None: drawn from gentf's global
    generator, see ``gentf.seed``). ``jit_compile``: compile each epoch with XLA (True), or
    not (False); ``"auto"`` (the default) uses XLA for an epoch program of at most
    ``XLA_MAX_OPS`` ops that draws no random numbers (every choice observed, as in supervised
    training: XLA then changes only the rounding, while its Philox stream would change a seed's
    draws), on data from a ``data_generator`` outside a ``tf.distribute`` strategy. XLA fuses
    a step's many small ops: a seed tutorial iteration takes ~0.75-0.95x the time it takes
    without.
    ``progress``: show a tqdm bar with the running objective (default: when ``verbose`` or
    ``num_epoch > 1``, as ``run_chain``'s bar; False silences it). ``verbose`` also prints each
    epoch's score and why a model runs eagerly. ``checkpoint`` (a ``tf.train.CheckpointManager``
    or a directory): restore the latest checkpoint, if any, and continue from its epoch; save
    after the last epoch and, every ``checkpoint_every`` epochs, when at least ``checkpoint_secs``
    seconds have passed since the last save (0: every ``checkpoint_every`` epochs; a save costs
    ~20 ms, seven seed-tutorial steps). ``summary`` (a ``tf.summary`` writer
    or a log directory): TensorBoard scalar ``objective`` each epoch, parameter and gradient
    histograms every ``histogram_every`` epochs and after the last (tagged by each parameter's
    path, ``gen_fn``'s own as ``<gen_fn name>/<param>``), the graph once
    (``learning/checkpoint.py``). The defaults keep their cost within a few percent of a step.
    Under a ``tf.distribute`` strategy the epoch runs data-parallel (module docstring).
    Returns one score per epoch, ``num_epoch`` of them (a resumed run includes the restored ones).
    Raises ``CheckpointError``, before anything is run or saved, for an unreadable or mismatched
    checkpoint or an unusable index file ``checkpoint`` in the directory."""
    if evaluation_size is None:
        evaluation_size = epoch_size
    if not 1 <= minibatch_size <= epoch_size:
        raise ArgumentError(f"train: minibatch_size must be in 1..epoch_size={epoch_size}, got {minibatch_size}")
    if checkpoint_every < 1 or histogram_every < 1:
        raise ArgumentError(f"train: checkpoint_every and histogram_every must be >= 1, got "
                            f"{checkpoint_every}, {histogram_every}")
    dataset = isinstance(data, tf.data.Dataset)
    if not dataset and not callable(data):
        raise ArgumentError(f"train: data must be a data_generator or a tf.data.Dataset, got {type(data).__name__}")
    strategy = strategy_for(update.variables + update.accumulators, "train")
    if strategy is not None and jit_compile and jit_compile != "auto":
        raise ArgumentError("train: jit_compile is not supported under a tf.distribute strategy")
    if jit_compile == "auto" and (strategy is not None or dataset):  # XLA compiles neither a
        jit_compile = False                                          # collective nor an iterator
    iterator = iter(_checked(data).prefetch(tf.data.AUTOTUNE)) if dataset else None
    state = TrainState(gen_fn, update, as_seed(seed), iterator)
    manager = manager_for(checkpoint, state)
    restore(manager, state, None if seed is None else as_seed(seed).numpy())
    summaries = Summaries(summary, update, histogram_every, owners=[gen_fn]) if summary is not None else None
    runner = _EpochRunner(gen_fn, update, verbose, jit_compile, summaries is not None, strategy)
    sizes = (epoch_size, num_minibatch, minibatch_size, evaluation_size)
    if progress is None:
        progress = verbose or num_epoch > 1
    first = int(state.epoch.numpy())
    base_seed = state.seed.numpy()  # restored by now; read once, not per epoch
    schedule = SaveSchedule(lambda: state.save(manager), checkpoint_every, checkpoint_secs)
    bar = tqdm(range(first, num_epoch), disable=not progress, desc="train", initial=first, total=num_epoch)
    try:
        for epoch in bar:
            perms, seeds = _epoch_randomness(base_seed, epoch, sizes)
            if dataset:
                try:
                    score = runner.run_dataset(iterator, sizes, perms, seeds)
                except tf.errors.OutOfRangeError:
                    raise ArgumentError(f"train: the dataset ran out in epoch {epoch} (each epoch takes "
                                        f"{epoch_size + evaluation_size} elements); .repeat() it to train "
                                        "longer") from None
            else:
                score = runner.run(*_draw(data, sizes, perms), seeds)
            if manager is not None or summaries is not None or verbose or progress or callback is not None:
                score = float(score)
                state.record(epoch, score)
                if summaries is not None:
                    summaries.end_epoch(epoch, score, runner.last_grads, runner.graph, last=epoch + 1 == num_epoch)
                if progress:
                    bar.set_postfix(objective=f"{score:.6g}", refresh=False)
                if verbose:
                    tqdm.write(f"epoch {epoch}: est. objective value {score:.6g}")
                if callback is not None:
                    callback(epoch, score)
                if manager is not None:
                    schedule.step(epoch, epoch + 1, epoch + 1 == num_epoch)
            else:
                state.record(epoch, score)
    finally:
        runner.forget_inputs()
        if summaries is not None:
            summaries.flush()
    return np.array([float(x) for x in state.history[:num_epoch]], dtype=np.float64)


def _epoch_randomness(seed, epoch, sizes):
    """Epoch ``epoch``'s minibatch indices ``[num_minibatch, minibatch_size]`` and ``generate``
    seeds ``[n, 2]``, a pure function of ``(seed, epoch)``: the indices from a numpy generator
    seeded with ``(seed, epoch)`` (none needed for a one-example epoch), the seeds by
    SplitMix64 (``core.seeds.splitmix64``) of the stream keyed by ``(seed, epoch)`` (~70 us
    cheaper per epoch than a numpy generator)."""
    epoch_size, num_minibatch, minibatch_size, evaluation_size = sizes
    if epoch_size == 1:
        perms = np.zeros((num_minibatch, 1), np.int32)
    else:
        rng = np.random.default_rng([int(s) & 0xFFFFFFFF for s in seed] + [epoch])
        perms = np.array([rng.permutation(epoch_size)[:minibatch_size] for _ in range(num_minibatch)],
                         dtype=np.int32).reshape(num_minibatch, minibatch_size)
    n = num_minibatch * minibatch_size + evaluation_size
    key = ((int(seed[0]) & 0xFFFFFFFF) << 32 | (int(seed[1]) & 0xFFFFFFFF)) ^ (epoch * 0xD1B54A32D192ED03)
    values = splitmix64(key, np.arange(1, 2 * n + 1, dtype=np.uint64)) >> np.uint64(33)  # in [0, 2^31)
    return perms, values.astype(np.int32).reshape(n, 2)


def _draw(data_generator, sizes, perms):
    epoch_size, _, _, evaluation_size = sizes
    data = [_example(data_generator()) for _ in range(epoch_size)]
    minibatches = tuple(tuple(data[i] for i in perm) for perm in perms)
    return minibatches, tuple(_example(data_generator()) for _ in range(evaluation_size))


def _example(example):
    """``(args, layout, arrays)``: the constraints packed into one array per (dtype, shape)
    group (``choicemap.pack``), so a compiled epoch takes few tensors and never retraces for
    new values."""
    try:
        args, constraints = example
    except (TypeError, ValueError):
        raise ArgumentError("train: data_generator() must return (args, constraints)") from None
    if not isinstance(args, (tuple, list)):
        raise ArgumentError(f"train: data_generator()'s args must be a tuple, got {type(args).__name__}")
    return (tuple(args), *pack(constraints))


def _checked(dataset):
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], tuple) and isinstance(spec[1], dict)):
        raise ArgumentError(f"train: a dataset's elements must be (args tuple, constraints dict), got {spec}")
    return dataset


def _fixed(spec):
    """Do all elements of this ``element_spec`` have one fixed shape (stackable)?"""
    return all(s.shape.is_fully_defined() for s in tf.nest.flatten(spec))


def _picker(elements, fixed):
    """``pick(i)``: ``elements[i]`` for a scalar int tensor ``i``. Elements of one fixed shape are
    stacked once and gathered from; others (a ``.batch(b)`` dataset's partial last batch) are
    chosen by ``tf.switch_case``, whose outputs get the relaxed shapes of the dataset's spec."""
    if len(elements) == 1:
        return lambda i: elements[0]
    if fixed:
        stacked = tf.nest.map_structure(lambda *xs: tf.stack(xs), *elements)
        return lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), stacked)
    if tf.executing_eagerly():
        return lambda i: elements[int(i)]
    return lambda i: tf.switch_case(i, [lambda e=e: e for e in elements])


class _EpochRunner:
    """Runs epochs of one (gen_fn, update) pair: one compiled program per data structure
    (``core.compile``), or eagerly when the model cannot be traced. With ``grads`` the program
    also copies the accumulators before the epoch's last ``apply`` into ``last_grads`` (for the
    summaries' histograms; a copy into Variables costs ~10 us, returning them ~0.2 ms). With a
    ``strategy`` the examples are split among its replicas (``core.distribute.sharded``)."""

    def __init__(self, gen_fn, update, verbose, jit_compile, grads=False, strategy=None):
        self.gen_fn, self.update, self.verbose, self.jit_compile = gen_fn, update, verbose, jit_compile
        self.strategy = strategy
        self.last_grads = []
        if grads:
            with strategy.scope() if strategy is not None else contextlib.nullcontext():
                self.last_grads = [tf.Variable(tf.zeros(a.shape, a.dtype), trainable=False, name="last_grad")
                                   for a in update.accumulators]

    def body(self, minibatches, evaluation, seeds, example):
        """The maths of one epoch (module docstring, steps 2 and 3); returns the mean weight.
        ``example(x)`` is ``(args, constraints)``."""
        def accumulate(item):
            if tf.executing_eagerly():
                trace, _ = generate(self.gen_fn, *example(item[0]), seed=item[1])
                accumulate_param_gradients(trace)
            else:
                generate_accumulating(self.gen_fn, *example(item[0]), seed=item[1])

        def weight(item):
            return generate(self.gen_fn, *example(item[0]), seed=item[1])[1]

        k = 0
        for minibatch in minibatches:
            self._each(accumulate, [(x, seeds[k + i]) for i, x in enumerate(minibatch)])
            k += len(minibatch)
            copies = [g.assign(tf.convert_to_tensor(a)) for g, a in zip(self.last_grads, self.update.accumulators)]
            with tf.control_dependencies(copies):
                self.update.apply()
        total = self._each(weight, [(x, seeds[k + i]) for i, x in enumerate(evaluation)])
        return total / len(evaluation) if evaluation else tf.constant(np.nan, tf.float64)

    def _each(self, work, items):
        """``sum_i work(item_i)`` in float64 (0 when ``work`` returns None), on this device or
        split among the strategy's replicas."""
        if self.strategy is not None:
            return sharded(self.strategy, work, items, "train")
        outs = [work(item) for item in items]
        outs = [tf.cast(o, tf.float64) for o in outs if o is not None]
        return tf.add_n(outs) if outs else tf.constant(0.0, tf.float64)

    def dataset_body(self, iterator, sizes, perms, seeds):
        """One epoch whose data come from ``iterator``: the epoch's elements, the minibatches
        picked from them by ``perms`` (a tensor; ``_picker``), then the evaluation elements."""
        epoch_size, num_minibatch, minibatch_size, evaluation_size = sizes
        fixed = _fixed(iterator.element_spec)
        pick = _picker([iterator.get_next() for _ in range(epoch_size)], fixed)
        minibatches = [[pick(perms[m, i]) for i in range(minibatch_size)] for m in range(num_minibatch)]
        evaluation = [iterator.get_next() for _ in range(evaluation_size)]
        try:
            return self.body(minibatches, evaluation, seeds, lambda x: (tuple(x[0]), choicemap(x[1])))
        except (TypeError, ValueError) as e:  # a static size read as a number: None
            if fixed or tf.executing_eagerly() or "NoneType" not in str(e):
                raise
            raise ArgumentError(f"train: {self.gen_fn!r} needs static shapes (it failed on the unknown "
                                f"dimensions of the dataset's elements {iterator.element_spec}: {e}); give the "
                                "dataset fixed shapes, e.g. .batch(b, drop_remainder=True)") from e

    def run(self, minibatches, evaluation, seeds):
        comps = []
        code = encode((minibatches, evaluation), comps)
        comps = [host_tensor(c) for c in comps]  # all tensors: the cached concrete program
        seeds = host_tensor(seeds)
        return self._run(("train", self.update, len(self.last_grads), self.strategy, code),
                         lambda c, s: self.body(*decode(code, c)[0], s, _unpacked), (comps, seeds),
                         lambda: self.body(minibatches, evaluation, seeds, _unpacked))

    def run_dataset(self, iterator, sizes, perms, seeds):
        perms, seeds = host_tensor(perms), host_tensor(seeds)
        return self._run(("train-dataset", self.update, len(self.last_grads), self.strategy, sizes,
                          str(iterator.element_spec)),
                         lambda it, p, s: self.dataset_body(it, sizes, p, s), (iterator, perms, seeds),
                         lambda: self.dataset_body(iterator, sizes, perms, seeds))

    def graph(self):
        """The ``tf.Graph`` of the last epoch's compiled program (None when eager)."""
        fn = compiled.program(self.gen_fn, self._last[0]) if not compiled.is_dynamic(self.gen_fn) else None
        if fn is None:
            return None
        return fn.graph if hasattr(fn, "graph") else fn.get_concrete_function(*self._last[1]).graph

    def forget_inputs(self):
        """Drop the last epoch's inputs (a dataset iterator among them): the compiled-program
        cache keeps this runner as long as the model lives, and an iterator destroyed only at
        interpreter exit blocks it (its prefetch threads are gone by then)."""
        self._last = None

    def _run(self, key, program, inputs, fallback):
        self._last = key, inputs
        dynamic = compiled.is_dynamic(self.gen_fn)
        out = compiled.run(self.gen_fn, key, lambda: program, inputs, fallback=fallback,
                           jit_compile=self.jit_compile, xla_draws=False)
        if self.verbose and not dynamic and compiled.is_dynamic(self.gen_fn):
            tqdm.write(f"train: cannot compile {self.gen_fn!r} ({compiled.explain_compile(self.gen_fn)}); "
                       "running eagerly")
        return out


def generate_accumulating(gen_fn, args, constraints, seed):
    """``generate`` then ``accumulate_param_gradients`` of its trace, in one pass (inside a
    graph): the gradient of the generated trace's score with its sampled values held constant
    (``handlers.samples_constant``) is the replayed trace's ``d/dtheta log p(t; x, theta)``;
    the replay would trace the model twice."""
    with tf.GradientTape() as tape, samples_constant():
        trace, _ = generate(gen_fn, args, constraints, seed=seed)
    variables = [v for v in tape.watched_variables() if v.trainable]
    grads = tape.gradient(trace.score, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    accumulate(variables, grads)


def _unpacked(x):
    args, layout, arrays = x
    return args, unpack(layout, arrays)
