"""A reusable check of the GFI identities that every generative function must satisfy.

``check_gfi_contract(fn, args)`` runs ``fn`` through every GFI method and asserts, for a trace
``t`` from ``simulate`` (score ``s = log p(t; x)``):

1. ``assess(fn, x, t)`` returns ``s`` and the same return value;
2. ``generate`` with all of ``t`` as constraints has weight ``s`` and reproduces ``t``;
   ``generate`` with no constraints has weight 0;
3. ``propose`` returns a weight equal to ``assess`` of its choices;
4. ``project(t, selectall()) = s`` and ``project(t, EmptySelection) = 0``;
5. ``update`` with no change has weight 0 and keeps the score;
6. ``update`` to the choices of a second trace ``t2`` (same arguments) has weight
   ``score(t') - s`` when the address sets agree, the new trace's score equals ``assess`` of its
   choices, and updating back with the discard restores ``t`` with the opposite weight;
7. ``regenerate`` with an empty selection has weight 0; with ``selectall()`` and a static
   address set, weight 0 (every choice is resampled from the prior);
8. with ``new_args``: ``update`` to them gives a trace whose score is ``assess`` under the new
   arguments, and weight ``score(t') - s`` when no address appears or disappears.
"""
import numpy as np
import tensorflow as tf

from ..core.address import EmptySelection, selectall
from ..core.gfi import assess, generate, project, propose, regenerate, simulate, update


def _close(a, b, what, atol, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=False):
        raise AssertionError(f"GFI contract: {what}: {a} != {b}")


def _same_addresses(cm1, cm2):
    return set(cm1.addresses()) == set(cm2.addresses())


def check_gfi_contract(fn, args, new_args=None, seed=0, atol=1e-5, rtol=1e-5):
    """Assert the GFI identities above for ``fn`` at ``args``. Returns the first trace."""
    trace = simulate(fn, args, seed=seed)
    score, choices = trace.score, trace.get_choices()

    weight, retval = assess(fn, args, choices)
    _close(weight, score, "assess weight vs simulate score", atol, rtol)
    for r1, r2 in zip(tf.nest.flatten(retval), tf.nest.flatten(trace.retval)):
        _close(r1, r2, "assess retval vs simulate retval", atol, rtol)

    full, w = generate(fn, args, choices, seed=seed + 1)
    _close(w, score, "generate(all constraints) weight vs score", atol, rtol)
    _close(full.score, score, "generate(all constraints) score", atol, rtol)
    if full.get_choices() != choices:
        raise AssertionError("GFI contract: generate(all constraints) changed the choices")
    _, w0 = generate(fn, args, None, seed=seed + 2)
    _close(w0, 0.0, "generate(no constraints) weight", atol, rtol)

    proposed, pw, _ = propose(fn, args, seed=seed + 3)
    _close(pw, assess(fn, args, proposed)[0], "propose weight vs assess", atol, rtol)

    _close(project(trace, selectall()), score, "project(selectall) vs score", atol, rtol)
    _close(project(trace, EmptySelection), 0.0, "project(EmptySelection)", atol, rtol)

    same, w, _, _ = update(trace)
    _close(w, 0.0, "update with no change: weight", atol, rtol)
    _close(same.score, score, "update with no change: score", atol, rtol)

    other = simulate(fn, args, seed=seed + 4)
    moved, w, _, discard = update(trace, args, None, other.get_choices(), seed=seed + 5)
    _close(moved.score, assess(fn, args, moved.get_choices())[0], "update: new score vs assess", atol, rtol)
    if _same_addresses(choices, moved.get_choices()):
        _close(w, moved.score - score, "update weight vs score difference", atol, rtol)
        back, w_back, _, _ = update(moved, args, None, discard, seed=seed + 6)
        _close(w_back, -w, "update back with the discard: weight", atol, rtol)
        if back.get_choices() != choices:
            raise AssertionError("GFI contract: update back with the discard did not restore the choices")

    _, w, _ = regenerate(trace, args, None, EmptySelection, seed=seed + 7)
    _close(w, 0.0, "regenerate(EmptySelection) weight", atol, rtol)
    fresh, w, _ = regenerate(trace, args, None, selectall(), seed=seed + 8)
    _close(fresh.score, assess(fn, args, fresh.get_choices())[0], "regenerate: score vs assess", atol, rtol)
    if _same_addresses(choices, fresh.get_choices()):
        _close(w, 0.0, "regenerate(selectall) weight", atol, rtol)

    if new_args is not None:
        moved, w, _, _ = update(trace, new_args, None, None, seed=seed + 9)
        _close(moved.score, assess(fn, new_args, moved.get_choices())[0],
               "update to new args: score vs assess", atol, rtol)
        if _same_addresses(choices, moved.get_choices()):
            _close(w, moved.score - score, "update to new args: weight vs score difference", atol, rtol)
    return trace
