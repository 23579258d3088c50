"""Black-box variational inference, as Gen.jl's ``black_box_vi!`` and ``black_box_vimco!``.

The variational family is a generative function ``q(z; phi)`` (``var_model``) whose trainable
parameters ``phi`` are updated by a ``ParamUpdate`` (gradient *ascent* on the accumulators).
With ``z_s ~ q`` and ``log w_s = log p(y, z_s) - log q(z_s)`` (``assess`` of the model on the
observations merged with ``z_s``, minus the trace score of ``q``):

ELBO, score-function estimator (Gen.jl's; ``S = samples_per_iter``)::

    ELBO ~= (1/S) sum_s log w_s
    grad ~= (1/S) sum_s log w_s * d/dphi log q(z_s; phi)        accumulate_param_gradients(t_s, scale=log w_s / S)

ELBO, reparameterised (``reparam=True``): ``z_s = g(eps_s; phi)`` is a differentiable function
of ``phi`` (TFP's reparameterised samplers), and ``grad = (1/S) sum_s d/dphi [log p(y, g(eps_s;
phi)) - log q(g(eps_s; phi); phi)]``, the total derivative: it is the model's choice gradient
``d log p / dz`` times ``dz/dphi``, plus the derivative of ``- log q``. Every choice of ``q`` must be
continuous.

VIMCO (Mnih & Rezende 2016), ``K = num_samples`` per estimate, averaged over ``S`` estimates::

    L = log (1/K) sum_k w_k,   wbar_k = w_k / sum_j w_j
    grad ~= sum_k [(L - L_{-k}) - wbar_k] d/dphi log q(z_k; phi)

with the leave-one-out baseline ``L_{-k}``: ``L`` with ``log w_k`` replaced by the mean of the
other log weights (``geometric=True``) or ``w_k`` by the mean of the other weights.

Each iteration (all samples, the gradient accumulation and ``update.apply()``) is one compiled
graph, cached per static structure; the iteration loop runs in Python, with a progress bar,
checkpoints and TensorBoard summaries as ``train``'s (``learning/checkpoint.py``'s ``Loop``).
"""
import math

import tensorflow as tf

from ..core import compile as compiled
from ..core.choicemap import merge, tensorize
from ..core.errors import ArgumentError, NonDifferentiableError
from ..core.gfi import accumulate_param_gradients, assess, get_choices, simulate
from ..core.seeds import as_seed, split_seed
from ..learning.checkpoint import Loop, program_graph
from ..modeling.params import accumulate
from ._compile import loop_map, static_key, unpack


def _simulate_q(var_model, var_args, seeds):
    """One batched trace of ``var_model``, a sample per seed (inside a graph)."""
    return loop_map(lambda s: simulate(var_model, var_args, seed=s), seeds)


def _log_weights(model, args, observations, traces):
    """``log p(y, z_s) - log q(z_s)`` for every sample ``z_s`` of the batched q trace."""
    def one(trace):
        weight, _ = assess(model, args, merge(observations, get_choices(trace)))
        return tf.cast(weight, tf.float64) - tf.cast(trace.score, tf.float64)
    return loop_map(one, traces)


def _accumulate(traces, scales):
    """``accumulate_param_gradients(t_s, scale=scales[s])`` for every trace of a batch."""
    def one(elems):
        trace, scale = elems
        accumulate_param_gradients(trace, None, scale)
        return tf.zeros([])
    loop_map(one, (traces, scales), parallel_iterations=1)


