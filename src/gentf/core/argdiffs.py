"""Argdiffs: what the caller knows about how each argument (or a return value) changed."""


class Diff:
    """An argdiff (Gen.jl's ``Diff``): ``NoChange`` says the argument (or return value) is the
    very same value as in the previous trace, so ``update``/``regenerate`` may skip the work
    that depends only on it; ``UnknownChange`` says it may have changed."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    # a nest with no tensors, so that diffs can be returned from tf.function
    def __tf_flatten__(self):
        return self.name, ()

    @classmethod
    def __tf_unflatten__(cls, name, _):
        return _BY_NAME[name]


NoChange = Diff("NoChange")
UnknownChange = Diff("UnknownChange")
_BY_NAME = {"NoChange": NoChange, "UnknownChange": UnknownChange}


def all_unchanged(argdiffs):
    return all(d is NoChange for d in argdiffs)
