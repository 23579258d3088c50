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

Speed: one epoch (all its minibatches, updates and the evaluation) runs as *one* call of a
``tf.function`` cached per static structure of the epoch's data (argument shapes, constraint
addresses, static Python arguments); the tensors are its inputs, so a new batch with the same
structure reuses the graph. If tracing fails because the model's structure depends on random
values, ``train`` runs eagerly from then on (and says so when ``verbose``).
"""
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ..core.choicemap import pack, unpack
from ..core import compile as compiled
from ..core.errors import ArgumentError
from ..core.gfi import accumulate_param_gradients, generate
from ..core.nest import decode, encode
from ..core.seeds import as_seed


def train(gen_fn, data_generator, update, num_epoch=1, epoch_size=1, num_minibatch=1,
          minibatch_size=1, evaluation_size=None, verbose=False, callback=None, seed=None,
          jit_compile=False):
    """Train the parameters of ``update`` so that ``gen_fn`` generates the data's constraints.

    ``data_generator()`` returns ``(args, constraints)``: a tuple of arguments of ``gen_fn`` and
    a choice map. ``callback(epoch, score)`` (``epoch`` counts from 0) runs after each epoch.
    ``seed`` fixes the minibatch permutations and the seeds of ``generate`` (None: drawn from
    gentf's global generator, see ``gentf.seed``). ``jit_compile=True`` compiles each epoch with
    XLA. Returns one score per epoch (see module docstring)."""
    if evaluation_size is None:
        evaluation_size = epoch_size
    if not 1 <= minibatch_size <= epoch_size:
        raise ArgumentError(f"train: minibatch_size must be in 1..epoch_size={epoch_size}, got {minibatch_size}")
    rng = np.random.default_rng(as_seed(seed).numpy().astype(np.uint32))  # seeds may be negative int32
    runner = _EpochRunner(gen_fn, update, verbose, jit_compile)
    n_seeds = num_minibatch * minibatch_size + evaluation_size
    scores = []
    for epoch in tqdm(range(num_epoch), disable=not verbose, desc="train"):
        data = [_example(data_generator()) for _ in range(epoch_size)]
        minibatches = tuple(tuple(data[i] for i in rng.permutation(epoch_size)[:minibatch_size])
                            for _ in range(num_minibatch))
        evaluation = tuple(_example(data_generator()) for _ in range(evaluation_size))
        seeds = rng.integers(0, 2**31 - 1, size=(n_seeds, 2), dtype=np.int32)
        scores.append(runner.run(minibatches, evaluation, seeds))
        if verbose or callback is not None:
            scores[-1] = float(scores[-1])
            if verbose:
                tqdm.write(f"epoch {epoch}: est. objective value {scores[-1]:.6g}")
            if callback is not None:
                callback(epoch, scores[-1])
    return np.array([float(s) for s in scores], dtype=np.float64)


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


class _EpochRunner:
    """Runs epochs of one (gen_fn, update) pair: one compiled program per data structure
    (``core.compile``), or eagerly when the model cannot be traced."""

    def __init__(self, gen_fn, update, verbose, jit_compile):
        self.gen_fn, self.update, self.verbose, self.jit_compile = gen_fn, update, verbose, jit_compile

    def body(self, minibatches, evaluation, seeds):
        """The maths of one epoch (module docstring, steps 2 and 3); returns the mean weight."""
        k = 0
        for minibatch in minibatches:
            for args, layout, arrays in minibatch:
                trace, _ = generate(self.gen_fn, args, unpack(layout, arrays), seed=seeds[k])
                accumulate_param_gradients(trace)
                k += 1
            self.update.apply()
        weights = []
        for args, layout, arrays in evaluation:
            _, weight = generate(self.gen_fn, args, unpack(layout, arrays), seed=seeds[k])
            weights.append(tf.cast(weight, tf.float64))
            k += 1
        return tf.add_n(weights) / len(weights) if weights else tf.constant(np.nan, tf.float64)

    def run(self, minibatches, evaluation, seeds):
        comps = []
        code = encode((minibatches, evaluation), comps)
        seeds = tf.constant(seeds)
        dynamic = compiled.is_dynamic(self.gen_fn)
        out = compiled.run(self.gen_fn, ("train", self.update, code),
                           lambda: lambda c, s: self.body(*decode(code, c)[0], s), (comps, seeds),
                           fallback=lambda: self.body(minibatches, evaluation, seeds), jit_compile=self.jit_compile)
        if self.verbose and not dynamic and compiled.is_dynamic(self.gen_fn):
            tqdm.write(f"train: cannot compile {self.gen_fn!r} ({compiled.explain_compile(self.gen_fn)}); "
                       "running eagerly")
        return out
