"""The gradient samplers' unconstrained coordinates (``hmc``, ``mala``, ``nuts``).

A selected continuous choice ``x`` with bounded support (beta on (0, 1), gamma on (0, inf),
uniform(a, b), ...) is moved in unconstrained coordinates ``u`` with ``x = f(u)``, ``f`` the TFP
default event-space bijector of the choice's distribution
(``tfp_dist(*args).experimental_default_event_space_bijector()``: Sigmoid, Softplus, ...), as
NumPyro and TFP do. By the change of variables the target density of ``u`` is

    log pi(u) = log p(f(u)) + log |det J_f(u)|,

and the samplers run HMC / MALA / NUTS on ``log pi`` (its gradient by autodiff through ``f``);
the trace they return holds ``x = f(u)``, so the draws of ``x`` have the posterior ``p(x | rest)``.

Choices are visited in execution order and each ``f`` is built from the arguments of its
distribution *at the point being evaluated*: when a selected choice's arguments depend on another
selected choice (``x ~ gamma``, ``y ~ uniform(0, x)``) the map ``u -> x`` is triangular and its
Jacobian determinant is the product of the per-choice ones, so the formula above stays exact.

Where the arguments come from: a trace records, per address, the value, its score and the
distribution object, not the arguments. ``evaluate`` therefore replays the @gen body with every
choice constrained (as ``choice_gradients`` does), with a handler (``_Replay``) that receives each
choice's distribution and arguments; at a selected choice it builds ``f`` and maps ``u`` to ``x``.
This is the one place where inference reaches below the GFI (the GFI has no method returning a
choice's distribution arguments). Nested @gen calls are replayed the same way; the selected
choices inside any other generative function (combinators, TFFunction) cannot be reached by the
handler and keep their own coordinates (identity map), as before.

Choices whose support is all of R^n keep ``u = x`` (identity; no Jacobian, and no TFP object
built). When no selected choice can be bounded (``normal``, ``broadcasted_normal``, ``mvnormal``,
``cauchy``, ``laplace``, discrete selections) ``needs_transform`` is False: ``evaluate`` is then
``log p(x)`` and its gradient in one replay (``hmc`` and ``mala`` use it for every @gen trace;
``nuts`` keeps ``update`` for such models).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from ..core.address import show, subselection_at
from ..core.choicemap import ChoiceMap
from ..core.errors import NonDifferentiableError
from ..core.seeds import SeedStream
from ..modeling.distributions import Cauchy, Laplace, MvNormal, Normal
from ..modeling.dsl import GenFunction
from ..modeling.handlers import GenerateHandler
from ..modeling.trace import ChoiceRecord, DynamicTrace

tfb = tfp.bijectors
tfd = tfp.distributions

# Distributions whose support is all of R^n: their bijector is the identity (never built, which
# also avoids building TFP objects for ``normal``; see docs/choices.md).
_UNBOUNDED = (Normal, Cauchy, Laplace, MvNormal)


def _is_float(value):
    return tf.as_dtype(value.dtype).is_floating


def replayable(trace):
    """Can ``evaluate`` replay ``trace``: is it the trace of a @gen function?"""
    return isinstance(trace, DynamicTrace) and isinstance(trace.gen_fn, GenFunction)


def needs_transform(trace, selection):
    """True when some selected continuous choice of a @gen trace (top level or in nested @gen
    calls) may have bounded support, i.e. its distribution is not one of ``_UNBOUNDED``."""
    if not replayable(trace):
        return False
    for path, rec in trace.records.items():
        if isinstance(rec, ChoiceRecord):
            if (path in selection and not rec.dist.discrete and _is_float(rec.value)
                    and not isinstance(rec.dist, _UNBOUNDED)):
                return True
        else:
            sub = subselection_at(selection, path)
            if not sub.is_empty() and needs_transform(rec.trace, sub):
                return True
    return False


def bijector(dist, args):
    """``(f, u_event_ndims)`` for a choice of ``dist(*args)``; ``f`` is None for the identity.

    ``f`` is TFP's default event-space bijector. Two exceptions: a distribution without one (TFP
    returns None, e.g. a mixture of uniforms with different bounds: ``piecewise_uniform``) keeps
    its own coordinates; for a Dirichlet, whose default (``SoftmaxCentered``) cannot be built with
    TFP 0.25 and NumPy >= 2.4 (``np.reshape(newshape=)``), ``IteratedSigmoidCentered`` (also
    R^(K-1) -> simplex) replaces it."""
    if isinstance(dist, _UNBOUNDED):
        return None, 0
    tfp_dist = dist.tfp_dist(*args)
    try:
        f = tfp_dist.experimental_default_event_space_bijector()
    except TypeError:
        if not isinstance(tfp_dist, tfd.Dirichlet):
            raise
        f = tfb.IteratedSigmoidCentered()
    if f is None or isinstance(f, tfb.Identity):
        return None, 0
    return f, f.inverse_event_ndims(tfp_dist.event_shape.rank)


class _Coordinates:
    """The flat unconstrained vector ``u`` and what the replay accumulates.

    With ``u`` given, the selected choices are read from it in visit order (``x = f(u_i)``).
    With ``u=None`` the chain's current values are kept: ``u_i = f^-1(x)`` (a leaf of the tape,
    ``stop_gradient``) and ``x = f(u_i)``, so the gradient is taken at the trace's own point."""

    def __init__(self, who, dtype, tape, u=None):
        self.who, self.dtype, self.tape, self.u = who, dtype, tape, u
        self.start = 0
        self.pieces = []          # the pieces of u, in visit order
        self.log_det = []         # log |det J_f(u_i)| of the transformed choices
        self.values = ChoiceMap()  # the selected choices x = f(u), in visit order

    def coordinate(self, path, old, f=None, event_ndims=0):
        """The new value of the selected choice at ``path`` (``old`` is its current value)."""
        old = tf.convert_to_tensor(old)
        if not _is_float(old):
            raise NonDifferentiableError(
                f"{self.who}: the selection must hold only continuous choices; the choice at "
                f"address {show(path)} is discrete ({old.dtype.name})")
        u_shape = old.shape if f is None else f.inverse_event_shape(old.shape)
        if self.u is None:
            u = tf.stop_gradient(old if f is None else f.inverse(old))
            piece = tf.reshape(tf.cast(u, self.dtype), [-1])
            self.tape.watch(piece)
        else:
            size = u_shape.num_elements()
            piece = self.u[self.start:self.start + size]
            self.start += size
        self.pieces.append(piece)
        u = tf.reshape(tf.cast(piece, old.dtype), u_shape)
        if f is None:
            x = u
        else:
            x = tf.reshape(f.forward(u), old.shape)
            ldj = f.forward_log_det_jacobian(u, event_ndims=event_ndims)
            self.log_det.append(tf.cast(tf.reduce_sum(ldj), self.dtype))
        self.values.set(path, x)
        return x


