"""The No-U-Turn Sampler with dual-averaging step-size adaptation, via TFP.

The target is the model's joint log density as a function of the flat vector ``x`` of the
selected continuous choices (``to_array`` / ``from_array``), the other choices held fixed:
``log p(x) = score(update(trace, from_array(values, x)))``, i.e. the posterior of the selected
choices up to a constant. ``tfp.mcmc.NoUTurnSampler`` inside
``tfp.mcmc.DualAveragingStepSizeAdaptation`` (adapting during the ``num_warmup`` steps towards
``target_accept_prob``) runs the whole chain inside one compiled ``tf.function``.

Bounded supports (as NumPyro and TFP's ``TransformedTransitionKernel``): when a selected choice
can have bounded support (beta, gamma, exponential, uniform, ...), NUTS runs on the unconstrained
coordinates ``u``, ``x = f(u)`` with ``f`` each choice's TFP default event-space bijector, and the
target ``log pi(u) = log p(f(u)) + log |det J_f(u)|``; every kept draw ``u`` is mapped back to
``x = f(u)`` (samples and the last trace hold ``x``), see ``_unconstrained``. Step sizes then
adapt to the scale of ``u``. When every selected choice has unbounded support nothing is
transformed and the chain is exactly the one above.

Segments (``checkpoint=`` / ``summary=``, see ``nuts``): the chain runs as warm-up segments then
sampling segments of at most ``L`` steps (a segment never straddles the end of warm-up), each a
call of one compiled program ``sample_chain(n, z, previous_kernel_results=r, seed=s_k)`` whose
state ``(z, r)`` -- the position (``u`` or ``x``) and TFP's kernel results, flattened with
``tf.nest`` -- is the previous segment's output (the first comes from a ``bootstrap_results``
program). The dual-averaging results carry their own step counter, so adaptation stops after
``num_warmup`` steps as in one call. ``s_k`` is row ``k`` of ``split_seed(seed, k + 1)``. A
checkpoint (``resume.NutsState``) saves ``(z, r)``, the last trace, the kept draws and flags, the
step and segment counters, the seed and the settings; up to three segment programs are compiled
(length ``L`` and the shorter last warm-up and sampling segments).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.choicemap import ChoiceMap, from_array, to_array
from ..core.gfi import update
from ..core.seeds import as_seed, split_seed
from ..learning.checkpoint import CheckpointError, Summaries, manager_for, program_graph, restore
from ._compile import run_compiled, static_key, unpack
from .resume import NutsState, check_every, drive_segments, segment_length
from ._unconstrained import evaluate, needs_transform
from .gradient import _gradient


def nuts(trace, selection, num_samples=1000, num_warmup=500, step_size=0.1, target_accept_prob=0.8,
         max_tree_depth=10, seed=None, jit_compile=True, checkpoint=None, checkpoint_every=100,
         checkpoint_secs=60.0, summary=None, summary_every=100, progress=True):
    """Run NUTS on the selected choices. Returns ``(trace, samples, accepted)`` as ``run_chain``:
    the last trace, a choice map of the selected choices with a leading axis of length
    ``num_samples``, and the per-sample acceptance flags (warm-up draws are discarded).

    Without ``checkpoint`` and ``summary`` the whole chain (warm-up and sampling) is one compiled
    ``tfp.mcmc.sample_chain`` call seeded by ``seed``. With either, the chain runs in *segments*
    (module docstring, "Segments"): warm-up segments, then sampling segments, each of at most
    ``min(checkpoint_every, summary_every)`` steps (of those that apply), each one call of the
    same compiled program continuing from the previous segment's position and TFP kernel
    results (the step size and the dual-averaging state); segment ``k`` is seeded by row ``k``
    of ``split_seed(seed, k + 1)``, a function of ``(seed, k)`` alone. A segmented chain is a
    valid chain with the same adaptation schedule, but its draws differ from the one-call
    chain's (other seeds). ``checkpoint`` (a ``tf.train.CheckpointManager`` or a directory):
    restore the latest checkpoint, if any, and continue from it; save (``NutsState``) the last
    trace, the position, the kernel results, the kept draws so far, the step and segment
    counters and the seed after the last segment and, after a segment crossing a multiple of
    ``checkpoint_every`` steps (warm-up included), when ``checkpoint_secs`` seconds have passed
    since the last save (0: every time). A run interrupted after any segment and resumed ends
    bit for bit equal to the same segmented run never interrupted (with the same
    ``checkpoint_every`` / ``summary_every``, ``jit_compile`` and settings; a checkpoint made
    with another ``num_warmup``, ``step_size``, ``target_accept_prob`` or ``max_tree_depth``, of
    another model or selection, with another explicit ``seed``, or past
    ``num_warmup + num_samples`` raises ``CheckpointError`` and nothing is overwritten).
    Stopping early by a smaller ``num_samples`` and resuming with a larger one is such an
    interruption when the smaller run ends at a segment boundary of the larger one.
    ``summary`` (a ``tf.summary`` writer or a log directory): at the step that ends each segment
    (warm-up included), the TensorBoard scalars ``step_size`` (the adapted step size the next
    step uses), ``acceptance_rate`` (the segment's mean of NUTS's ``is_accepted``) and
    ``log_joint`` (the last trace's score), and once the compiled segment's graph.
    ``progress``: a progress bar per segment with the acceptance rate (segmented runs only)."""
    transform = needs_transform(trace, selection)  # a function of the key's static structure
    values = None if transform else _gradient(trace, selection, "nuts")[0]
    key, tensors = static_key(trace, values)
    if checkpoint is not None or summary is not None:
        settings = (num_warmup, step_size, target_accept_prob, max_tree_depth)
        return _segmented(trace, selection, transform, values, key, tensors, num_samples, settings, seed,
                          jit_compile, checkpoint, checkpoint_every, checkpoint_secs, summary, summary_every,
                          progress)

    def build():
        def run(tensors, seed):
            trace, values = unpack(key, tensors)
            chain = lambda log_prob, z0, trace_fn: _chain(
                log_prob, z0, trace_fn, num_samples, num_warmup, step_size, target_accept_prob,
                max_tree_depth, seed)
            if transform:
                return _run_unconstrained(trace, selection, chain)
            x0 = tf.concat([tf.reshape(tf.cast(v, trace.score.dtype), [-1]) for _, v in values.items()], 0)

            def log_prob(x):
                return update(trace, constraints=from_array(values, x))[0].score

            xs, accepted = chain(log_prob, x0, lambda _, results: results.inner_results.is_accepted)
            last = update(trace, constraints=from_array(values, xs[-1]))[0]
            return last, _rows(values, xs), accepted
        return run

    out = run_compiled(trace.gen_fn, ("nuts", key, selection, num_samples, num_warmup, step_size,
                                      target_accept_prob, max_tree_depth), build,
                       (tensors, as_seed(seed)), jit_compile)
    if out is None:
        raise TypeError("nuts: the model's structure must not depend on random values")
    return out


def _target(trace, selection, values, transform):
    """The chain's target on its state ``z`` (``x``, or ``u`` when transformed):
    ``(log_prob, z0, to_x, last, proto)``, ``to_x(z)`` the flat choices, ``last(z)`` the trace."""
    if transform:
        _, z0, _, _, proto = evaluate(trace, selection, "nuts", gradient=False)
        at = lambda u: evaluate(trace, selection, "nuts", u, gradient=False)
        return (lambda u: at(u)[2]), z0, (lambda u: to_array(at(u)[4], z0.dtype)), (lambda u: at(u)[0]), proto
    z0 = tf.concat([tf.reshape(tf.cast(v, trace.score.dtype), [-1]) for _, v in values.items()], 0)
    at = lambda x: update(trace, constraints=from_array(values, x))[0]
    return (lambda x: at(x).score), z0, (lambda x: x), at, values


def _kernel(log_prob, dtype, num_warmup, step_size, target_accept_prob, max_tree_depth):
    """TFP's NUTS inside dual-averaging step-size adaptation over the first ``num_warmup`` steps."""
    return tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(log_prob, tf.cast(step_size, dtype), max_tree_depth=max_tree_depth),
        num_adaptation_steps=num_warmup, target_accept_prob=tf.cast(target_accept_prob, dtype))


