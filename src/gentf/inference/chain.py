"""Running a Markov chain: ``num_steps`` applications of a kernel, collecting the choices.

A kernel is ``kernel(trace, seed)`` or, as in Gen.jl, ``kernel(trace)``, returning ``trace`` or
``(trace, accepted)``, e.g. ``lambda t, s: gentf.mh(t, gentf.select("x"), seed=s)`` or

    def kernel(trace):                      # Gen.jl's style: no seeds
        trace, _ = gentf.mh(trace, gentf.select("x"))
        trace, _ = gentf.mh(trace, gentf.select("y"))
        return trace

Composing kernels is writing Python. Each step runs inside ``core.seeds.seed_scope`` of the
step's seed: every unseeded call in the kernel (GFI functions, kernels, distributions called
outside a model) takes the next seed of that step's stream, so the calls are independent within
a step and across steps, compiled or eager, and the chain's ``seed`` fixes every draw.

The choice made here: for a model whose structure is fixed (its addresses and shapes do not
depend on random values) the whole chain is ONE compiled ``tf.function`` (XLA by default): a
``tf.while_loop`` whose loop variable is the trace, writing every step's choices into
``TensorArray``s, so a step costs no Python or dispatch overhead. XLA compiles it when it is
small (``jit_compile="auto"``: compile time grows by ~10 ms per graph op under XLA). A model whose structure
changes (trans-dimensional moves) cannot be traced; the chain then runs eagerly, step by step,
with a tqdm progress bar; its samples are stacked the same way when every step has the same
addresses and shapes, else they are a list of choice maps.

Checkpoints and TensorBoard summaries (``checkpoint=``, ``summary=``): the chain then runs in
segments, each one call of the same compiled program, and equals the unsegmented chain bit for
bit; see ``inference/resume.py``. Several chains (a list of starting traces): independent chains
whose samples come back as ``[chains, draws, ...]``, with R-hat and ESS in the summaries; see
``inference/chains.py``.
"""
import inspect

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ..core.choicemap import ChoiceMap
from ..core.errors import ArgumentError, KernelError
from ..core.gfi import Trace
from ..core.seeds import as_seed, seed_scope, split_seed
from ._compile import flat_components, same_structure, run_compiled, static_key, unpack
from .chains import ChainsState, gather, stack_choices
from .resume import ChainState, run_segments


def takes_seed(kernel):
    """Does ``kernel`` accept ``(trace, seed)``? (Else it is called as ``kernel(trace)``.)"""
    try:
        inspect.signature(kernel).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): the two-argument form
        return True
    return True


def apply_kernel(kernel, trace, seed):
    """``kernel(trace, seed)`` or ``kernel(trace)``, inside ``seed_scope(seed)``; returns what
    the kernel returns."""
    with seed_scope(seed):
        return kernel(trace, seed) if takes_seed(kernel) else kernel(trace)


def _step(kernel, trace, seed):
    out = apply_kernel(kernel, trace, seed)
    new, accepted = (out[0], out[1]) if isinstance(out, tuple) else (out, True)
    check_kernel_trace(new, trace, "run_chain")
    return new, tf.convert_to_tensor(accepted)


def check_kernel_trace(new, trace, where):
    """A kernel must return a trace of the model of ``trace`` (its structure only is read, so
    this is free inside a compiled chain); else a ``KernelError`` that says what came back."""
    if isinstance(new, Trace) and new.gen_fn is trace.gen_fn:
        return
    if isinstance(new, Trace):
        got = f"a trace of {new.gen_fn!r}, another generative function"
    elif isinstance(new, ChoiceMap):
        got = "a ChoiceMap (return the trace itself, not its choices)"
    else:
        got = "None" if new is None else f"{type(new).__name__} {new!r}"[:200]
    raise KernelError(f"{where}: the kernel must return the new trace of {trace.gen_fn!r} or (trace, "
                      f"accepted), as mh does; it returned {got}")


