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
from .particle_filter import (ParticleFilterState, effective_sample_size, get_log_weights,
                              get_traces, initialize_particle_filter, log_ml_estimate,
                              maybe_resample, particle_filter_step, rejuvenate,
                              sample_unweighted_traces)
from .resume import ParticleFilterCheckpoint
from .vi import black_box_vi, black_box_vimco
from .wake_sleep import lecture, lecture_batched

__all__ = ["importance_sampling", "importance_resampling", "particle", "mh", "hmc", "mala", "nuts",
           "elliptical_slice", "map_optimize", "run_chain", "mcmc", "rhat", "ess", "to_arviz",
           "ParticleFilterState", "ParticleFilterCheckpoint", "initialize_particle_filter", "particle_filter_step",
           "maybe_resample", "rejuvenate", "log_ml_estimate", "get_traces", "get_log_weights",
           "sample_unweighted_traces", "effective_sample_size", "black_box_vi", "black_box_vimco",
           "lecture", "lecture_batched"]