class _Replay(GenerateHandler):
    """Re-runs a @gen body with every choice constrained to the trace's values, except the
    selected ones, which come from the unconstrained coordinates."""

    def __init__(self, gen_fn, choices, selection, coords, prefix=()):
        super().__init__(gen_fn, choices, SeedStream(0))
        self.selection, self.coords, self.prefix = selection, coords, prefix

    def choice(self, path, dist, args):
        if path not in self.selection:
            return super().choice(path, dist, args)
        old = self.constraints[path]
        f, event_ndims = bijector(dist, args) if _is_float(tf.convert_to_tensor(old)) else (None, 0)
        value = self.coords.coordinate(self.prefix + path, old, f, event_ndims)
        return value, dist.logpdf(value, *args)

    def call(self, path, gen_fn, args):
        selection = subselection_at(self.selection, path)
        if selection.is_empty():
            return super().call(path, gen_fn, args)
        choices = self.constraints.get_submap(path)
        if isinstance(gen_fn, GenFunction):
            return gen_fn._run(_Replay(gen_fn, choices, selection, self.coords, self.prefix + path), args)
        # another generative function: its selected choices are coordinates of their own (u = x)
        constraints = ChoiceMap()
        for rel, value in choices.items():
            if rel in selection:
                value = self.coords.coordinate(self.prefix + path + rel, value)
            constraints.set(rel, value)
        return gen_fn._generate(args, constraints, self.child_seeds())[0]


def evaluate(trace, selection, who, u=None, gradient=True):
    """The target at ``u`` (default: the trace's own point ``u = f^-1(x)``).

    Returns ``(new_trace, u, log_pi, grad, values)``: the trace holding ``x = f(u)`` (its score is
    ``log p(x)``), the flat vector ``u``, ``log pi(u) = log p(f(u)) + sum log |det J_f(u)|``, its
    gradient with respect to ``u`` (None unless ``gradient``), and the selected choices ``x`` as a
    choice map (in visit order)."""
    dtype = trace.score.dtype
    with tf.GradientTape() as tape:
        if u is not None:
            u = tf.convert_to_tensor(u, dtype)
            tape.watch(u)
        coords = _Coordinates(who, dtype, tape, u)
        new = trace.gen_fn._run(_Replay(trace.gen_fn, trace.get_choices(), selection, coords), trace.args)
        log_pi = tf.add_n([new.score] + coords.log_det) if coords.log_det else new.score
    if u is None:
        u = tf.concat(coords.pieces, 0) if coords.pieces else tf.zeros([0], dtype)
        if not gradient:
            return new, u, log_pi, None, coords.values
        grads = tape.gradient(log_pi, coords.pieces, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grad = tf.concat(grads, 0) if grads else tf.zeros([0], dtype)
    else:
        if coords.start != (u.shape[0] if u.shape[0] is not None else coords.start):
            raise ValueError(f"{who}: u has {u.shape[0]} entries, the selected choices {coords.start}")
        if not gradient:
            return new, u, log_pi, None, coords.values
        grad = tape.gradient(log_pi, u, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return new, u, log_pi, grad, coords.values