def run_chain(kernel, trace, num_steps, seed=None, compile=True, jit_compile="auto", progress=True,
              checkpoint=None, checkpoint_every=10000, checkpoint_secs=60.0, summary=None,
              summary_every=10000, devices=None):
    """Apply ``kernel`` ``num_steps`` times from ``trace``. Returns ``(trace, samples, accepted)``:

    - ``trace``: the last trace;
    - ``samples``: a ``ChoiceMap`` with the addresses of the chain's choices whose every value
      gains a leading axis of length ``num_steps`` (row ``i`` = the choices after step ``i``),
      e.g. ``samples["w"]`` has shape ``[num_steps] + shape(w)``. This holds on both paths
      (compiled, and eager when every step has the same addresses and shapes). Only a chain
      whose structure changes (trans-dimensional moves) cannot be stacked: its samples are then
      a list of ``num_steps`` choice maps;
    - ``accepted``: a bool vector of acceptances (all True for kernels that do not report one).

    Several chains: ``trace`` a list of ``C`` starting traces (``[trace] * C`` starts them all at
    one trace; NumPyro's ``num_chains``, but an overdispersed start, e.g. ``C`` draws of
    ``generate``, is what R-hat assumes) runs ``C`` independent chains and returns the list of
    their last traces, their samples in ArviZ's layout ``[C, num_steps, ...]`` (the input of
    ``rhat``, ``ess`` and ``to_arviz(samples, chains=True)``; a list of the chains' samples when
    they cannot be stacked) and ``accepted`` of shape ``[C, num_steps]``. Chain ``c`` is exactly
    ``run_chain(kernel, trace[c], num_steps, seed=split_seed(seed, C)[c])``: the same compiled
    program, called once per chain (per segment). ``devices`` (a list of device names) runs chain
    ``c`` under ``tf.device(devices[c % len(devices)])`` as a plain graph (``jit_compile=False``:
    an XLA program cannot reach gentf's domain-check variable on another device, so
    ``jit_compile=True`` raises ``ArgumentError``), so its draws are those of
    ``jit_compile=False``; the calls are dispatched in turn, which overlap on asynchronous
    accelerators and not on CPU devices (``inference/chains.py``).

    ``compile=True`` runs the whole chain as one cached ``tf.function``; a kernel or model that
    cannot be traced falls back to the eager loop. ``jit_compile``: True compiles it with XLA,
    False runs it as a plain graph, ``"auto"`` (the default) uses XLA for a program of at most
    ``core.compile.XLA_MAX_OPS`` graph ops: XLA's compile time on CPU grows by ~10 ms per op,
    so a large kernel (many ``mh`` calls on a large model: ~1,500 ops per call) would take
    minutes and gigabytes to compile, for a faster run. XLA's random stream differs from TF's
    (``core.seeds``), so the choice changes the draws; it is fixed per program structure.

    Step ``i`` draws from seed ``split_seed(seed, num_steps)[i]``, a function of ``(seed, i)``
    alone. ``checkpoint`` (a ``tf.train.CheckpointManager`` or a directory): restore the latest
    checkpoint, if any, and continue from its step; save the trace, the samples so far, the step
    counter and the seed (of every chain) after the last step and, every ``checkpoint_every``
    steps, when at least ``checkpoint_secs`` seconds have passed since the last save (0: every
    time), so a resumed chain equals the uninterrupted one bit for bit. ``summary`` (a
    ``tf.summary`` writer or a log directory): TensorBoard scalars ``acceptance_rate`` (over the
    segment, and over the chains), ``log_joint`` (one chain; several: ``log_joint/chain_<c>``
    and ``acceptance_rate/chain_<c>``) and (when the kernel has a ``step_size`` attribute)
    ``step_size`` every ``summary_every`` steps and, with two or more chains, ``rhat/<address>``
    and ``ess/<address>`` of the draws so far (``chains.convergence``: ``rhat`` and ``ess`` of
    the returned samples' prefix, the largest R-hat and least ESS of a non-scalar choice;
    addresses that never change, the observations, are left out). Either runs the chain in
    segments of that many steps, each one compiled call, equal bit for bit to one call
    (``inference/resume.py``); ``progress`` then shows a bar per segment with the acceptance
    rate. Raises ``CheckpointError`` for an unreadable or mismatched checkpoint (another model,
    seed or number of chains)."""
    if not isinstance(num_steps, (int, np.integer)) or isinstance(num_steps, (bool, np.bool_)) or num_steps < 0:
        raise ArgumentError(f"run_chain: num_steps must be an int >= 0, got {num_steps!r}")
    several = isinstance(trace, (list, tuple))
    if several and not trace:
        raise ArgumentError("run_chain: an empty list of starting traces")
    if devices and jit_compile is True:
        raise ArgumentError("run_chain: devices= runs the chains as plain graphs (an XLA program cannot "
                            "reach gentf's domain-check variable on another device); use jit_compile='auto' "
                            "or False")

    def segment(c, trace, seeds, bar):
        if not devices:
            return _run(kernel, trace, seeds, compile, jit_compile, bar)
        with tf.device(devices[c % len(devices)]):
            return _run(kernel, trace, seeds, compile, False, bar)

    if checkpoint is not None or summary is not None:
        state = ChainsState(list(trace), as_seed(seed)) if several else ChainState(trace, as_seed(seed))
        return run_segments(lambda c, t, s: segment(c, t, s, False), kernel, state, num_steps, seed, checkpoint,
                            checkpoint_every, checkpoint_secs, summary, summary_every, progress)
    if not several:
        return segment(0, trace, split_seed(as_seed(seed), num_steps), progress)
    seeds = split_seed(as_seed(seed), len(trace))
    return gather([segment(c, t, split_seed(seeds[c], num_steps), progress) for c, t in enumerate(trace)])


