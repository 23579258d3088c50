"""gentf: Gen's probabilistic programming system on TensorFlow 2 and TensorFlow Probability."""
from .core.address import (EmptySelection, Selection, complement, select, selectall)
from .core.argdiffs import NoChange, UnknownChange
from .core.choicemap import ChoiceMap, choicemap, from_array, merge, to_array
from .core.errors import (AddressError, ArgumentError, ConstraintMismatchError, ConstraintTypeError,
                          DomainError, DuplicateAddressError, GentfError, InvolutionError,
                          KernelError, MissingChoiceError, NonDifferentiableError, NotASubmapError,
                          NotInModelError, SeedError, SelectionTypeError, UnaddressedCallError,
                          UnvisitedConstraintError, UnvisitedSelectionError)
from .core.gfi import (GenerativeFunction, Trace, accumulate_param_gradients, assess,
                       choice_gradients, generate, get_args, get_choices, get_gen_fn, get_retval,
                       get_score, project, propose, regenerate, simulate, update)
from .core.seeds import seed
from .core.domain import set_validate_args
from .core.dtypes import set_default_float
from .core.compile import DynamicStructureError, explain_compile, set_auto_compile
from .modeling.distribution import Distribution
from .modeling.distributions import (bernoulli, beta, beta_uniform, binom, broadcasted_normal,
                                     categorical, cauchy, dirichlet, exponential, gamma, geometric,
                                     inv_gamma, laplace, mvnormal, neg_binom, normal,
                                     piecewise_uniform, poisson, tfp_distribution, uniform,
                                     uniform_discrete)
from .modeling.dsl import GenFunction, gen, splice
from .modeling.params import (get_param, get_param_grad, get_params, init_param, param, set_param,
                              zero_param_grad)
from . import testing

# --- combinators (Map, Unfold, Recurse, Switch) ---
from .combinators import Map, Recurse, Switch, Unfold

# --- inference: importance sampling, MCMC, MAP, particle filtering, VI, wake-sleep ---
from .inference import (ParticleFilterState, black_box_vi, black_box_vimco, effective_sample_size,
                        elliptical_slice, ess, get_log_weights, get_traces, hmc,
                        importance_resampling, importance_sampling, initialize_particle_filter,
                        lecture, lecture_batched, log_ml_estimate, mala, map_optimize,
                        maybe_resample, mcmc, mh, nuts, particle, particle_filter_step, rejuvenate,
                        rhat, run_chain, sample_unweighted_traces, to_arviz)

# --- TensorFlow generative functions (TFFunction: graph form and eager form) ---
from .tf import (EagerTFFunction, GraphTFFunction, TFFunction, get_param_grad_tf_var,
                 get_session, reset_param_grads_tf_op, runtf)

# --- learning: parameter updates and supervised training (Gen.jl's ParamUpdate, train!) ---
from .learning import ADAM, FixedStepGradientDescent, GradientDescent, ParamUpdate, train
from .learning.checkpoint import CheckpointError

__all__ = [
    # addresses, selections, choice maps, argdiffs, errors, seeds, switches
    "EmptySelection", "Selection", "complement", "select", "selectall", "NoChange", "UnknownChange",
    "ChoiceMap", "choicemap", "from_array", "merge", "to_array",
    "AddressError", "ArgumentError", "ConstraintMismatchError", "ConstraintTypeError", "DomainError",
    "DuplicateAddressError", "GentfError", "InvolutionError", "KernelError", "MissingChoiceError",
    "NonDifferentiableError", "NotASubmapError", "NotInModelError", "SeedError", "SelectionTypeError",
    "UnaddressedCallError", "UnvisitedConstraintError", "UnvisitedSelectionError", "seed", "set_auto_compile", "set_validate_args", "set_default_float",
    "explain_compile", "DynamicStructureError",
    # the GFI
    "GenerativeFunction", "Trace", "accumulate_param_gradients", "assess", "choice_gradients",
    "generate", "get_args", "get_choices", "get_gen_fn", "get_retval", "get_score", "project",
    "propose", "regenerate", "simulate", "update",
    # modeling
    "Distribution", "bernoulli", "beta", "beta_uniform", "binom", "broadcasted_normal",
    "categorical", "cauchy", "dirichlet", "exponential", "gamma", "geometric", "inv_gamma",
    "laplace", "mvnormal", "neg_binom", "normal", "piecewise_uniform", "poisson",
    "tfp_distribution", "uniform", "uniform_discrete", "GenFunction", "gen", "splice",
    "get_param", "get_param_grad", "get_params", "init_param", "param", "set_param",
    "zero_param_grad", "testing",
    # combinators
    "Map", "Recurse", "Switch", "Unfold",
    # inference
    "ParticleFilterState", "black_box_vi", "black_box_vimco", "effective_sample_size",
    "elliptical_slice", "ess", "get_log_weights", "get_traces", "hmc", "importance_resampling",
    "importance_sampling", "initialize_particle_filter", "lecture", "lecture_batched",
    "log_ml_estimate", "mala", "map_optimize", "maybe_resample", "mcmc", "mh", "nuts", "particle",
    "particle_filter_step", "rejuvenate", "rhat", "run_chain", "sample_unweighted_traces",
    "to_arviz",
    # TensorFlow generative functions
    "EagerTFFunction", "GraphTFFunction", "TFFunction", "get_param_grad_tf_var", "get_session",
    "reset_param_grads_tf_op", "runtf",
    # learning
    "ADAM", "FixedStepGradientDescent", "GradientDescent", "ParamUpdate", "train", "CheckpointError",
]

# --- deep generative models: TFP distribution objects as choices, amortised VI with model learning ---
from .modeling.tfp_choices import tfp_choice
from .inference.amortized import SVI, svi
__all__ += ["tfp_choice", "SVI", "svi"]
