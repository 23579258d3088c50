"""Inference algorithms built only on the GFI: one module per algorithm (see each docstring)."""
from ._compile import particle
from .chain import mcmc, run_chain
from .diagnostics import ess, rhat, to_arviz
from .elliptical_slice import elliptical_slice
from .gradient import hmc, mala
from .importance import importance_resampling, importance_sampling
from .map_optimize import map_optimize
from .mh import mh
from .nuts import nuts

__all__ = ["importance_sampling", "importance_resampling", "particle", "mh", "hmc", "mala", "nuts",
           "elliptical_slice", "map_optimize", "run_chain", "mcmc", "rhat", "ess", "to_arviz"]
