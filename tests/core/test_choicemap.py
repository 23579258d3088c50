import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import choicemap, from_array, merge, to_array


def test_hierarchical_paths_and_submaps():
    cm = choicemap({"slope": 1.0, ("y", 0): 2.0, ("y", 1): 3.0})
    assert cm["slope"] == 1.0 and cm[("y", 1)] == 3.0
    assert cm.has_value("slope") and not cm.has_value("y") and cm.has_submap("y")
    sub = cm.get_submap("y")
    assert dict(sub.get_values_shallow()) == {0: 2.0, 1: 3.0}
    assert [k for k, _ in cm.get_submaps_shallow()] == ["y"]
    assert cm.get_submap("absent").is_empty()
    assert len(cm) == 3


def test_setitem_as_in_the_seed_data_generator():
    cm = gentf.choicemap()
    for i, y in enumerate([3, 1, 4]):
        cm[("y", i)] = y
    assert cm.addresses() == [("y", 0), ("y", 1), ("y", 2)]


def test_missing_value_is_a_named_error():
    with pytest.raises(gentf.AddressError, match="'nope'"):
        choicemap({"a": 1.0})["nope"]


def test_value_and_submap_at_the_same_key_conflict():
    cm = choicemap({"a": 1.0})
    with pytest.raises(gentf.AddressError, match="already holds a value"):
        cm[("a", 0)] = 2.0


@pytest.mark.parametrize("bad", [1.5, None, True, ()])
def test_bad_keys(bad):
    with pytest.raises(gentf.AddressError):
        choicemap({bad: 1.0})


def test_merge_and_overlap():
    m = merge(choicemap({"a": 1.0}), {("b", 1): 2.0})
    assert m["a"] == 1.0 and m[("b", 1)] == 2.0
    with pytest.raises(gentf.AddressError, match="'a'"):
        merge(choicemap({"a": 1.0}), choicemap({"a": 2.0}))


def test_to_array_from_array_round_trip():
    cm = choicemap({"a": 1.0, ("b", 0): np.array([2.0, 3.0]), ("b", 1): np.ones((2, 2))})
    arr = to_array(cm, tf.float64)
    np.testing.assert_array_equal(arr.numpy(), [1, 2, 3, 1, 1, 1, 1])
    back = from_array(cm, arr * 2)
    np.testing.assert_array_equal(back[("b", 1)].numpy(), 2 * np.ones((2, 2)))
    assert back.addresses() == cm.addresses()


def test_choicemap_crosses_tf_function_and_while_loop():
    cm = choicemap({"a": tf.constant(1.0), ("b", 0): tf.constant(2.0), ("b", "c"): tf.constant(3.0)})

    @tf.function
    def double(m):
        return gentf.from_array(m, 2 * gentf.to_array(m))

    out = double(cm)
    assert isinstance(out, gentf.ChoiceMap)
    assert float(out[("b", "c")]) == 6.0
    _, looped = tf.while_loop(lambda i, m: i < 3, lambda i, m: (i + 1, double(m)), (0, cm))
    assert float(looped["a"]) == 8.0


def test_constraints_must_be_a_choicemap_or_dict():
    @gentf.gen
    def f():
        return None
    with pytest.raises(gentf.ConstraintTypeError, match="constraints"):
        gentf.generate(f, (), [1, 2])


def test_get_submap_of_a_value_is_a_named_error():
    cm = gentf.choicemap({"a": 1.0, ("b", 1): 2.0})
    with pytest.raises(gentf.NotASubmapError, match="'a'"):
        cm.get_submap("a")
    with pytest.raises(gentf.AddressError, match=r"\('b', 1\)"):
        cm.get_submap(("b", 1))
    assert cm.get_submap("b") == gentf.choicemap({1: 2.0})


def test_value_constraint_at_a_call_address_is_an_error():
    @gentf.gen
    def inner():
        return gentf.normal(0.0, 1.0) @ "z"

    @gentf.gen
    def outer():
        return inner() @ "a"

    with pytest.raises(gentf.UnvisitedConstraintError, match="'a'"):
        gentf.generate(outer, (), {"a": 1.0})
