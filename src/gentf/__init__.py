"""gentf: Gen's probabilistic programming system on TensorFlow 2 and TensorFlow Probability."""
from .core.address import (EmptySelection, Selection, complement, select, selectall)
from .core.argdiffs import NoChange, UnknownChange
from .core.choicemap import ChoiceMap, choicemap, from_array, merge, to_array
from .core.errors import (AddressError, ArgumentError, ConstraintMismatchError, ConstraintTypeError,
                          DomainError, DuplicateAddressError, GentfError, MissingChoiceError,
                          NonDifferentiableError, NotInModelError, SelectionTypeError,
                          UnaddressedCallError, UnvisitedConstraintError)
from .core.gfi import (GenerativeFunction, Trace, accumulate_param_gradients, assess,
                       choice_gradients, generate, get_args, get_choices, get_gen_fn, get_retval,
                       get_score, project, propose, regenerate, simulate, update)
from .core.seeds import seed
from .modeling.distribution import Distribution
from .modeling.dsl import GenFunction, gen, splice
from .modeling.params import (get_param, get_param_grad, get_params, init_param, param, set_param,
                              zero_param_grad)
from .core.autocompile import set_auto_compile
from . import testing
