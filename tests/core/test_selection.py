import pytest

import gentf
from gentf import EmptySelection, complement, select, selectall


def test_select_is_prefix_closed():
    s = select("a", ("b", 1))
    assert "a" in s and ("a", 3) in s and ("b", 1) in s and ("b", 1, "z") in s
    assert ("b", 2) not in s and "b" not in s and "c" not in s


def test_selectall_empty_and_complement():
    assert "x" in selectall() and ("x", 1) in selectall()
    assert "x" not in EmptySelection
    c = complement(select("a"))
    assert "a" not in c and ("a", 1) not in c and "b" in c and ("b", 2) in c
    assert complement(complement(select("a"))).__contains__("a")
    assert "q" in complement(EmptySelection)


def test_selection_type_errors_name_the_argument():
    with pytest.raises(gentf.SelectionTypeError, match="selection"):
        gentf.project(object.__new__(gentf.Trace), ["a"])
    with pytest.raises(gentf.SelectionTypeError):
        complement("a")


def test_membership_follows_gen_jl_in():
    """Gen.jl: ``x in select(x => y => z)`` is false (only the path x/y/z and below is selected)
    and ``addr in complement(s)`` is ``!(addr in s)``, so "x" is in the complement."""
    s = select(("x", "y", "z"))
    assert "x" not in s and ("x", "y") not in s
    assert ("x", "y", "z") in s and ("x", "y", "z", 1) in s
    c = complement(s)
    assert "x" in c and ("x", "y") in c and "other" in c
    assert ("x", "y", "z") not in c and ("x", "y", "z", 1) not in c
    assert ("x", "y", "z") in complement(c)


# --- a selection must name something the trace has (Gen.jl ignores such a selection) -------
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gentf import Map, Recurse, Switch, Unfold, bernoulli, gen, normal  # noqa: E402


@gen
def point(x):
    bernoulli(0.1) @ "is_outlier"
    normal(x, 1.0) @ "y"


@gen
def nothing():
    return 1.0


@gen
def model(xs):
    normal(0.0, 1.0) @ "mu"
    normal(0.0, 1.0) @ ("vec", 0)
    Map(point)(xs) @ "data"
    nothing() @ "helper"


XS = [0.0, 1.0, 2.0]


def _trace():
    return gentf.simulate(model, (XS,), seed=0)


MATCHING = [select("mu"), select("data"), select(("data", 2)), select(("data", 2, "is_outlier")),
            select("vec"), select(("vec", 0)), select("helper"), select("mu", ("data", 0, "y")),
            selectall(), EmptySelection, complement(select("muu")), complement(select("mu")), None]
NOT_MATCHING = [(select("muu"), "'muu'"), (select(("data", 3)), r"\('data', 3\)"),
                (select(("data", 1, "outlier")), r"\('data', 1, 'outlier'\)"),
                (select(("mu", 0)), r"\('mu', 0\)"), (select("mu", "sigma"), "'sigma'"),
                (select(("helper", "x")), r"\('helper', 'x'\)")]


def _same(a, b):
    assert a.get_choices() == b.get_choices() and float(a.score) == float(b.score)


@pytest.mark.parametrize("sel", MATCHING, ids=repr)
def test_a_selection_of_something_the_trace_has_is_accepted(sel):
    trace = _trace()
    gentf.regenerate(trace, selection=sel, seed=1)
    if sel is not None:
        gentf.mh(trace, sel, seed=1)


@pytest.mark.parametrize("sel,addr", NOT_MATCHING, ids=lambda x: repr(x))
def test_a_selection_naming_an_absent_address_is_an_error(sel, addr):
    trace = _trace()
    before = _trace()
    for call in (lambda: gentf.regenerate(trace, selection=sel, seed=1), lambda: gentf.mh(trace, sel, seed=1)):
        for _ in range(3):  # eagerly, then auto-compiled (the check runs while tracing)
            with pytest.raises(gentf.UnvisitedSelectionError, match=addr):
                call()
    assert issubclass(gentf.UnvisitedSelectionError, gentf.AddressError)
    _same(trace, before)


