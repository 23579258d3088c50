"""Importance sampling and sampling-importance-resampling.

With particles ``t_i ~ q(.; y)`` (the model's internal proposal, i.e. the prior of the
unobserved choices, or a custom ``proposal``) and weights

    w_i = p(t_i, y) / q(t_i; y)  =  generate weight                      (internal proposal)
    log w_i = log p(t_i, y | generate) - log q(t_i)                       (custom proposal),

``log_ml_estimate = logsumexp(log w) - log N`` estimates ``log p(y)`` (unbiased in ``p(y)``) and
``log_normalized_weights = log w - logsumexp(log w)``.

Particles are a batch dimension: one compiled ``tf.vectorized_map`` over per-particle seeds of
``generate`` returns ONE trace whose every leaf has a leading axis of length ``num_samples``.
A model whose Python control flow branches on discrete random choices (``if bernoulli(0.5) @
"is_line"``) runs as one batched program per control-flow path (``inference.paths``) and returns
a ``PathTraces`` (a sequence of traces, one batched trace per path). Any other model whose
structure depends on random values falls back to an eager loop and returns a list of traces.
Either way particle ``i`` is ``generate(model, args, observations, seed=split_seed(seed, N)[i])``
under the batched generator (``core.seeds.vectorizable_randomness``), draw for draw.

Under a ``tf.distribute`` strategy (called inside ``strategy.scope()``) the particles are
sharded: replica ``r`` of ``R`` runs particles ``r N/R .. (r+1) N/R - 1`` with the same
per-particle seeds as on one device; the shards of the traces and of ``log w`` are gathered in
order (``strategy.gather``, across workers too) and normalised once, globally, so the weights
and ``log_ml_estimate`` equal the single-device ones (``core.distribute.gather_shards``; ``N``
must be a multiple of ``R``; the program runs without XLA there).

Call forms: Gen.jl's positional orders, told apart by the type of the fourth argument (as
Julia's methods are), and keywords:

    importance_sampling(model, args, observations, num_samples)
    importance_sampling(model, args, observations, proposal, proposal_args, num_samples)
    importance_sampling(model, args, observations, num_samples=..., proposal=..., proposal_args=...)
"""
import math
from collections.abc import Sequence

import tensorflow as tf

from ..core.choicemap import as_choicemap, merge
from ..core.distribute import gather_shards
from ..core.dtypes import call_float
from ..core.errors import ArgumentError
from ..core.gfi import GenerativeFunction, generate, propose
from ..core.nest import data_dtypes
from ..core.seeds import as_seed, split_seed, vectorizable_randomness
from ._compile import particle, run_compiled, static_key, unpack, vectorize
from .paths import importance_paths


def _particle(model, args, observations, proposal, proposal_args, seed):
    """One particle: ``(trace, log w)``."""
    if proposal is None:
        return generate(model, args, observations, seed=seed)
    s1, s2 = tf.unstack(split_seed(seed, 2))
    choices, q_score, _ = propose(proposal, proposal_args, seed=s1)
    trace, p_weight = generate(model, args, merge(observations, choices), seed=s2)
    return trace, p_weight - tf.cast(q_score, p_weight.dtype)


def _call_form(where, positional, num_samples, proposal, proposal_args):
    """``(num_samples, proposal, proposal_args)`` from the arguments after ``observations``:
    ``(proposal, proposal_args, num_samples)`` when the first is a generative function (Gen.jl's
    order with a proposal), else ``(num_samples[, proposal[, proposal_args]])``; keywords fill
    the rest."""
    names = ("num_samples", "proposal", "proposal_args")
    if positional and isinstance(positional[0], GenerativeFunction):
        names = ("proposal", "proposal_args", "num_samples")
    if len(positional) > 3:
        raise ArgumentError(f"{where}: too many positional arguments ({3 + len(positional)})")
    given = dict(num_samples=num_samples, proposal=proposal, proposal_args=proposal_args)
    for name, value in zip(names, positional):
        if name != "proposal_args" and given[name] is not None:
            raise ArgumentError(f"{where}: {name} given twice")
        given[name] = value
    if not isinstance(given["num_samples"], int) or isinstance(given["num_samples"], bool):
        raise ArgumentError(f"{where}: num_samples must be an int, got {given['num_samples']!r}")
    if given["num_samples"] < 1:
        raise ArgumentError(f"{where}: num_samples must be at least 1, got {given['num_samples']}")
    if given["proposal"] is not None and not isinstance(given["proposal"], GenerativeFunction):
        raise ArgumentError(f"{where}: the proposal {given['proposal']!r} is not a generative function")
    return given["num_samples"], given["proposal"], tuple(given["proposal_args"])


