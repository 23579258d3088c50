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
"""
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.choicemap import ChoiceMap, from_array, to_array
from ..core.gfi import update
from ..core.seeds import as_seed
from ._compile import run_compiled, static_key, unpack
from ._unconstrained import evaluate, needs_transform
from .gradient import _gradient


def nuts(trace, selection, num_samples=1000, num_warmup=500, step_size=0.1, target_accept_prob=0.8,
         max_tree_depth=10, seed=None, jit_compile=True):
    """Run NUTS on the selected choices. Returns ``(trace, samples, accepted)`` as ``run_chain``:
    the last trace, a choice map of the selected choices with a leading axis of length
    ``num_samples``, and the per-sample acceptance flags (warm-up draws are discarded)."""
    transform = needs_transform(trace, selection)  # a function of the key's static structure
    values = None if transform else _gradient(trace, selection, "nuts")[0]
    key, tensors = static_key(trace, values)

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


def _chain(log_prob, z0, trace_fn, num_samples, num_warmup, step_size, target_accept_prob,
           max_tree_depth, seed):
    """TFP's NUTS with dual-averaging step-size adaptation from ``z0``: ``(states, traced)``."""
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(log_prob, tf.cast(step_size, z0.dtype), max_tree_depth=max_tree_depth),
        num_adaptation_steps=num_warmup, target_accept_prob=tf.cast(target_accept_prob, z0.dtype))
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
