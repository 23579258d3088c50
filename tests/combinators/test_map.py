"""Map: exact scores and weights against hand-computed log densities, argdiff-aware update,
length changes, project, errors."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import Map, NoChange, UnknownChange, gen, normal, select

CALLS = []


@gen
def kernel(x, sigma):
    CALLS.append(1)
    return normal(x, sigma) @ "y"


MAP = Map(kernel)
XS = tf.constant([0.5, -1.0, 2.0], tf.float64)
SIG = [1.0, 0.5, 2.0]


def ys(trace):
    return np.array([float(trace[(i, "y")]) for i in range(len(trace.retval))])


def logp(y, xs, sig):
    return float(np.sum(stats.norm.logpdf(y, np.asarray(xs), np.asarray(sig))))


def test_simulate_score_and_retval():
    trace = gentf.simulate(MAP, (XS, SIG), seed=1)
    y = ys(trace)
    np.testing.assert_allclose(trace.score, logp(y, XS, SIG), rtol=1e-12)
    assert isinstance(trace.retval, list) and len(trace.retval) == 3
    np.testing.assert_allclose([float(r) for r in trace.retval], y)
    assert float(trace[(1,)]) == y[1]  # trace[i] is the return value of call i


def test_generate_weight_is_log_p_of_constraints():
    trace, w = gentf.generate(MAP, (XS, SIG), {(0, "y"): 0.3, (2, "y"): -1.0}, seed=2)
    y = ys(trace)
    assert y[0] == 0.3 and y[2] == -1.0
    np.testing.assert_allclose(w, logp([0.3, -1.0], [0.5, 2.0], [1.0, 2.0]), rtol=1e-12)
    np.testing.assert_allclose(trace.score, logp(y, XS, SIG), rtol=1e-12)


def test_update_constraint_reruns_only_that_call(eager):
    trace = gentf.simulate(MAP, (XS, SIG), seed=3)
    y = ys(trace)
    eager.clear()
    new, w, retdiff, discard = gentf.update(trace, (XS, SIG), (NoChange, NoChange), {(1, "y"): 0.25})
    assert len(eager) == 1
    np.testing.assert_allclose(w, logp(0.25, -1.0, 0.5) - logp(y[1], -1.0, 0.5), rtol=1e-12)
    assert discard == gentf.choicemap({(1, "y"): y[1]})
    assert retdiff is UnknownChange
    assert new.children[(0,)] is trace.children[(0,)]  # kept without rerunning


def test_update_changed_args_rescores_every_call():
    trace = gentf.simulate(MAP, (XS, SIG), seed=4)
    y = ys(trace)
    xs2 = XS * 2.0
    new, w, _, discard = gentf.update(trace, (xs2, SIG), (UnknownChange, NoChange))
    np.testing.assert_allclose(w, logp(y, xs2, SIG) - logp(y, XS, SIG), rtol=1e-12)
    np.testing.assert_allclose(new.score, logp(y, xs2, SIG), rtol=1e-12)
    assert discard.is_empty()


def test_update_list_argdiffs_per_element(eager):
    sig = list(SIG)
    trace = gentf.simulate(MAP, (XS, sig), seed=5)
    y = ys(trace)
    sig2 = [sig[0], 3.0, sig[2]]  # only element 1 is a new object
    eager.clear()
    _, w, _, _ = gentf.update(trace, (XS, sig2), (NoChange, UnknownChange))
    assert len(eager) == 1
    np.testing.assert_allclose(w, logp(y[1], -1.0, 3.0) - logp(y[1], -1.0, 0.5), rtol=1e-12)


def test_update_grows_and_shrinks(eager):
    trace = gentf.simulate(MAP, (XS, SIG), seed=6)
    y = ys(trace)
    xs4, sig4 = tf.concat([XS, [4.0]], 0), SIG + [1.5]
    eager.clear()
    grown, w, _, discard = gentf.update(trace, (xs4, sig4), (UnknownChange, UnknownChange), {(3, "y"): 4.5})
    np.testing.assert_allclose(w, logp(y, XS, SIG) - logp(y, XS, SIG) + logp(4.5, 4.0, 1.5), atol=1e-12)
    np.testing.assert_allclose(grown.score, logp(list(y) + [4.5], xs4, sig4), rtol=1e-12)
    assert discard.is_empty()

    shrunk, w, _, discard = gentf.update(trace, (XS[:2], SIG[:2]), (UnknownChange, UnknownChange))
    np.testing.assert_allclose(w, -logp(y[2], 2.0, 2.0), rtol=1e-12)
    np.testing.assert_allclose(shrunk.score, logp(y[:2], XS[:2], SIG[:2]), rtol=1e-12)
    assert discard == gentf.choicemap({(2, "y"): y[2]})
    assert len(shrunk.retval) == 2 and len(shrunk.get_choices()) == 2


def test_regenerate_selected_call():
    trace = gentf.simulate(MAP, (XS, SIG), seed=7)
    new, w, _ = gentf.regenerate(trace, (XS, SIG), (NoChange, NoChange), select((2, "y")), seed=8)
    y, y2 = ys(trace), ys(new)
    assert y2[0] == y[0] and y2[1] == y[1] and y2[2] != y[2]
    np.testing.assert_allclose(w, 0.0, atol=1e-12)
    xs2 = XS + 1.0
    new, w, _ = gentf.regenerate(trace, (xs2, SIG), (UnknownChange, NoChange), select((2, "y")), seed=8)
    y2 = ys(new)
    np.testing.assert_allclose(w, logp(y[:2], xs2[:2], SIG[:2]) - logp(y[:2], XS[:2], SIG[:2]), rtol=1e-12)


def test_project():
    trace = gentf.simulate(MAP, (XS, SIG), seed=9)
    y = ys(trace)
    np.testing.assert_allclose(gentf.project(trace, select((0, "y"), 2)),
                               logp([y[0], y[2]], [0.5, 2.0], [1.0, 2.0]), rtol=1e-12)


def test_unequal_lengths_is_argument_error():
    with pytest.raises(gentf.ArgumentError, match="unequal lengths"):
        gentf.simulate(MAP, (XS, [1.0, 2.0]))
    trace = gentf.simulate(MAP, (XS, SIG), seed=10)
    with pytest.raises(gentf.ArgumentError):
        gentf.update(trace, (XS, [1.0]), (NoChange, UnknownChange))


def test_unvisited_constraint():
    with pytest.raises(gentf.UnvisitedConstraintError, match=r"\(3, 'y'\)"):
        gentf.generate(MAP, (XS, SIG), {(3, "y"): 1.0})
    with pytest.raises(gentf.UnvisitedConstraintError, match="'z'"):
        gentf.generate(MAP, (XS, SIG), {"z": 1.0})
    with pytest.raises(gentf.UnvisitedConstraintError,
                       match=r"constraint at address .w.*inside the call at address 1"):
        gentf.generate(MAP, (XS, SIG), {(1, "w"): 1.0})
    trace = gentf.simulate(MAP, (XS, SIG), seed=11)
    with pytest.raises(gentf.UnvisitedConstraintError):
        gentf.update(trace, (XS, SIG), (NoChange, NoChange), {(5, "y"): 1.0})


def test_contract():
    gentf.testing.check_gfi_contract(MAP, (XS, SIG), new_args=(XS * 3.0, SIG))
