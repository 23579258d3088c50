"""Addresses and selections.

An address is a key (``str`` or ``int``) or a tuple of keys: the tuple ``("y", 3)`` is the
hierarchical path "y" then 3. Internally every address is normalised to a tuple *path*.

A selection is a set of addresses closed under extension: if ``a`` is selected then every
address below ``a`` (``a + rest``) is selected too, as in Gen.jl. Membership follows Gen.jl's
``in``: ``a in select(p)`` when ``p`` is ``a`` or a prefix of ``a`` (so ``"x"`` is not in
``select(("x", "y"))``: only ``x/y`` and below is), and ``a in complement(s)`` exactly when
``a not in s`` (so ``"x"`` is in ``complement(select(("x", "y")))``).
"""
import numpy as np

from .errors import AddressError, SelectionTypeError, UnvisitedSelectionError

Key = (str, int)


def _normalize_key(key, addr):
    if isinstance(key, (bool, np.bool_)):
        raise AddressError(f"address {addr!r}: a bool is not a valid key (use str or int)")
    if isinstance(key, (int, np.integer)):
        return int(key)
    if isinstance(key, str):
        return key
    raise AddressError(f"address {addr!r}: key {key!r} of type {type(key).__name__} is not a str or int")


def to_path(addr):
    """The tuple path of an address: ``"a" -> ("a",)``, ``("a", 1) -> ("a", 1)``."""
    kind = type(addr)
    if kind is tuple:
        if not addr:
            raise AddressError("the empty tuple is not an address")
        if all(type(k) is str or type(k) is int for k in addr):  # already a path (bool is not int)
            return addr
        return tuple(_normalize_key(k, addr) for k in addr)
    if kind is str or kind is int:
        return (addr,)
    return (_normalize_key(addr, addr),)


def show(path):
    """A readable form of a path, as the user would write it."""
    return repr(path[0]) if len(path) == 1 else repr(tuple(path))


class Selection:
    """A set of addresses. ``addr in sel`` tests membership (prefix-closed)."""

    def __contains__(self, addr):
        path = to_path(addr)
        sel = self
        for key in path:
            if sel.selects_all():
                return True
            sel = sel.get_subselection(key)
        return sel.selects_all()

    def get_subselection(self, key):
        """The selection of addresses ``rest`` such that ``(key,) + rest`` is selected."""
        raise NotImplementedError

    def selects_all(self):
        """True when every address (and the empty path) is selected."""
        return False

    def is_empty(self):
        return False

    def _key(self):
        raise NotImplementedError

    def __eq__(self, other):
        return isinstance(other, Selection) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class _Empty(Selection):
    """The selection of no address (Gen.jl's ``EmptySelection``): ``addr in EmptySelection`` is
    False for every address."""

    def get_subselection(self, key):
        return self

    def is_empty(self):
        return True

    def _key(self):
        return ("empty",)

    def __repr__(self):
        return "EmptySelection"


EmptySelection = _Empty()


class AllSelection(Selection):
    def get_subselection(self, key):
        return self

    def selects_all(self):
        return True

    def _key(self):
        return ("all",)

    def __repr__(self):
        return "selectall()"


class AddressSelection(Selection):
    """The union of the subtrees below a set of paths (a trie)."""

    def __init__(self, paths):
        self._children = {}  # key -> Selection (AllSelection at a leaf)
        for path in paths:
            self._insert(path)

    def _insert(self, path):
        key, rest = path[0], path[1:]
        child = self._children.get(key)
        if not rest:
            self._children[key] = AllSelection()
        elif isinstance(child, AllSelection):
            return
        else:
            if child is None:
                child = self._children[key] = AddressSelection(())
            child._insert(rest)

    def get_subselection(self, key):
        return self._children.get(key, EmptySelection)

    def is_empty(self):
        return not self._children

    def _key(self):
        return ("select", frozenset((k, c._key()) for k, c in self._children.items()))

    def __repr__(self):
        return f"select({', '.join(repr(k) for k in self._children)}...)"


class ComplementSelection(Selection):
    def __init__(self, inner):
        self._inner = check_selection(inner)

    def __contains__(self, addr):
        return addr not in self._inner

    def get_subselection(self, key):
        return complement(self._inner.get_subselection(key))

    def selects_all(self):
        return self._inner.is_empty()

    def is_empty(self):
        return self._inner.selects_all()

    def _key(self):
        return ("not", self._inner._key())

    def __repr__(self):
        return f"complement({self._inner!r})"


def select(*addrs):
    """The selection of the given addresses (and everything below them)."""
    return AddressSelection(to_path(a) for a in addrs)


def selectall():
    """The selection of every address."""
    return AllSelection()


def complement(sel):
    """Every address not in ``sel``."""
    sel = check_selection(sel)
    if isinstance(sel, ComplementSelection):
        return sel._inner
    if sel.is_empty():
        return AllSelection()
    return ComplementSelection(sel)


def check_selection(sel, where="selection"):
    if sel is None:
        return EmptySelection
    if not isinstance(sel, Selection):
        raise SelectionTypeError(f"{where}: expected a Selection (select(...), selectall(), ...), got {type(sel).__name__}")
    return sel


def named_paths(sel):
    """The addresses a ``select(...)`` names, as paths (those below another named one are part
    of it); none for ``selectall()``, ``EmptySelection`` and complements, which name no address."""
    if not isinstance(sel, AddressSelection):
        return []
    paths = []
    for key, child in sel._children.items():
        if child.selects_all():
            paths.append((key,))
        else:
            paths.extend((key,) + rest for rest in named_paths(child))
    return paths


def check_selected(sel, trace, where):
    """Raise ``UnvisitedSelectionError`` unless every address ``sel`` names holds something in
    ``trace``: a choice, a non-empty submap of choices (``select("data")``) or a call. Reads
    only the trace's structure (its addresses), so inside a graph it costs nothing at run time."""
    paths = named_paths(sel)
    if not paths:
        return
    choices = trace.get_choices()
    for path in paths:
        if choices.has_value(path) or not choices.get_submap(path).is_empty():
            continue
        try:
            trace[path]  # a call that makes no choice is there too
        except AddressError:
            raise UnvisitedSelectionError(
                f"{where}: the selection names address {show(path)}, at which the trace of "
                f"{trace.gen_fn!r} has no choice and no call (a misspelled address?)") from None


def subselection_at(sel, path):
    """The selection below a whole path."""
    for key in path:
        if sel.selects_all() or sel.is_empty():
            return sel
        sel = sel.get_subselection(key)
    return sel