def _run(kernel, trace, seeds, compile, jit_compile, progress):
    """``len(seeds)`` steps of the chain, step ``i`` seeded by ``seeds[i]`` (``run_chain``)."""
    num_steps = int(seeds.shape[0])
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
    return trace, stack_choices(samples), tf.constant(accepted)


def _loop(kernel, trace, seeds, num_steps):
    """The compiled chain: a ``tf.while_loop`` carrying the trace's flat tensor components
    (see ``_compile.while_loop``) and one ``TensorArray`` per choice."""
    code, flat = flat_components(trace, "run_chain")
    choices = trace.get_choices()
    leaves = [tf.convert_to_tensor(v) for v in tf.nest.flatten(choices)]
    arrays = [tf.TensorArray(v.dtype, size=num_steps, element_shape=v.shape) for v in leaves]
    acc = tf.TensorArray(tf.bool, size=num_steps)
    dtypes = [t.dtype for t in flat]

    def body(i, flat, arrays, acc):
        new, accepted = _step(kernel, unpack(code, flat)[0], seeds[i])
        new_code, new_flat = flat_components(new, "run_chain")
        same_structure(code, new_code, "run_chain")
        new_flat = [tf.cast(t, d) for t, d in zip(new_flat, dtypes)]
        values = tf.nest.flatten(new.get_choices())
        arrays = [a.write(i, tf.cast(v, a.dtype)) for a, v in zip(arrays, values)]
        return i + 1, new_flat, arrays, acc.write(i, tf.reshape(tf.cast(accepted, tf.bool), []))

    _, flat, arrays, acc = tf.while_loop(lambda i, *_: i < num_steps, body, (tf.constant(0), flat, arrays, acc))
    samples = tf.nest.pack_sequence_as(choices, [a.stack() for a in arrays])
    return unpack(code, flat)[0], samples, acc.stack()


def mcmc(kernel, trace, num_steps, seed=None, **kwargs):
    """Shorthand for ``run_chain(kernel, trace, num_steps, seed, **kwargs)[1]``: the samples."""
    return run_chain(kernel, trace, num_steps, seed, **kwargs)[1]
