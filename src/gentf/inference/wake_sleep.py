"""Amortised inference by "lectures" (the sleep phase of wake-sleep), as Gen.jl's ``lecture!``
and ``lecture_batched!``.

A proposal ``q(z; a(y), phi)`` is trained to propose a model ``p``'s latent choices ``z`` from its
observations ``y``: sample ``(z, y) ~ p`` and ascend ``log q(z; a(y), phi)``. In expectation this
maximises ``E_{p(y)} [ -KL(p(z | y) || q(z; y)) ] + const``, so ``q`` learns the posterior.

- ``lecture``: ``t ~ p(p_args)``; ``(q_args, q_constraints) = data_fn(t)``; ``(t_q, w) =
  generate(q, q_args, q_constraints)``; ``accumulate_param_gradients(t_q)``. Returns ``w``, which is
  ``log q(z; ...)`` when ``q_constraints`` fixes all of ``q``'s choices (otherwise an unbiased
  estimate of a lower bound on it).
- ``lecture_batched``: ``B`` traces of ``p``; ``data_fn(traces)`` builds the arguments and
  constraints of a batched ``q`` (example ``i``'s choices under address ``i``); returns ``w / B``.

Gen.jl passes ``get_choices(t)`` as the constraints; gentf's ``generate`` rejects constraints at
addresses ``q`` never visits, so ``data_fn`` also picks the constraints. Gradients accumulate;
call ``update.apply()`` (a ``ParamUpdate`` of ``q``) after each lecture, as in Gen.jl.
"""
import tensorflow as tf

from ..core.gfi import accumulate_param_gradients, generate, simulate
from ..core.seeds import as_seed, split_seed


def lecture(p, p_args, q, data_fn, seed=None):
    """One lecture: ``data_fn(p_trace) -> (q_args, q_constraints)``; returns ``log q`` (see the
    module docstring) after adding ``d log q / d phi`` to ``q``'s gradient accumulators."""
    s1, s2 = tf.unstack(split_seed(as_seed(seed), 2))
    p_trace = simulate(p, tuple(p_args), seed=s1)
    q_args, q_constraints = data_fn(p_trace)
    q_trace, score = generate(q, tuple(q_args), q_constraints, seed=s2)
    accumulate_param_gradients(q_trace)
    return score


def lecture_batched(p, p_args, q, data_fn, batch_size, seed=None):
    """A batch of ``batch_size`` lectures for a batched proposal: ``data_fn([p_trace_0, ...]) ->
    (q_args, q_constraints)``; returns the batch's ``log q`` divided by ``batch_size``."""
    seeds = tf.unstack(split_seed(as_seed(seed), batch_size + 1))
    p_traces = [simulate(p, tuple(p_args), seed=s) for s in seeds[:-1]]
    q_args, q_constraints = data_fn(p_traces)
    q_trace, score = generate(q, tuple(q_args), q_constraints, seed=seeds[-1])
    accumulate_param_gradients(q_trace)
    return score / batch_size
