"""Argdiffs: what the caller knows about how each argument (or a return value) changed."""


class Diff:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NoChange = Diff("NoChange")
UnknownChange = Diff("UnknownChange")


def all_unchanged(argdiffs):
    return all(d is NoChange for d in argdiffs)
