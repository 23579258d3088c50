"""Running a Markov chain: ``num_steps`` applications of a kernel, collecting the choices.

A kernel is ``kernel(trace, seed) -> trace`` or ``-> (trace, accepted)``, e.g.
``lambda t, s: gentf.mh(t, gentf.select("x"), seed=s)``; composing kernels is writing Python.

The choice made here: for a model whose structure is fixed (its addresses and shapes do not
depend on random values) the whole chain is ONE compiled ``tf.function`` (XLA by default): a
``tf.while_loop`` whose loop variable is the trace, writing every step's choices into
``TensorArray``s, so a step costs no Python or dispatch overhead. A model whose structure
changes (trans-dimensional moves) cannot be traced; the chain then runs eagerly, step by step,
with a tqdm progress bar, and the samples are a list of choice maps.
"""
import tensorflow as tf
from tqdm.auto import tqdm

from ..core.seeds import as_seed, split_seed
from ._compile import run_compiled, static_key, unpack


def _step(kernel, trace, seed):
    out = kernel(trace, seed)
    if isinstance(out, tuple):
        return out[0], tf.convert_to_tensor(out[1])
    return out, tf.constant(True)


def run_chain(kernel, trace, num_steps, seed=None, compile=True, jit_compile=True, progress=True):
    """Apply ``kernel`` ``num_steps`` times from ``trace``. Returns ``(trace, samples,
    accepted)``: the last trace, the choices after every step (one choice map whose values gain a
    leading axis of length ``num_steps``; a list of choice maps on the eager path) and a bool
    vector of acceptances (all True for kernels that do not report one)."""
    seeds = split_seed(as_seed(seed), num_steps)
    if compile:
        key, tensors = static_key(trace)

        def build():
            def run(tensors, seeds):
                return _loop(kernel, unpack(key, tensors)[0], seeds, num_steps)
            return run

        out = run_compiled(kernel, ("run_chain", key, num_steps), build, (tensors, seeds), jit_compile)
        if out is not None:
            return out
    samples, accepted = [], []
    for s in tqdm(tf.unstack(seeds), disable=not progress, desc="run_chain"):
        trace, acc = _step(kernel, trace, s)
        samples.append(trace.get_choices())
        accepted.append(bool(acc))
    return trace, samples, tf.constant(accepted)


def _loop(kernel, trace, seeds, num_steps):
    choices = trace.get_choices()
    leaves = tf.nest.flatten(choices)
    arrays = [tf.TensorArray(tf.convert_to_tensor(v).dtype, size=num_steps) for v in leaves]
    acc = tf.TensorArray(tf.bool, size=num_steps)

    def body(i, trace, arrays, acc):
        trace, accepted = _step(kernel, trace, seeds[i])
        arrays = [a.write(i, v) for a, v in zip(arrays, tf.nest.flatten(trace.get_choices()))]
        return i + 1, trace, arrays, acc.write(i, accepted)

    _, trace, arrays, acc = tf.while_loop(lambda i, *_: i < num_steps, body, (tf.constant(0), trace, arrays, acc))
    samples = tf.nest.pack_sequence_as(choices, [a.stack() for a in arrays])
    return trace, samples, acc.stack()


def mcmc(kernel, trace, num_steps, seed=None):
    """Shorthand for ``run_chain(kernel, trace, num_steps, seed)[1]``: the samples."""
    return run_chain(kernel, trace, num_steps, seed)[1]