def importance_sampling(model, args, observations, *positional, num_samples=None, proposal=None,
                        proposal_args=(), seed=None, jit_compile=True):
    """Gen.jl's ``importance_sampling`` (call forms: see the module docstring). Returns
    ``(traces, log_normalized_weights, log_ml_estimate)``; ``traces`` is one batched trace
    (leading axis = particle; one compiled program: seeds, particles, normalisation) for a static
    model, a ``PathTraces`` for a model that branches on discrete choices (``inference.paths``),
    a list of traces otherwise. A custom ``proposal`` is called as
    ``proposal(*proposal_args)`` and must propose every unobserved choice of the model."""
    num_samples, proposal, proposal_args = _call_form("importance_sampling", positional, num_samples,
                                                      proposal, proposal_args)
    args = tuple(args)
    observations = as_choicemap(observations, "observations")
    with call_float(data_dtypes((args, proposal_args))):
        return _importance_sampling(model, args, observations, num_samples, proposal, proposal_args, seed,
                                    jit_compile)


def _importance_sampling(model, args, observations, num_samples, proposal, proposal_args, seed, jit_compile):
    key, tensors = static_key(args, observations, proposal_args)
    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None

    def build():
        def run(tensors, seed):
            a, obs, pargs = unpack(key, tensors)
            seeds = split_seed(seed, num_samples)

            def shard(lo, hi):
                return vectorize(lambda s: _particle(model, a, obs, proposal, pargs, s), seeds[lo:hi])
            traces, log_w = (shard(0, num_samples) if strategy is None else
                             gather_shards(strategy, shard, num_samples, "importance_sampling"))
            return (traces,) + _normalize(log_w)
        return run

    out = run_compiled(model, ("importance", key, proposal, num_samples, strategy), build,
                       (tensors, as_seed(seed)), jit_compile and strategy is None)
    if out is not None:
        return out
    if proposal is None:
        out = importance_paths(model, args, observations, num_samples, seed, jit_compile)
        if out is not None:
            return (out[0],) + _normalize(out[1])
    seeds = tf.unstack(split_seed(as_seed(seed), num_samples))
    with vectorizable_randomness():  # the batched programs' generator: the same draws
        traces, log_w = zip(*(_particle(model, args, observations, proposal, proposal_args, s) for s in seeds))
    return (list(traces),) + _normalize(tf.stack(log_w))


def _normalize(log_w):
    """``(log w - logsumexp(log w), logsumexp(log w) - log N)``."""
    total = tf.reduce_logsumexp(log_w)
    return log_w - total, total - math.log(log_w.shape[0])


def importance_resampling(model, args, observations, *positional, num_samples=None, proposal=None,
                          proposal_args=(), seed=None, jit_compile=True):
    """Gen.jl's ``importance_resampling`` (call forms as ``importance_sampling``): draw
    ``num_samples`` weighted particles, return one chosen with probability proportional to its
    weight, and ``log_ml_estimate``."""
    num_samples, proposal, proposal_args = _call_form("importance_resampling", positional, num_samples,
                                                      proposal, proposal_args)
    s1, s2 = tf.unstack(split_seed(as_seed(seed), 2))
    traces, log_w, log_ml = importance_sampling(model, args, observations, num_samples=num_samples,
                                                proposal=proposal, proposal_args=proposal_args,
                                                seed=s1, jit_compile=jit_compile)
    i = tf.random.stateless_categorical(log_w[None], 1, s2)[0, 0]
    if isinstance(traces, Sequence):
        return traces[int(i)], log_ml
    return particle(traces, i), log_ml
