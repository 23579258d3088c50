"""Combinators: generative functions built from other generative functions (Gen.jl's Map,
Unfold, Recurse and Switch), with the full GFI and argdiff-aware incremental update."""
from .base import Combinator, CombinatorTrace
from .map import Map
from .recurse import Recurse
from .switch import Switch
from .unfold import Unfold

__all__ = ["Combinator", "CombinatorTrace", "Map", "Recurse", "Switch", "Unfold"]