def _segmented(trace, selection, transform, values, key, tensors, num_samples, settings, seed, jit_compile,
               checkpoint, checkpoint_every, checkpoint_secs, summary, summary_every, progress):
    """``nuts`` with checkpoints and/or summaries: the chain in segments (``nuts``'s docstring).
    Two compiled programs: ``start`` (the initial position, kernel results and an empty sample
    map) and ``segment`` (``length`` steps of ``sample_chain`` from a position and kernel results)."""
    check_every("nuts", checkpoint_every, summary_every)
    num_warmup = settings[0]
    total = num_warmup + num_samples
    owner = trace.gen_fn

    def build_start():
        def run(tensors):
            trace, values = unpack(key, tensors)
            log_prob, z0, _, _, proto = _target(trace, selection, values, transform)
            results = _kernel(log_prob, z0.dtype, *settings).bootstrap_results(z0)
            return z0, tf.nest.flatten(results), _rows(proto, tf.zeros([0, z0.shape[0]], z0.dtype))
        return run

    out = run_compiled(owner, ("nuts-start", key, selection) + settings, build_start, (tensors,), jit_compile)
    if out is None:
        raise TypeError("nuts: the model's structure must not depend on random values")
    position, results, empty = out
    state = NutsState(trace, as_seed(seed), empty, position, results, settings,
                      ("num_warmup", "step_size", "target_accept_prob", "max_tree_depth"))
    manager = manager_for(checkpoint, state, "nuts")
    restore(manager, state, None if seed is None else as_seed(seed).numpy(), "nuts")
    if state.done > total:
        raise CheckpointError(f"nuts: the checkpoint {manager.latest_checkpoint!r} is at step {state.done}, "
                              f"past num_warmup + num_samples = {total}")
    summaries = Summaries(summary, where="nuts") if summary is not None else None
    length = segment_length(manager, summaries, checkpoint_every, summary_every)

    def segment_key(n):
        return ("nuts-segment", key, selection, n) + settings

    def build_segment(n):
        def build():
            def run(tensors, seed, z, flat):
                trace, values = unpack(key, tensors)  # the starting trace: its other choices are fixed
                log_prob, _, to_x, last, proto = _target(trace, selection, values, transform)
                kernel = _kernel(log_prob, z.dtype, *settings)
                results = tf.nest.pack_sequence_as(kernel.bootstrap_results(z), flat)  # structure only
                zs, (xs, accepted), final = tfp.mcmc.sample_chain(
                    n, z, previous_kernel_results=results, kernel=kernel, seed=seed,
                    trace_fn=lambda z, r: (to_x(z), r.inner_results.is_accepted), return_final_kernel_results=True)
                return (last(zs[-1]), _rows(proto, xs), accepted, zs[-1], tf.nest.flatten(final),
                        final.new_step_size)
            return run
        return build

    def run(done):
        end = min(done + length, num_warmup if done < num_warmup else total)
        seed_k = split_seed(state.seed, state.segment + 1)[state.segment]
        new, rows, accepted, z, flat, size = run_compiled(
            owner, segment_key(end - done), build_segment(end - done),
            (tensors, seed_k, state.position, state.kernel_results), jit_compile)
        kept = end > num_warmup
        state.advance(end, new, z, flat, rows if kept else None, accepted if kept else None)
        graph = lambda: program_graph(owner, segment_key(end - done), None)
        return end, accepted, graph, dict(step_size=float(size), log_joint=new.get_score())

    drive_segments("nuts", run, state.done, total, lambda: state.save(manager), manager is not None,
                   checkpoint_every, checkpoint_secs, summaries, progress)
    if not state.samples:  # num_samples == 0
        return state.trace, empty, tf.zeros([0], tf.bool)
    return state.result()