def test_the_selection_check_runs_inside_graphs_and_compiled_chains():
    trace = _trace()
    with pytest.raises(gentf.UnvisitedSelectionError, match="regenerate.*'muu'"):
        tf.function(lambda: gentf.regenerate(trace, selection=select("muu"), seed=1), autograph=False)()
    with pytest.raises(gentf.UnvisitedSelectionError, match="mh.*'muu'"):
        tf.function(lambda: gentf.mh(trace, select("muu"), seed=1), autograph=False)()
    for compile in (True, False):
        with pytest.raises(gentf.UnvisitedSelectionError, match="mh.*'muu'"):
            gentf.run_chain(lambda t, s: gentf.mh(t, select("muu"), seed=s), trace, 3, seed=0,
                            compile=compile, progress=False)
    _same(trace, _trace())


@gen
def walk_step(t, state):
    return normal(state, 1.0) @ "x"


@gen
def gaussian(mu):
    return normal(mu, 1.0) @ "x"


@gen
def flip(mu):
    return bernoulli(0.3) @ "z"


@gen
def production(depth):
    normal(0.0, 1.0) @ "v"
    return 0.0, [depth + 1] if depth < 1 else []


@gen
def aggregation(v, rets):
    return normal(v + sum(rets), 0.5) @ "o"


COMBINATOR_CASES = [
    (Unfold(walk_step), (3, 0.0), [select((2, "x")), select(1)], [(select((3, "x")), r"\(3, 'x'\)"),
                                                                    (select("x"), "'x'")]),
    (Switch(gaussian, flip), (0, 0.5), [select("x")], [(select("z"), "'z'")]),
    (Map(point), (XS,), [select((0, "y")), select(2)], [(select((0, "z")), r"\(0, 'z'\)")]),
    (Recurse(production, aggregation, 1), (0,), [select(("production", 1, "v")), select("aggregation")],
     [(select(("production", 2)), r"\('production', 2\)")]),
]


@pytest.mark.parametrize("fn,args,good,bad", COMBINATOR_CASES, ids=lambda x: repr(x)[:20])
def test_combinator_traces_are_checked_on_their_choices(fn, args, good, bad):
    trace = gentf.simulate(fn, args, seed=3)
    before = gentf.simulate(fn, args, seed=3)
    for sel in good:
        gentf.regenerate(trace, selection=sel, seed=4)
        gentf.mh(trace, sel, seed=4)
    for sel, addr in bad:
        with pytest.raises(gentf.UnvisitedSelectionError, match=addr):
            gentf.regenerate(trace, selection=sel, seed=4)
        with pytest.raises(gentf.UnvisitedSelectionError, match=addr):
            gentf.mh(trace, sel, seed=4)
    _same(trace, before)


@gen
def pair():
    mu = normal(0.0, 1.0) @ "mu"
    normal(mu, 1.0) @ "y"


def test_batched_traces_are_checked_on_their_choices():
    traces, _, _ = gentf.importance_sampling(pair, (), {"y": 0.5}, 4, seed=5)
    assert np.shape(traces["mu"]) == (4,)
    with pytest.raises(gentf.UnvisitedSelectionError, match="'muu'"):
        gentf.regenerate(traces, selection=select("muu"), seed=6)
    state = gentf.initialize_particle_filter(pair, (), {"y": 0.5}, 4, seed=7)
    gentf.rejuvenate(state, lambda t, s: gentf.mh(t, select("mu"), seed=s), seed=8)
    assert state.batched
    mus = np.asarray(gentf.get_traces(state)["mu"])
    with pytest.raises(gentf.UnvisitedSelectionError, match="'muu'"):
        gentf.rejuvenate(state, lambda t, s: gentf.mh(t, select("muu"), seed=s), seed=8)
    np.testing.assert_array_equal(gentf.get_traces(state)["mu"], mus)
