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
