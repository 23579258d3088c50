"""Gen programs as Gen.jl users write them: choice maps of any numbers, the call's float decided
by its data, ``len``/``for`` over array arguments in compiled bodies, batched traces that
iterate, namedtuple arguments. Each test runs the first (eager) and the second (compiled) call."""
import collections

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st
from scipy import stats

import gentf
from gentf import choicemap, gen, normal, bernoulli
from gentf.core.choicemap import pack, unpack

XS = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])


@gen
def line(xs):
    """Gen.jl's line model, literally: ``len`` and ``for`` over a numpy array argument."""
    slope = normal(0, 1) @ "slope"
    for i, x in enumerate(xs):
        normal(slope * x, 0.5) @ ("y", i)
    return len(xs)


def line_logp(slope, ys, xs):
    return stats.norm.logpdf(slope, 0, 1) + stats.norm.logpdf(ys, slope * xs, 0.5).sum()


# every kind of value a user may put in a choice map, observed at ("y", i)
MIXED = [0.5, np.float64(-0.25), np.float32(1.5), 2, np.array(0.75), tf.constant(-1.0)]


def mixed_observations():
    return choicemap({("y", i): v for i, v in enumerate(MIXED[:len(XS)])})


@pytest.mark.parametrize("call", [1, 2])
def test_mixed_number_kinds_in_generate_assess_update(call):
    obs = mixed_observations()
    ys = np.array([float(np.asarray(v)) for v in MIXED[:len(XS)]])
    trace, weight = gentf.generate(line, (XS,), obs, seed=call)
    slope = float(trace["slope"])
    assert trace["slope"].dtype == tf.float64  # the data are float64
    np.testing.assert_allclose(weight, line_logp(slope, ys, XS) - stats.norm.logpdf(slope, 0, 1), rtol=1e-10)
    np.testing.assert_allclose(gentf.get_score(trace), line_logp(slope, ys, XS), rtol=1e-10)
    complete = gentf.merge(obs, choicemap({"slope": np.float32(0.25)}))
    score, retval = gentf.assess(line, (XS,), complete)
    np.testing.assert_allclose(score, line_logp(0.25, ys, XS), rtol=1e-6)
    assert int(retval) == len(XS)
    new, w, _, discard = gentf.update(trace, constraints={"slope": 0.1, ("y", 0): np.float32(0.0)})
    ys2 = ys.copy()
    ys2[0] = 0.0
    np.testing.assert_allclose(w, line_logp(0.1, ys2, XS) - line_logp(slope, ys, XS), rtol=1e-6)
    assert float(discard[("y", 0)]) == 0.5


def test_mixed_number_kinds_in_importance_sampling_and_train():
    obs = mixed_observations()
    traces, log_w, _ = gentf.importance_sampling(line, (XS,), obs, 50, seed=3)
    assert not isinstance(traces, list) and log_w.dtype == tf.float64
    ys = np.array([float(np.asarray(v)) for v in MIXED[:len(XS)]])
    slopes = traces["slope"].numpy()
    lik = np.array([line_logp(s, ys, XS) - stats.norm.logpdf(s, 0, 1) for s in slopes])
    np.testing.assert_allclose(log_w, lik - np.logaddexp.reduce(lik), rtol=1e-8, atol=1e-10)

    @gen
    def regression(xs):
        w = gentf.param("w")
        for i, x in enumerate(xs):
            normal(w * x, 1.0) @ ("y", i)
    gentf.init_param(regression, "w", tf.constant(0.0, tf.float64))
    update = gentf.ParamUpdate(gentf.FixedStepGradientDescent(0.01), regression)
    scores = gentf.train(regression, lambda: ((XS,), mixed_observations()), update, num_epoch=2,
                         epoch_size=1, num_minibatch=1, minibatch_size=1)
    w = 0.0
    for _ in range(2):  # a gradient step per epoch: d/dw log p = sum x_i (y_i - w x_i)
        w += 0.01 * (np.dot(XS, ys) - w * np.dot(XS, XS))
    np.testing.assert_allclose(gentf.get_param(regression, "w"), w, rtol=1e-10)
    assert np.all(np.isfinite(scores))


VALUES = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False), st.integers(-2 ** 31, 2 ** 31), st.booleans(),
    st.floats(-1e3, 1e3).map(np.float64), st.floats(-1e3, 1e3, width=32).map(np.float32),
    st.integers(-100, 100).map(np.int32), st.lists(st.floats(-10, 10), min_size=1, max_size=3).map(np.array),
    st.floats(-10, 10, width=32).map(lambda v: tf.constant(v)),
    st.lists(st.integers(-5, 5), min_size=2, max_size=2).map(lambda v: tf.constant(v, tf.int64)))


def _dtype(v):
    return v.dtype if isinstance(v, tf.Tensor) else tf.as_dtype(np.asarray(v).dtype)


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=8))
def test_any_choicemap_packs_and_unpacks_to_equal_values_and_dtypes(values):
    cm = choicemap({("v", i): v for i, v in enumerate(values)})
    layout, arrays = pack(cm)
    back = unpack(layout, [tf.convert_to_tensor(a) for a in arrays])
    for i, v in enumerate(values):
        got = back[("v", i)]
        assert got.dtype == _dtype(v), (v, got)
        np.testing.assert_array_equal(got.numpy(), np.asarray(v))


