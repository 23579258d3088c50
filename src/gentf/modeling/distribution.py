"""The base class of distributions: primitive generative functions with one random choice.

A distribution is used in a @gen body as ``normal(mu, sigma) @ "x"``; outside any model
``normal(mu, sigma)`` draws a sample. Every concrete distribution is backed by a TFP
distribution (``tfp_dist``). A choice's score is ``logpdf(value, *args)``: the log density summed
over the batch shape, so a batch of parameters gives one vectorised choice.

Argument dtypes: floating arguments are promoted to one float dtype: float64 if any argument is a
float64 tensor or array, else float32 if any carries another float dtype; Python numbers are
weakly typed and adapt to the others, and a call with only Python numbers gets the default float
(``core.dtypes.set_default_float``).
"""
import inspect

import numpy as np
import tensorflow as tf

from ..core.address import show
from ..core.domain import check, nan_checks, validating
from ..core.dtypes import default_float
from ..core.gfi import GenerativeFunction, active_handler, PendingCall
from ..core.seeds import fresh_seed


def float_dtype(args):
    """The float dtype of a call: float64 if any argument carries float64, else float32 if any
    carries a float dtype, else (Python numbers, integers) the default float."""
    found = None
    for a in args:
        dt = getattr(a, "dtype", None)
        if dt is not None and tf.as_dtype(dt).is_floating:
            if tf.as_dtype(dt) == tf.float64:
                return tf.float64
            found = tf.float32
    return found or default_float()


def to_float(x, dtype):
    """Convert to a float tensor of ``dtype`` (casting ints and other floats)."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x if x.dtype == dtype else tf.cast(x, dtype)
    x = np.asarray(x)
    return tf.constant(x.astype(dtype.as_numpy_dtype) if x.dtype != dtype.as_numpy_dtype else x)


def as_dtype(value, dtype):
    """``value`` as a tensor of ``dtype`` (Python numbers converted without a float32 detour)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value if value.dtype == dtype else tf.cast(value, dtype)
    return tf.cast(tf.constant(np.asarray(value)), dtype)


def tfp_seed(seed):
    """A TFP seed: shape [2], int32 (gentf's seeds already are; others are cast)."""
    return seed if seed.dtype == tf.int32 else tf.cast(seed, tf.int32)


class Distribution(GenerativeFunction):
    """Subclasses set ``name``, ``discrete``, ``value_dtype`` and implement ``tfp_dist`` and
    ``arg_checks``; ``in_support`` is optional (values outside it get log density ``-inf``)."""

    name = "distribution"
    discrete = False
    finite_args = True  # float arguments must be finite (False: only not NaN, e.g. TFP logits)

    def __call__(self, *args):
        handler = active_handler()
        if handler is not None:
            return PendingCall(self, args, handler)
        args = self.convert_args(args)
        self.validate(args, None)
        return self.sample(fresh_seed(), *args)

    def __repr__(self):
        return self.name

    # --- to override -------------------------------------------------------------------
    def convert_args(self, args):
        """Arguments as tensors. Default: every argument is a float of the promoted dtype."""
        dtype = float_dtype(args)
        return tuple(to_float(a, dtype) for a in args)

    def tfp_dist(self, *args):
        raise NotImplementedError

    def arg_checks(self, *args):
        """``[(bool_tensor, message), ...]``: every element must be True for valid args."""
        return []

    def in_support(self, value, *args):
        """Elementwise bool tensor, or None when every value of the right dtype is valid."""
        return None

    def value_checks(self, value, *args):
        """``[(bool_tensor, message), ...]`` for an observed value, beyond the NaN and infinity
        checks: values that Gen.jl rejects with an error rather than a log density of ``-inf``
        (``categorical``: an index outside ``0..K-1``). Default: none."""
        return []

    def value_dtype(self, *args):
        """The dtype of this distribution's values."""
        return args[0].dtype if args else default_float()

    def value_shape(self, *args):
        """The static shape of one value: batch shape + event shape."""
        dist = self.tfp_dist(*args)
        return dist.batch_shape.concatenate(dist.event_shape)

    # --- shared machinery --------------------------------------------------------------
    def sample(self, seed, *args):
        return self.tfp_dist(*args).sample(seed=tfp_seed(seed))

    def log_prob(self, value, *args):
        """Elementwise log density (the batch shape); default: the TFP distribution's."""
        dist = self.tfp_dist(*args)
        return dist.log_prob(self._value_for_log_prob(value, dist))

    def log_density(self, value, *args):
        """Elementwise ``log p(value; args)`` (``log_prob``), ``-inf`` outside the support."""
        lp = self.log_prob(value, *args)
        ok = self.in_support(value, *args)
        return lp if ok is None else tf.where(ok, lp, tf.constant(-np.inf, lp.dtype))

    def logpdf(self, value, *args):
        """``sum log p(value; args)`` over the batch; ``-inf`` outside the support, never NaN
        for valid arguments."""
        return tf.reduce_sum(self.log_density(value, *args))

    def _value_for_log_prob(self, value, dist):
        return as_dtype(value, dist.dtype)

    def validate(self, args, path, pending=None):
        """Check the arguments' domain (``core.domain.check``). Eagerly: raise ``DomainError``
        naming the address. In a graph: add an assertion whose message names the address, or,
        when a list ``pending`` is given, append ``(condition, message)`` to it so that the
        caller emits one combined assertion for a whole body (``assert_all``)."""
        if not validating():
            return
        where = f"{self.name} at address {show(path)}" if path else self.name
        check([(cond, f"{where}: {message}") for cond, message in self.all_arg_checks(*args)], pending)

    def all_arg_checks(self, *args):
        """``finite_checks`` then ``arg_checks`` (a NaN argument is named as NaN, not as e.g.
        a scale that is not positive)."""
        return self.finite_checks(*args) + self.arg_checks(*args)

    def finite_checks(self, *args):
        """Every float tensor argument is not NaN and, with ``finite_args``, not infinite
        (``core.domain.nan_checks``), each named ("the argument std")."""
        names = _arg_names(type(self))
        found = []
        for i, a in enumerate(args):
            if isinstance(a, (tf.Tensor, tf.Variable)) and a.dtype.is_floating:
                name = names[i] if i < len(names) else f"{i + 1}"
                checks = nan_checks(a, f"the argument {name}")
                found += checks if self.finite_args else checks[:1]
        return found


_names = {}


def _arg_names(cls):
    """The names of a distribution's arguments: those of its ``arg_checks`` (``()`` for
    ``*args``: arguments are then numbered from 1)."""
    if cls not in _names:
        params = list(inspect.signature(cls.arg_checks).parameters.values())[1:]
        _names[cls] = tuple(p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD)
    return _names[cls]
