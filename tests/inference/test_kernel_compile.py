"""Kernels called eagerly one step at a time (Gen.jl's style) run as ONE cached compiled program
per call when the structure is static (``_compile.kernel_call``), give the same draws compiled per
call, compiled as a loop (``run_chain``) and eagerly, run inline inside a caller's graph, and fall
back to eager execution for models whose structure depends on random values.

The one statistical assertion (unseeded calls after ``gentf.seed``) uses the false-fail rate
a = 1e-4: a chain's mean has standard error sd / sqrt(ESS) (``gentf.ess``)."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import bernoulli, gen, normal, select
from gentf.core import compile as compiled
from gentf.inference._compile import kernel_owner
from gentf.testing.stats import assert_mean_close

A = 1e-4
CALLS = {"body": 0}
YS = [0.3, -0.2, 1.1, 0.7]


@gen
def model():
    CALLS["body"] += 1  # counts Python executions of the body (eager runs and tracings)
    mu = normal(0.0, 1.0) @ "mu"
    for i, y in enumerate(YS):
        normal(mu, 1.0) @ ("y", i)
    return mu


@gen
def model_vec():
    CALLS["body"] += 1
    mu = gentf.mvnormal(tf.zeros(1), tf.eye(1)) @ "mu"
    for i, y in enumerate(YS):
        normal(mu[0], 1.0) @ ("y", i)


@gen
def random_walk(trace, width):
    normal(trace["mu"], width) @ "mu"


@gen
def shift(trace, width):
    normal(0.0, width) @ "d"


def shift_involution(trace, fwd, fwd_ret, args):
    d = fwd["d"]
    new, w, _, _ = gentf.update(trace, constraints={"mu": trace["mu"] + d})
    return new, gentf.choicemap({"d": -d}), w


SEL = select("mu")
OBS = {("y", i): y for i, y in enumerate(YS)}
# name -> (kernel(trace, seed) returning a trace, model, kernel name, owner statics)
KERNELS = {
    "mh-selection": (lambda t, s: gentf.mh(t, SEL, seed=s)[0], model, "mh", ()),
    "mh-proposal": (lambda t, s: gentf.mh(t, random_walk, (0.5,), seed=s)[0], model, "mh", (random_walk, None)),
    "mh-involution": (lambda t, s: gentf.mh(t, shift, (0.5,), shift_involution, seed=s)[0], model, "mh",
                      (shift, shift_involution)),
    "hmc": (lambda t, s: gentf.hmc(t, SEL, L=4, eps=0.2, seed=s)[0], model, "hmc", ()),
    "mala": (lambda t, s: gentf.mala(t, SEL, 0.1, seed=s)[0], model, "mala", ()),
    "elliptical-slice": (lambda t, s: gentf.elliptical_slice(t, "mu", tf.zeros(1), tf.eye(1), seed=s),
                         model_vec, "elliptical_slice", ()),
    "map-optimize": (lambda t, s: gentf.map_optimize(t, SEL), model, "map_optimize", ()),
}


def start(fn):
    return gentf.generate(fn, (), OBS, seed=0)[0]


def steps(kernel, trace, seeds):
    """``mu`` after each step of ``kernel`` from ``trace``, and the last trace."""
    out = []
    for s in seeds:
        trace = kernel(trace, s)
        out.append(np.asarray(trace["mu"]).ravel()[0])
    return np.array(out), trace


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_one_compiled_program_per_call_with_the_eager_draws(name):
    kernel, fn, kname, statics = KERNELS[name]
    trace = start(fn)
    seeds = [3, 4, 5, 6, 7, 8]
    gentf.set_auto_compile(False)
    try:
        eager, _ = steps(kernel, trace, seeds)
    finally:
        gentf.set_auto_compile(True)
    head, last = steps(kernel, trace, seeds[:2])  # the first call eager, the second traced
    before = CALLS["body"]
    tail, _ = steps(kernel, last, seeds[2:])
    assert CALLS["body"] == before, "a compiled call ran the model's Python body"
    assert gentf.explain_compile(kernel_owner(fn, kname, *statics)) is None
    np.testing.assert_allclose(np.concatenate([head, tail]), eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mh-selection", "mh-involution", "hmc", "elliptical-slice"])
def test_compiled_as_a_loop_gives_the_per_call_draws(name):
    kernel, fn, _, _ = KERNELS[name]
    trace = start(fn)
    seeds = gentf.core.seeds.split_seed(gentf.core.seeds.as_seed(11), 5)
    per_call, _ = steps(kernel, trace, tf.unstack(seeds))
    _, samples, _ = gentf.run_chain(kernel, trace, 5, seed=11, jit_compile=False, progress=False)
    np.testing.assert_allclose(np.reshape(samples["mu"], [-1]), per_call, rtol=1e-5, atol=1e-6)


def _programs(owner):
    state = compiled._owners.get(owner)
    return 0 if state is None else len(state.programs)


def test_inside_a_callers_graph_the_kernel_runs_inline():
    trace = start(model)
    owner = kernel_owner(model, "hmc")
    before = _programs(owner)
    step = tf.function(lambda t, s: gentf.hmc(t, SEL, L=3, eps=0.25, seed=s))
    new, _ = step(trace, tf.constant([0, 9]))
    assert _programs(owner) == before  # no nested compiled program
    gentf.set_auto_compile(False)
    try:
        eager, _ = gentf.hmc(trace, SEL, L=3, eps=0.25, seed=tf.constant([0, 9]))
    finally:
        gentf.set_auto_compile(True)
    np.testing.assert_allclose(new["mu"], eager["mu"], rtol=1e-5)


@gen
def switching():
    """Random structure: the addresses depend on the coin."""
    if bernoulli(0.5) @ "coin":
        normal(0.0, 1.0) @ "a"
    else:
        normal(0.0, 1.0) @ "b"
    normal(0.0, 1.0) @ "c"


def test_a_random_structure_model_falls_back_to_eager_with_a_reason():
    trace = gentf.simulate(switching, (), seed=1)
    seen = set()
    for s in range(12):
        trace, _ = gentf.mh(trace, select("coin"), seed=s)
        seen.add(bool(trace["coin"]))
    assert seen == {True, False}
    assert gentf.explain_compile(kernel_owner(switching, "mh")) is not None
    # the kernel's fallback does not make the model's own GFI calls eager
    assert gentf.explain_compile(switching) is None or "mh" not in gentf.explain_compile(switching)


def test_unseeded_calls_are_reproducible_after_gentf_seed_and_sample_the_posterior():
    trace = start(model)
    runs = []
    for _ in range(2):
        gentf.seed(21)
        t, xs = trace, []
        for _ in range(5):
            t, _ = gentf.mh(t, SEL)
            xs.append(float(t["mu"]))
        runs.append(xs)
    assert runs[0] == runs[1]
    t, xs = trace, []
    for _ in range(1500):
        t, _ = gentf.mh(t, SEL)
        xs.append(float(t["mu"]))
    n = len(YS)
    xs = np.array(xs, np.float64)
    assert_mean_close(xs, sum(YS) / (n + 1), np.sqrt(1 / (n + 1)), n_eff=float(gentf.ess(xs)), false_fail_rate=A)


def test_a_new_step_size_or_prior_mean_is_an_input_not_a_new_program():
    state = {"t": start(model), "v": start(model_vec)}

    def sweep(i):
        state["t"], _ = gentf.hmc(state["t"], SEL, L=2, eps=0.1 + 0.05 * i, seed=i)
        state["t"], _ = gentf.mala(state["t"], SEL, 0.05 + 0.01 * i, seed=i)
        state["v"] = gentf.elliptical_slice(state["v"], "mu", [0.1 * i], [[1.0 + i]], seed=i)

    sweep(0)
    sweep(1)  # each kernel: eager once, then traced
    before = CALLS["body"]
    for i in range(2, 5):
        sweep(i)
    assert CALLS["body"] == before, "a new numeric argument retraced the kernel"
