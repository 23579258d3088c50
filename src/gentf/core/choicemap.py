"""Choice maps: hierarchical maps from addresses to the values of random choices.

A ``ChoiceMap`` is a trie. Each key holds either a *value* (a tensor, or anything convertible to
one) or a nested ``ChoiceMap``, never both. It is a nest in TensorFlow's sense
(``__tf_flatten__``): its addresses are static structure and its values are the components, so
choice maps pass through ``tf.function`` boundaries and ``tf.while_loop`` loop variables.
"""
import numpy as np
import tensorflow as tf

from .address import show, to_path
from .errors import AddressError, ConstraintTypeError, NotASubmapError
from .rows import stack


def _sort_key(key):
    return (isinstance(key, str), key)  # ints first, then strings: a total order


class ChoiceMap:
    """A trie of random-choice values. Build with ``choicemap({...})`` or ``cm[addr] = v``."""

    __slots__ = ("_entries",)

    def __init__(self, entries=None):
        self._entries = {} if entries is None else entries  # key -> value | ChoiceMap

    # --- reading -------------------------------------------------------------------------
    def _node(self, path):
        node = self
        for key in path:
            if not isinstance(node, ChoiceMap) or key not in node._entries:
                return None
            node = node._entries[key]
        return node

    def __getitem__(self, addr):
        path = to_path(addr)
        node = self._node(path)
        if node is None or isinstance(node, ChoiceMap):
            raise AddressError(f"no value at address {show(path)} in the choice map")
        return node

    def has_value(self, addr):
        node = self._node(to_path(addr))
        return node is not None and not isinstance(node, ChoiceMap)

    def has_submap(self, addr):
        return isinstance(self._node(to_path(addr)), ChoiceMap)

    def get_submap(self, addr):
        """The choice map below ``addr`` (empty if there is none). A value at ``addr`` is a
        ``NotASubmapError``: read it with ``cm[addr]``."""
        path = to_path(addr)
        node = self._node(path)
        if node is None:
            return ChoiceMap()
        if not isinstance(node, ChoiceMap):
            raise NotASubmapError(f"get_submap: the choice map holds a value, not a submap, at address "
                                  f"{show(path)} (read it with cm[{show(path)}])")
        return node

    def get_values_shallow(self):
        """``(key, value)`` pairs of the values directly at this level."""
        return [(k, v) for k, v in self._entries.items() if not isinstance(v, ChoiceMap)]

    def get_submaps_shallow(self):
        """``(key, submap)`` pairs of the submaps directly at this level."""
        return [(k, v) for k, v in self._entries.items() if isinstance(v, ChoiceMap)]

    def is_empty(self):
        return all(isinstance(v, ChoiceMap) and v.is_empty() for v in self._entries.values())

    def items(self):
        """All ``(path, value)`` pairs, depth first, in insertion order."""
        for key, node in self._entries.items():
            if isinstance(node, ChoiceMap):
                for rest, value in node.items():
                    yield (key,) + rest, value
            else:
                yield (key,), node

    def addresses(self):
        return [path for path, _ in self.items()]

    def __len__(self):
        return sum(1 for _ in self.items())

    def __iter__(self):
        raise TypeError("iterate a ChoiceMap with .items(), .get_values_shallow() or .get_submaps_shallow()")

    def __contains__(self, addr):
        return self.has_value(addr)

    # --- writing -------------------------------------------------------------------------
    def __setitem__(self, addr, value):
        self.set(to_path(addr), value)

    def set(self, path, value):
        node = self
        for i, key in enumerate(path[:-1]):
            child = node._entries.get(key)
            if child is None:
                child = node._entries[key] = ChoiceMap()
            elif not isinstance(child, ChoiceMap):
                raise AddressError(f"address {show(path)}: {show(path[:i + 1])} already holds a value")
            node = child
        last = path[-1]
        if isinstance(node._entries.get(last), ChoiceMap) and not isinstance(value, ChoiceMap):
            raise AddressError(f"address {show(path)} already holds a submap")
        node._entries[last] = value

    def set_submap(self, addr, submap):
        self.set(to_path(addr), as_choicemap(submap))

    # --- nest protocol -------------------------------------------------------------------
    def __tf_flatten__(self):
        keys = tuple(sorted(self._entries, key=_sort_key))
        meta, comps = [], []
        for k in keys:
            node = self._entries[k]
            if isinstance(node, ChoiceMap):
                sub_meta, sub_comps = node.__tf_flatten__()
                meta.append((k, sub_meta, len(sub_comps)))
                comps.extend(sub_comps)
            else:
                meta.append((k, None, 1))
                comps.append(node)
        return tuple(meta), tuple(comps)

    @classmethod
    def __tf_unflatten__(cls, meta, comps):
        entries, i = {}, 0
        for key, sub_meta, n in meta:
            if sub_meta is None:
                entries[key] = comps[i]
            else:
                entries[key] = cls.__tf_unflatten__(sub_meta, comps[i:i + n])
            i += n
        return cls(entries)

    # --- display -------------------------------------------------------------------------
    def __repr__(self):
        lines = ["ChoiceMap("]
        for path, value in self.items():
            v = value.numpy() if hasattr(value, "numpy") else value
            lines.append(f"  {show(path)}: {v}")
        return "\n".join(lines) + ")" if len(lines) > 1 else "ChoiceMap()"

    def __eq__(self, other):
        if not isinstance(other, ChoiceMap):
            return NotImplemented
        mine, theirs = dict(self.items()), dict(other.items())
        return mine.keys() == theirs.keys() and all(
            np.array_equal(np.asarray(mine[k]), np.asarray(theirs[k])) for k in mine)

    __hash__ = None