def _chain(log_prob, z0, trace_fn, num_samples, num_warmup, step_size, target_accept_prob,
           max_tree_depth, seed):
    """TFP's NUTS with dual-averaging step-size adaptation from ``z0``: ``(states, traced)``."""
    kernel = _kernel(log_prob, z0.dtype, num_warmup, step_size, target_accept_prob, max_tree_depth)
    return tfp.mcmc.sample_chain(num_samples, z0, kernel=kernel, num_burnin_steps=num_warmup,
                                 seed=seed, trace_fn=trace_fn)


def _run_unconstrained(trace, selection, chain):
    """The chain on ``u``; each kept state is mapped back to the choices ``x = f(u)``."""
    _, u0, _, _, values = evaluate(trace, selection, "nuts", gradient=False)
    dtype = u0.dtype

    def log_prob(u):
        return evaluate(trace, selection, "nuts", u, gradient=False)[2]

    def trace_fn(u, results):
        x = evaluate(trace, selection, "nuts", u, gradient=False)[4]
        return to_array(x, dtype), results.inner_results.is_accepted

    us, (xs, accepted) = chain(log_prob, u0, trace_fn)
    last = evaluate(trace, selection, "nuts", us[-1], gradient=False)[0]
    return last, _rows(values, xs), accepted


def _rows(proto, xs):
    """``from_array`` applied to every row of ``xs``: a choice map of stacked values."""
    out, start = ChoiceMap(), 0
    for path, value in proto.items():
        shape = value.shape.as_list()
        size = 1
        for d in shape:
            size *= d
        out.set(path, tf.cast(tf.reshape(xs[:, start:start + size], [-1] + shape), value.dtype))
        start += size
    return out