def _accumulate_reparam(tape, objective, variables):
    """Add ``d objective / d variables`` to the variables' gentf gradient accumulators."""
    grads = tape.gradient(objective, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    accumulate(variables, grads)


def _check_continuous(traces):
    for path, value in get_choices(traces).items():
        if not value.dtype.is_floating:
            raise NonDifferentiableError(
                f"black_box_vi(reparam=True): the variational choice at {path} is discrete ({value.dtype.name})")


def _vi_step(model, args, obs, var_model, var_args, update, seeds, reparam):
    num = seeds.shape[0]
    if not reparam:
        traces = _simulate_q(var_model, var_args, seeds)
        log_w = _log_weights(model, args, obs, traces)
        _accumulate(traces, log_w / num)
    else:
        with tf.GradientTape() as tape:
            traces = _simulate_q(var_model, var_args, seeds)
            variables = [v for v in tape.watched_variables() if v.trainable]  # q's parameters
            _check_continuous(traces)
            log_w = _log_weights(model, args, obs, traces)
            objective = tf.reduce_mean(log_w)
        _accumulate_reparam(tape, objective, variables)
    update.apply()
    return traces, tf.reduce_mean(log_w)


def _vimco_baselines(log_w, geometric):
    """``L_{-k}`` for each column ``k`` of ``log_w`` ``[S, K]``: ``L`` with ``log w_k`` replaced by
    the mean of the other log weights (geometric) or ``w_k`` by the mean of the other weights
    (arithmetic; computed by a masked logsumexp, never by subtracting ``w_k`` from the total)."""
    k = log_w.shape[-1]
    eye = tf.eye(k, dtype=tf.bool)
    rows = tf.broadcast_to(log_w[:, None, :], [tf.shape(log_w)[0], k, k])      # [S, K(i), K(j)]
    if geometric:
        others = (tf.reduce_sum(log_w, -1, keepdims=True) - log_w) / (k - 1)
    else:
        minus_inf = tf.constant(-math.inf, log_w.dtype)
        others = tf.reduce_logsumexp(tf.where(eye, minus_inf, rows), -1) - math.log(k - 1)
    return tf.reduce_logsumexp(tf.where(eye, others[:, :, None], rows), -1) - math.log(k)


def _vimco_step(model, args, obs, var_model, var_args, update, seeds, num_samples, geometric):
    total = seeds.shape[0]
    traces = _simulate_q(var_model, var_args, seeds)
    log_w = _log_weights(model, args, obs, traces)
    lw = tf.reshape(log_w, [-1, num_samples])
    log_total = tf.reduce_logsumexp(lw, -1, keepdims=True)
    bound = log_total - math.log(num_samples)                                   # [S, 1]
    signal = (bound - _vimco_baselines(lw, geometric)) - tf.exp(lw - log_total)
    _accumulate(traces, tf.reshape(signal, [-1]) * num_samples / total)
    update.apply()
    return traces, tf.reduce_mean(bound)


def _run(step, model, args, observations, var_model, var_args, update, iters, num_draws, seed, static, loop):
    """``iters`` compiled iterations of ``step``; returns (last estimate, last traces, history).
    ``loop``: the progress / checkpoint / summary options (``learning.checkpoint.Loop``)."""
    key, tensors = static_key(tuple(args), tensorize(observations, "observations"), tuple(var_args))

    def build():
        def run(tensors, seeds):
            a, obs, vargs = unpack(key, tensors)
            return step(model, a, obs, var_model, vargs, update, seeds, *static)
        return run
    where = "black_box_vi" if step is _vi_step else "black_box_vimco"
    driver = Loop(where, {"model": var_model, "update": update}, as_seed(seed),
                  None if seed is None else as_seed(seed).numpy(), iters, update=update, **loop)
    seeds, traces = split_seed(driver.state.seed, iters), None  # row i: iteration i's seed
    try:
        program = (step.__name__, key, model, update, num_draws, static)
        for i in range(driver.first, iters):
            inputs = (tensors, split_seed(seeds[i], num_draws))
            traces, estimate = compiled.run(var_model, program, build, inputs, fallback=lambda: build()(*inputs))
            driver.end(i, float(estimate), graph=lambda: program_graph(var_model, program, inputs))
    finally:
        driver.close()
    history = [float(x) for x in driver.history[:iters]]
    return history[-1], traces, history


def black_box_vi(model, args, observations, var_model, var_model_args, update, iters=1000,
                 samples_per_iter=100, reparam=False, seed=None, progress=True, checkpoint=None,
                 checkpoint_every=100, checkpoint_secs=60.0, summary=None, histogram_every=100):
    """Gen.jl's ``black_box_vi!``: fit ``var_model``'s parameters to ``p(z | observations)`` by
    stochastic gradient ascent on the ELBO (score-function estimator, or the reparameterised one
    with ``reparam=True``). Returns ``(elbo_estimate, var_traces, elbo_history)``: the last
    iteration's estimate, its ``samples_per_iter`` variational traces (one batched trace) and
    the estimate of every iteration.

    ``progress`` (default True) shows a tqdm bar with the running estimate; False silences
    it. ``checkpoint`` (a ``tf.train.CheckpointManager`` or a directory): restore the latest
    checkpoint, if any (``var_model``'s parameters, the ``update``'s optimizer state, the
    iteration counter, the seed, the estimates so far), continue from its iteration, and save
    after the last iteration and, every ``checkpoint_every`` iterations, when ``checkpoint_secs``
    seconds have passed since the last save (0: every time); a resumed run equals the
    uninterrupted one bit for bit (iteration ``i``'s seed is row ``i`` of ``split_seed(seed,
    iters)``); when the checkpoint holds every iteration ``var_traces`` is None. ``summary`` (a
    ``tf.summary`` writer or a log directory): TensorBoard scalar ``objective`` (the estimate) per
    iteration, histograms ``params/<name>`` every ``histogram_every`` iterations and after the
    last, and the compiled iteration's graph once (``learning/checkpoint.py``). Raises ``CheckpointError`` for an unreadable or mismatched
    checkpoint."""
    return _run(_vi_step, model, args, observations, var_model, var_model_args, update, iters,
                samples_per_iter, seed, (bool(reparam),), dict(
                    progress=progress, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                    checkpoint_secs=checkpoint_secs, summary=summary, histogram_every=histogram_every))


def black_box_vimco(model, args, observations, var_model, var_model_args, update, num_samples,
                    iters=1000, samples_per_iter=100, geometric=True, seed=None, progress=True,
                    checkpoint=None, checkpoint_every=100, checkpoint_secs=60.0, summary=None, histogram_every=100):
    """Gen.jl's ``black_box_vimco!``: stochastic gradient ascent on the ``num_samples``-sample
    bound ``E[log (1/K) sum_k w_k]`` with VIMCO's leave-one-out baselines, each gradient the mean
    of ``samples_per_iter`` estimates. Returns ``(iwelbo_estimate, var_traces,
    iwelbo_history)``; ``var_traces`` is the last iteration's batch of
    ``samples_per_iter * num_samples`` traces. Loop options as ``black_box_vi``'s."""
    if num_samples < 2:
        raise ArgumentError("black_box_vimco: num_samples must be at least 2 (leave-one-out baselines)")
    return _run(_vimco_step, model, args, observations, var_model, var_model_args, update, iters,
                samples_per_iter * num_samples, seed, (num_samples, bool(geometric)), dict(
                    progress=progress, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                    checkpoint_secs=checkpoint_secs, summary=summary, histogram_every=histogram_every))
