"""MAP optimisation by backtracking gradient ascent, as Gen.jl's ``map_optimize``.

From the selected continuous choices ``x`` with gradient ``g = grad log p(x)``, try
``x + s g`` for ``s = max_step_size, tau * max_step_size, ...``; return the first trace whose
score did not decrease, or the input trace once ``s < min_step_size``.
"""
import tensorflow as tf

from ..core.choicemap import from_array
from ..core.gfi import update
from .gradient import _gradient


def map_optimize(trace, selection, max_step_size=0.1, tau=0.5, min_step_size=1e-16):
    """One backtracking gradient-ascent step on ``log p`` over the selected choices."""
    values, x, g = _gradient(trace, selection, "map_optimize")

    def attempt(step):
        return update(trace, constraints=from_array(values, x + step * g))[0]

    def backtrack(step, done, best):
        new = attempt(step)
        better = new.score >= trace.score
        give_up = step < min_step_size
        best = tf.nest.map_structure(lambda a, b, c: tf.where(better, a, tf.where(give_up, b, c)),
                                     new, trace, best)
        return step * tau, better | give_up, best

    step = tf.constant(max_step_size, x.dtype)
    return tf.while_loop(lambda s, done, b: ~done, backtrack, (step, tf.constant(False), trace))[2]