def choicemap(entries=None):
    """A choice map from ``{addr: value}`` (or ``(addr, value)`` pairs)."""
    cm = ChoiceMap()
    if entries is None:
        return cm
    if isinstance(entries, ChoiceMap):
        return entries
    pairs = entries.items() if hasattr(entries, "items") else entries
    for addr, value in pairs:
        if isinstance(value, dict):
            value = choicemap(value)
        cm.set(to_path(addr), value)
    return cm



def as_choicemap(obj, where="constraints"):
    """Accept a ChoiceMap, a dict of ``{addr: value}`` or None; anything else is an error."""
    if obj is None:
        return ChoiceMap()
    if isinstance(obj, ChoiceMap):
        return obj
    if isinstance(obj, dict):
        return choicemap(obj)
    raise ConstraintTypeError(f"{where}: expected a ChoiceMap or dict, got {type(obj).__name__}")


def merge(a, b):
    """The union of two choice maps; an address present in both is an error."""
    out = ChoiceMap()
    for cm in (a, b):
        for path, value in as_choicemap(cm).items():
            if out._node(path) is not None:
                raise AddressError(f"merge: address {show(path)} is in both choice maps")
            out.set(path, value)
    return out


def to_array(cm, dtype=tf.float32):
    """All values of ``cm`` flattened and concatenated into one vector, in ``items()`` order."""
    parts = [tf.reshape(tf.cast(v, dtype), [-1]) for _, v in as_choicemap(cm).items()]
    return tf.concat(parts, axis=0) if parts else tf.zeros([0], dtype)


def from_array(proto, array):
    """The inverse of ``to_array``: a choice map shaped like ``proto`` with values from ``array``."""
    array = tf.convert_to_tensor(array)
    out, start = ChoiceMap(), 0
    for path, value in as_choicemap(proto).items():
        value = tf.convert_to_tensor(value)
        size = int(np.prod(value.shape.as_list()))
        out.set(path, tf.cast(tf.reshape(array[start:start + size], value.shape), value.dtype))
        start += size
    if array.shape[0] is not None and start != array.shape[0]:
        raise ValueError(f"from_array: the array has {array.shape[0]} entries, the choice map {start}")
    return out


def tensorize(cm, where="constraints"):
    """A copy of ``cm`` whose Python-number values are numpy arrays (float64, int64 or bool), so
    that a compiled function takes them as tensors instead of retracing for each new number."""
    out = ChoiceMap()
    for path, value in as_choicemap(cm, where).items():
        out.set(path, value if isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)) else np.asarray(value))
    return out


_PYTHON_DTYPES = {bool: "bool", int: "int64", float: "float64"}  # as np.asarray types them


class Layout:
    """The static part of a packed choice map: ``groups`` is ``((dtype, shape), paths)`` per
    array. Hashable and opaque to ``nest.encode`` (one static leaf, however many addresses),
    so building a compiled call's key does not walk every address."""

    __slots__ = ("groups", "_hash")

    def __init__(self, groups):
        self.groups, self._hash = groups, hash(groups)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, Layout) and self._hash == other._hash and self.groups == other.groups


def _signature(value, path):
    """``(value, (dtype name, shape))``: a tensor as it is, a Python number as it is (typed as
    ``np.asarray`` types it: bool, int64, float64), anything else as a numpy array."""
    kind = type(value)
    if kind in _PYTHON_DTYPES:  # the common case, no conversion
        return value, (_PYTHON_DTYPES[kind], ())
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value, (value.dtype.name, tuple(value.shape))
    array = np.asarray(value)
    try:
        dtype = tf.as_dtype(array.dtype)
    except TypeError:
        dtype = None
    if dtype is None or not (dtype.is_floating or dtype.is_integer or dtype.is_bool or dtype.is_complex):
        raise ConstraintTypeError(f"choice map value at address {show(path)}: expected a number, array or "
                                  f"tensor, got {kind.__name__} ({array.dtype})")
    return array, (dtype.name, array.shape)


def pack(cm):
    """Group the values of ``cm`` by (dtype, shape) and stack each group into one array:
    returns ``(layout, arrays)`` with ``layout`` a hashable ``Layout``. Passing one stacked
    array per group into a compiled call costs one tensor conversion instead of one per choice.
    Values of different dtypes are never stacked together: a Python float and a ``np.float64``
    are both float64, a float32 tensor stays float32."""
    groups = {}
    for path, value in as_choicemap(cm).items():
        value, sig = _signature(value, path)
        paths, vals = groups.setdefault(sig, ([], []))
        paths.append(path)
        vals.append(value)
    layout, arrays = [], []
    for sig, (paths, vals) in groups.items():
        layout.append((sig, tuple(paths)))
        if any(isinstance(v, (tf.Tensor, tf.Variable)) for v in vals):
            arrays.append(stack([tf.convert_to_tensor(v, sig[0]) for v in vals]))  # rows of one tensor: it
        else:
            arrays.append(np.array(vals, dtype=sig[0]))
    return Layout(tuple(layout)), arrays


def unpack(layout, arrays):
    """The inverse of ``pack``."""
    out = ChoiceMap()
    for (_, paths), array in zip(layout.groups, arrays):
        for path, value in zip(paths, tf.unstack(tf.convert_to_tensor(array), num=len(paths))):
            out.set(path, value)
    return out
