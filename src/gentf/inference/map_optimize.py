"""MAP optimisation by backtracking gradient ascent, as Gen.jl's ``map_optimize``.

From the selected continuous choices ``x`` with gradient ``g = grad log p(x)``, try
``x + s g`` for ``s = max_step_size, tau * max_step_size, ...``; return the first trace whose
score did not decrease, or the input trace once ``s < min_step_size``. A trial point outside
the support, or one that makes another choice's arguments invalid (``gamma`` noise stepped below
0 and used as a ``normal`` scale), scores ``-inf`` (``core.domain.rejecting``) and the search
backtracks, as in Gen.jl.
"""
import tensorflow as tf

from ..core.choicemap import from_array
from ..core.domain import rejecting
from ..core.gfi import update
from ._compile import choose, kernel_call, while_loop
from .gradient import _gradient


def map_optimize(trace, selection, max_step_size=0.1, tau=0.5, min_step_size=1e-16, compile=True):
    """One backtracking gradient-ascent step on ``log p`` over the selected choices; returns the
    new trace. Called eagerly with ``compile=True``, the step runs as one cached compiled
    program per static structure (a while loop over step sizes; ``_compile.kernel_call``); a
    model that cannot be traced runs eagerly, and in a caller's graph the step runs inline."""
    def step(trace, args, _):
        return _map_step(trace, selection, max_step_size, tau, min_step_size)

    if not compile:
        return step(trace, (), None)
    # deterministic: a constant seed (an unseeded call would consume a seed of the caller's stream)
    return kernel_call("map_optimize", step, trace, (), 0, (selection, max_step_size, tau, min_step_size))


def _map_step(trace, selection, max_step_size, tau, min_step_size):
    values, x, g = _gradient(trace, selection, "map_optimize")

    def attempt(step):
        with rejecting():
            return update(trace, constraints=from_array(values, x + step * g))[0]

    step = tf.constant(max_step_size, x.dtype)
    if tf.executing_eagerly():  # a Python loop
        while True:
            new = attempt(step)
            if new.score >= trace.score:
                return new
            if step < min_step_size:
                return trace
            step = step * tau

    # In a graph: a while loop whose state (step, done, best trace) has a fixed structure; the
    # trace travels as its flat tensor components (``_compile.while_loop``), and ``best`` is
    # chosen leaf by leaf between traces of identical structure.
    def backtrack(state):
        step, _, best = state
        new = attempt(step)
        better = new.score >= trace.score
        give_up = step < min_step_size
        best = choose(better, new, choose(give_up, trace, best))
        return step * tau, better | give_up, best

    return while_loop(lambda state: ~state[1], backtrack, (step, tf.constant(False), trace),
                      "map_optimize")[2]
