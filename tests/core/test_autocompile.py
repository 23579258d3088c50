"""Repeated eager GFI calls run compiled, with the same numbers; dynamic models stay eager."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import bernoulli, gen, normal
from gentf.core import compile as compiled


@gen
def chain(k):
    total = 0.0
    for i in range(k):
        total += normal(0.0, 1.0) @ ("x", i)
    return total


def test_compiled_calls_give_the_eager_numbers():
    runs = [gentf.simulate(chain, (5,), seed=7) for _ in range(3)]  # eager, compiled, compiled
    assert compiled._owners[chain].programs, "the repeated call was not compiled"
    for r in runs[1:]:
        assert r.get_choices() == runs[0].get_choices()
        np.testing.assert_allclose(r.score, runs[0].score, rtol=1e-6)
    cm = gentf.choicemap({("x", 0): 0.5})
    weights = [float(gentf.generate(chain, (5,), cm, seed=1)[1]) for _ in range(3)]
    assert weights[0] == pytest.approx(weights[1]) == pytest.approx(weights[2])
    updates = [gentf.update(runs[0], None, None, {("x", 1): 2.0}) for _ in range(3)]
    for u in updates:
        np.testing.assert_allclose(u[1], updates[0][1], rtol=1e-6)
        assert u[2] is gentf.UnknownChange
        np.testing.assert_allclose(u[3][("x", 1)], runs[0][("x", 1)])
    regens = [gentf.regenerate(runs[0], None, None, gentf.select(("x", 2)), seed=3) for _ in range(3)]
    assert regens[1][0].get_choices() == regens[0][0].get_choices()
    state = compiled._owners[chain]
    assert state.reason is None, "a static model fell back to eager"
    assert gentf.explain_compile(chain) is None
    methods = {key[0][0][0] for key in state.programs if key[0] != "concrete"}  # ((key, settings), jit)
    assert methods >= {"simulate", "generate", "update", "regenerate"}


@gen
def coin():
    if bernoulli(0.5) @ "h":
        normal(0.0, 1.0) @ "e"


def test_random_structure_falls_back_to_eager():
    for s in range(4):
        gentf.simulate(coin, (), seed=s)
    assert "OperatorNotAllowedInGraphError" in gentf.explain_compile(coin)


@gen
def scaled(s):
    return normal(0.0, s) @ "x"


def test_domain_errors_survive_compilation():
    for _ in range(3):
        with pytest.raises(gentf.DomainError, match="normal at address 'x'"):
            gentf.simulate(scaled, (tf.constant(-1.0),))


def test_auto_compile_can_be_turned_off():
    @gen
    def f():
        return normal(0.0, 1.0) @ "x"
    gentf.set_auto_compile(False)
    try:
        for _ in range(3):
            gentf.simulate(f, ())
        assert f not in compiled._owners
    finally:
        gentf.set_auto_compile(True)


@gen
def sloped(xs):
    slope = normal(tf.zeros([], xs.dtype), 1.0) @ "slope"
    return normal(slope * xs, 1.0) @ "ys"


def test_a_trace_with_tensor_arguments_is_a_while_loop_variable():
    trace = gentf.simulate(sloped, (tf.constant([1.0, 2.0]),), seed=0)

    def step(i, tr):
        new, _, _ = gentf.regenerate(tr, None, None, gentf.select("slope"), seed=tf.stack([0, i]))
        return i + 1, new
    _, last = tf.while_loop(lambda i, tr: i < 3, step, (tf.constant(0), trace))
    assert isinstance(last.args[0], tf.Tensor)
    np.testing.assert_array_equal(last.args[0], [1.0, 2.0])
    np.testing.assert_array_equal(last["ys"], trace["ys"])


@gen
def host_random_body():
    c = np.random.randn()  # host randomness: must not be frozen into a compiled program
    return normal(c, 1e-6) @ "x"


def test_host_randomness_is_never_replayed():
    """Issue repro: five simulate calls must give five different values (compiling would
    replay the trace-time draw); the reason is recorded."""
    np.random.seed(0)
    values = [float(gentf.simulate(host_random_body, (), seed=0)["x"]) for _ in range(5)]
    assert len(set(np.round(values, 3))) == 5, values
    assert "host randomness" in gentf.explain_compile(host_random_body)


@gen
def loop_over_rows(xs):
    slope = normal(0.0, 1.0) @ "slope"
    for i, x in enumerate(xs):  # iterating a (float64) argument with a static leading dim
        normal(slope * x, 1.0) @ ("y", i)
    return slope


def test_iterating_an_argument_compiles():
    xs = np.linspace(-1.0, 1.0, 4)  # float64 data: choices drawn as float64 too
    obs = gentf.choicemap({("y", i): float(i) for i in range(4)})
    gentf.set_default_float(tf.float64)
    try:
        weights = [float(gentf.generate(loop_over_rows, (xs,), obs, seed=3)[1]) for _ in range(3)]
    finally:
        gentf.set_default_float(tf.float32)
    assert weights[0] == pytest.approx(weights[1]) == pytest.approx(weights[2])
    assert gentf.explain_compile(loop_over_rows) is None
    assert compiled._owners[loop_over_rows].programs


def test_a_bug_while_tracing_is_raised_not_taken_for_a_dynamic_model():
    @gen
    def broken(x):
        normal(0.0, 1.0) @ "z"
        if not tf.executing_eagerly():
            raise KeyError("a bug that only shows while tracing")
        return x
    gentf.simulate(broken, (1.0,))  # eager
    with pytest.raises(KeyError, match="only shows while tracing"):
        gentf.simulate(broken, (1.0,))
    assert gentf.explain_compile(broken) is None


def test_programs_are_keyed_by_the_generator():
    # a program traced under the batched generator (importance sampling's eager loop) is not
    # reused by a later call under the native one, which gets its own (eager, then compiled)
    from gentf.core.seeds import vectorizable_randomness

    @gen
    def m():
        normal(0.0, 1.0) @ "x"

    seed = tf.constant([3, 4])
    with vectorizable_randomness():
        batched = [float(gentf.simulate(m, (), seed=seed)["x"]) for _ in range(2)]  # eager, compiled
    native = [float(gentf.simulate(m, (), seed=seed)["x"]) for _ in range(3)]
    assert batched[0] == batched[1] and native[0] == native[1] == native[2] and batched[0] != native[0]


def test_a_program_xla_cannot_compile_runs_as_a_plain_graph_and_says_why(caplog):
    """An op without an XLA kernel: the program runs as a plain graph from then on, and the log
    names the op (no silent fallback)."""
    class Owner:
        pass
    owner = Owner()
    body = lambda: lambda x: tf.strings.length(tf.strings.as_string(x))  # noqa: E731  (AsString: no XLA kernel)
    with caplog.at_level("INFO", logger="gentf"):
        for _ in range(2):
            out = compiled.run(owner, "strings", body, (tf.constant([1.0, 22.0]),), fallback=None, jit_compile=True)
            np.testing.assert_array_equal(out, [8, 9])
    assert len(compiled._state(owner).no_xla) == 1
    assert [r.getMessage() for r in caplog.records if "runs without XLA" in r.getMessage() and "AsString" in r.getMessage()]


def test_a_full_program_cache_says_so_once(monkeypatch, caplog):
    """Gen.jl's MAP tutorial updates one outlier flag per point: a constraint layout per point.
    More structures than the cache holds evict the oldest programs (re-traced when called again);
    gentf warns once per owner instead of slowing down silently."""
    @gen
    def points(n):
        for i in range(n):
            bernoulli(0.5) @ ("z", i)
    monkeypatch.setattr(compiled, "_MAX_PROGRAMS", 4)
    trace = gentf.simulate(points, (6,), seed=0)
    with caplog.at_level("WARNING", logger="gentf"):
        for _ in range(2):
            for i in range(6):
                for _ in range(2):  # eager, then compiled
                    gentf.update(trace, constraints={("z", i): True})
    warnings = [r for r in caplog.records if "cached programs" in r.getMessage()]
    assert len(warnings) == 1 and "re-traced" in warnings[0].getMessage()
    assert len(compiled._owners[points].programs) <= 4 + 1  # the newest concrete program joins after eviction