def test_a_non_number_in_a_choicemap_is_a_named_error():
    with pytest.raises(gentf.ConstraintTypeError, match=r"\('y', 0\)"):
        gentf.generate(line, (XS,), {("y", 0): "high"})


# --- the call's float ------------------------------------------------------------------------

@pytest.mark.parametrize("call", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_literal_choices_take_the_float_of_the_data(dtype, call):
    trace, weight = gentf.generate(line, (XS.astype(dtype),), {("y", 0): 0.3}, seed=call)
    assert trace["slope"].dtype == dtype and weight.dtype == dtype and trace.score.dtype == dtype
    assert trace[("y", 1)].dtype == dtype


@pytest.mark.parametrize("call", [1, 2])
def test_python_number_data_take_set_default_float(call):
    xs = tuple(float(x) for x in XS)
    assert gentf.generate(line, (xs,), seed=call)[0]["slope"].dtype == tf.float32
    gentf.set_default_float(tf.float64)
    try:
        assert gentf.generate(line, (xs,), seed=call)[0]["slope"].dtype == tf.float64
        assert gentf.generate(line, (XS.astype(np.float32),), seed=call)[0]["slope"].dtype == tf.float32
    finally:
        gentf.set_default_float(tf.float32)


@gen
def inner():
    return normal(0, 1) @ "z"


@gen
def outer(x):
    z = inner() @ "in"
    return normal(z * x, 1.0) @ "y"


@pytest.mark.parametrize("call", [1, 2])
def test_nested_calls_inherit_the_call_float(call):
    trace = gentf.simulate(outer, (np.float64(2.0),), seed=call)
    assert trace[("in", "z")].dtype == tf.float64 and trace["y"].dtype == tf.float64
    assert gentf.simulate(outer, (np.float32(2.0),), seed=call)[("in", "z")].dtype == tf.float32


def test_compiled_kernels_keep_the_trace_float():
    trace, _ = gentf.generate(line, (XS,), {("y", i): 0.1 * i for i in range(len(XS))}, seed=0)
    for k in range(3):  # eager, then compiled
        trace, _ = gentf.mh(trace, gentf.select("slope"), seed=k)
        assert trace["slope"].dtype == tf.float64
    last, samples, _ = gentf.run_chain(lambda t, s: gentf.mh(t, gentf.select("slope"), seed=s)[0], trace, 3,
                                       seed=1, progress=False)
    assert last["slope"].dtype == tf.float64 and samples["slope"].dtype == tf.float64


@gen
def clash(x):
    s = normal(0, 1) @ "s"
    return normal(s * tf.constant(x, tf.float64) + tf.constant(1.0, tf.float32), 1.0) @ "y"


def test_a_dtype_clash_names_the_dtypes_the_address_and_the_remedy():
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError)) as info:
        gentf.simulate(clash, (2.0,))
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "float32 met float64" in note and "after address 's'" in note and "tf.cast" in note


# --- batched traces iterate ----------------------------------------------------------------

def test_batched_traces_iterate_like_a_vector_of_traces():
    obs = choicemap({("y", i): 0.2 * i for i in range(len(XS))})
    traces, log_w, _ = gentf.importance_sampling(line, (XS,), obs, 7, seed=5)
    assert len(traces) == 7
    members = list(traces)
    assert len(members) == 7
    for i, t in enumerate(members):
        assert float(t["slope"]) == float(traces["slope"][i])
        assert float(gentf.get_score(t)) == float(gentf.get_score(traces)[i])
        np.testing.assert_array_equal(gentf.get_args(t)[0], XS)
    assert float(gentf.particle(traces, 3)["slope"]) == float(members[3]["slope"])
    with pytest.raises(TypeError, match="single trace"):
        len(members[0])


@gen
def branching():
    if bernoulli(0.5) @ "b":
        return normal(1.0, 1.0) @ "x"
    return normal(-1.0, 1.0) @ "x"


def test_path_traces_and_particle_filter_traces_iterate():
    traces, _, _ = gentf.importance_sampling(branching, (), choicemap(), 6, seed=2)
    assert len(traces) == 6 and len(list(traces)) == 6

    @gen
    def step_model(t):
        for k in range(t):
            normal(0.0, 1.0) @ ("x", k)
    state = gentf.initialize_particle_filter(step_model, (1,), choicemap({("x", 0): 0.5}), 4, seed=0)
    assert [float(tr[("x", 0)]) for tr in gentf.get_traces(state)] == [0.5] * 4


Point = collections.namedtuple("Point", "x y")


@gen
def at_point(p):
    return normal(p.x * p.y, 1.0) @ "v"


@pytest.mark.parametrize("call", [1, 2])
def test_namedtuple_arguments_keep_their_class(call):
    p = Point(np.float64(2.0), np.float64(3.0))
    trace, w = gentf.generate(at_point, (p,), {"v": 1.0}, seed=call)
    args = gentf.get_args(trace)[0]
    assert isinstance(args, Point) and float(args.y) == 3.0
    np.testing.assert_allclose(w, stats.norm.logpdf(1.0, 6.0, 1.0), rtol=1e-10)
