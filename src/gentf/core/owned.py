"""Tables whose entries die with their keys: gentf's one ownership policy.

gentf keeps state per object: compiled programs per generative function or kernel owner
(``core.compile``), kernel and path owners per generative function (``inference``), assertion
ops per TF graph (``core.domain``), a gradient accumulator per Variable (``modeling.params``).
Such state often refers back to its object (a compiled program closes over its model, a graph's
ops refer to the graph), so a global table keyed by the object, even a
``weakref.WeakKeyDictionary``, would keep the object alive forever: the table's values are
strong references. An ``Owned`` table instead stores each value ON its key object, in the
attribute ``_gentf_owned`` (set with ``object.__setattr__``, and not a nest, so that Keras and
TF attribute tracking, ``tf.Module``'s variable search included, never see it): an object and
its values form at most a reference cycle, which Python's garbage collector frees once nothing
else refers to the object. A key is the object itself, not its value (an unhashable
``tf.Variable`` is a key as it is).

- A bound method's values live on the object it is bound to, per function, so every access
  ``obj.method`` (a new method object each time) finds the same values.
- A copy of an object (``copy.copy``, ``copy.deepcopy``, pickling) has none of its original's
  values: they record which object they belong to, and are neither copied nor pickled.
- An object that takes no attributes (a class, a builtin, an instance of a class with
  ``__slots__`` and no ``__dict__``) keeps its values in a weak table keyed by it instead
  (hashed as the object hashes): such an object lives as long as its values refer to it.
"""
import types
import weakref

_ATTR = "_gentf_owned"
_elsewhere = weakref.WeakKeyDictionary()  # the values of objects that take no attributes


class Owned:
    """A table ``{object: value}`` whose values are stored on their objects (module docstring):
    ``table[obj]``, ``table.get(obj, default)``, ``obj in table``, ``table[obj] = value`` and
    ``table.of(obj, make)`` (the value, made by ``make()`` on first use)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Owned({self.name!r})"

    def of(self, obj, make):
        """The value of ``obj``; made by ``make()`` and stored on first use."""
        obj, name = _holder(obj, self.name)
        table = _values(obj, create=True).table
        if name not in table:
            table[name] = make()
        return table[name]

    def get(self, obj, default=None):
        """The value of ``obj``, or ``default`` when it has none."""
        obj, name = _holder(obj, self.name)
        values = _values(obj, create=False)
        return default if values is None else values.table.get(name, default)

    def __getitem__(self, obj):
        value = self.get(obj, _MISSING)
        if value is _MISSING:
            raise KeyError(obj)
        return value

    def __contains__(self, obj):
        return self.get(obj, _MISSING) is not _MISSING

    def __setitem__(self, obj, value):
        obj, name = _holder(obj, self.name)
        _values(obj, create=True).table[name] = value


_MISSING = object()


class _Values:
    """The values of one object: ``table`` maps table names to values; ``owner_id`` is the
    object's ``id``."""

    __slots__ = ("owner_id", "table")

    def __init__(self, obj):
        self.owner_id, self.table = id(obj), {}

    def __reduce__(self):
        """Copied or pickled: empty, and belonging to no object."""
        return _Values, (None,)


def _holder(obj, name):
    """Where the values of ``obj`` live, and under which name: a bound method's on its object."""
    if isinstance(obj, types.MethodType):
        return obj.__self__, (name, obj.__func__)
    return obj, name


def _values(obj, create):
    """The ``_Values`` of ``obj`` (made when ``create``), or None."""
    try:
        values = object.__getattribute__(obj, _ATTR)
    except AttributeError:
        values = None
    if values is not None and values.owner_id == id(obj):
        return values
    try:
        values = _elsewhere.get(obj)
    except TypeError:  # not weak-referenceable, or unhashable: never kept there
        values = None
    if values is None and create:
        values = _Values(obj)
        try:  # object's own __setattr__: no Keras or TF attribute tracking
            object.__setattr__(obj, _ATTR, values)
        except (AttributeError, TypeError):  # takes no attributes
            _elsewhere[obj] = values
    return values
