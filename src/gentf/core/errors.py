"""Named exceptions. Every message names the address or argument at fault."""


class GentfError(Exception):
    """Base class of all gentf errors."""


class AddressError(GentfError, KeyError):
    """An address is malformed, or absent where it is required."""

    def __str__(self):  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class DuplicateAddressError(AddressError):
    """The same address was traced twice in one execution."""


class NotASubmapError(AddressError):
    """``get_submap(addr)`` of a choice map that holds a value, not a submap, at ``addr``."""


class UnvisitedConstraintError(AddressError):
    """A constraint was given at an address the model never visits."""


class MissingChoiceError(AddressError):
    """assess (or a replay) needed a choice that the choice map lacks."""


class UnvisitedSelectionError(AddressError):
    """A selection names an address at which the trace has no choice and no call (a misspelled
    address would otherwise select nothing)."""


class SelectionTypeError(GentfError, TypeError):
    """A selection argument is not a Selection."""


class ConstraintTypeError(GentfError, TypeError):
    """A constraints argument is not a ChoiceMap (or dict convertible to one), or is
    given where no constraints are accepted."""


class ConstraintMismatchError(GentfError, ValueError):
    """A constraint's shape or dtype does not match the choice at that address."""


class DomainError(GentfError, ValueError):
    """A distribution argument is outside its domain (e.g. a negative scale)."""


class UnaddressedCallError(GentfError):
    """A generative function was called inside a @gen body but never given an address."""


class NonDifferentiableError(GentfError, TypeError):
    """A gradient was requested for a discrete choice or a non-float argument."""


class ArgumentError(GentfError, ValueError):
    """A generative function got the wrong number, shape or dtype of arguments."""


class NotInModelError(GentfError, RuntimeError):
    """A modeling-only construct (param, splice) was used outside a @gen body."""


class SeedError(GentfError, ValueError):
    """A seed is not an int in [0, 2**63), a pair of 32-bit ints or an int tensor of shape [2]."""


class KernelError(GentfError, TypeError):
    """An MCMC kernel returned something other than a trace of the chain's model (or a pair
    ``(trace, accepted)``)."""


class InvolutionError(GentfError, ValueError):
    """An involutive-MCMC map applied twice did not return the starting trace and proposal."""
