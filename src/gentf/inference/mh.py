"""Metropolis-Hastings: three kernels behind one ``mh``, as Gen.jl's ``metropolis_hastings``.

Each proposes a new trace ``t'`` and accepts it with probability ``min(1, exp(alpha))``:

- selection: ``t' ~ regenerate(t, selection)``; ``alpha`` = the regenerate weight
  ``log p(t') - log p(t) + log q(t | t') - log q(t' | t)`` (prior proposal of the selected choices).
  An address the selection names where ``t`` has no choice and no call (``select("muu")``) is an
  ``UnvisitedSelectionError``, as in ``regenerate`` (Gen.jl ignores it: a move that never moves).
- custom proposal ``q(u; t, args)``: ``u ~ q``; ``(t', w, discard) = update(t, u)``;
  ``alpha = w - log q(u; t) + log q(discard; t')``.
- involutive: ``u ~ q(.; t)``; ``(t', u', w) = involution(t, u, q_retval, args)`` where ``w`` is
  ``log p(t') - log p(t) + log |det J|``; ``alpha = w - log q(u; t) + log q(u'; t')``. ``check=True``
  applies the involution to its own output and raises ``InvolutionError`` unless it returns ``(t, u)``.

Returns ``(new_trace, accepted)``. Called eagerly (once per Python loop iteration, as Gen.jl
programs are written), each call runs as ONE cached compiled program per static structure
(``_compile.kernel_call``); in a caller's graph (``run_chain``) it runs inline, and with
``check=True`` (a debugging aid that compares values in Python) always eagerly.
"""
import numpy as np
import tensorflow as tf

from ..core.address import Selection, check_selected, show
from ..core.errors import InvolutionError, SelectionTypeError
from ..core.gfi import GenerativeFunction, assess, get_choices, propose, regenerate, update
from ..core.seeds import as_seed, split_seed
from ._compile import choose, kernel_call, uniform_log


def mh(trace, selection_or_proposal, proposal_args=(), involution=None, check=False, seed=None):
    """One Metropolis-Hastings step; ``(new_trace, accepted)``. See the module docstring."""
    if not isinstance(selection_or_proposal, (Selection, GenerativeFunction)):
        raise _not_a_move(selection_or_proposal)

    def step(trace, args, seed):
        return _mh(trace, selection_or_proposal, args[0], involution, check, seed)

    if check:
        return step(trace, (tuple(proposal_args),), as_seed(seed))
    static = (selection_or_proposal, involution)
    owner_static = () if isinstance(selection_or_proposal, Selection) else static
    return kernel_call("mh", step, trace, (tuple(proposal_args),), seed, static, owner_static)


def _mh(trace, selection_or_proposal, proposal_args, involution, check, seed):
    s_prop, s_acc = tf.unstack(split_seed(seed, 2))
    if isinstance(selection_or_proposal, Selection):
        check_selected(selection_or_proposal, trace, "mh")
        new, alpha, _ = regenerate(trace, selection=selection_or_proposal, seed=s_prop)
    elif involution is None:
        new, alpha = _proposal_move(trace, selection_or_proposal, proposal_args, s_prop)
    else:
        new, alpha = _involution_move(trace, selection_or_proposal, proposal_args, involution,
                                      check, s_prop)
    accepted = uniform_log(s_acc, alpha.dtype) < alpha
    return choose(accepted, new, trace), accepted


def _not_a_move(x):
    """The error for ``mh(trace, x)`` with ``x`` neither a selection nor a proposal."""
    if isinstance(x, (str, int, tuple)):
        hint = f"; to resample the choice at {x!r}, pass select({x!r})"
    elif isinstance(x, (list, set)) and all(isinstance(a, (str, int, tuple)) for a in x):
        hint = f"; to resample those choices, pass select({', '.join(map(repr, x))})"
    else:
        hint = ""
    return SelectionTypeError(f"mh: expected a selection (select(...), selectall(), ...) or a proposal "
                              f"generative function, got {type(x).__name__} {x!r}{hint}")


def _proposal_move(trace, proposal, args, seed):
    choices, fwd, _ = propose(proposal, (trace,) + args, seed=seed)
    new, weight, _, discard = update(trace, constraints=choices)
    bwd, _ = assess(proposal, (new,) + args, discard)
    return new, weight - tf.cast(fwd, weight.dtype) + tf.cast(bwd, weight.dtype)


def _involution_move(trace, proposal, args, involution, check, seed):
    fwd_choices, fwd, fwd_ret = propose(proposal, (trace,) + args, seed=seed)
    new, bwd_choices, weight = involution(trace, fwd_choices, fwd_ret, args)
    bwd, bwd_ret = assess(proposal, (new,) + args, bwd_choices)
    if check:
        back, fwd_again, _ = involution(new, bwd_choices, bwd_ret, args)
        _check_same(get_choices(trace), get_choices(back), "the trace")
        _check_same(fwd_choices, fwd_again, "the forward proposal's choices")
    weight = tf.convert_to_tensor(weight)
    return new, weight - tf.cast(fwd, weight.dtype) + tf.cast(bwd, weight.dtype)


def _check_same(expected, got, what):
    """Raise ``InvolutionError`` naming the first address where two choice maps differ."""
    a, b = dict(expected.items()), dict(got.items())
    for path in list(a) + [p for p in b if p not in a]:
        if path not in a or path not in b:
            raise InvolutionError(f"mh(check=True): the involution is not an involution: applied twice it "
                                  f"changes the addresses of {what} (at {show(path)})")
        x, y = np.asarray(a[path]), np.asarray(b[path])
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-5, atol=1e-6):
            raise InvolutionError(f"mh(check=True): the involution is not an involution: applied twice it "
                                  f"maps {what} at {show(path)} from {x} to {y}")
