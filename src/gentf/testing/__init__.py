"""Testing tools for generative functions and samplers (public: use them in your own tests)."""
from .contract import check_gfi_contract
from .stats import (assert_mean_close, assert_prob_close, assert_uniform_ranks,
                    finite_difference_gradient, z_value)

__all__ = ["check_gfi_contract", "assert_mean_close", "assert_prob_close", "assert_uniform_ranks",
           "finite_difference_gradient", "z_value"]
