"""The models of Gen.jl's "Introduction to Modeling" tutorial, ported literally.

``combined_model`` branches in Python on a random choice (``is_line``) and splices one of two
models, the case gentf compiles as one program per path (``gentf.inference.paths``). Used by
``bench/random_structure.py`` and ``tests/inference/test_paths.py``.
"""
import math

import tensorflow as tf

from gentf import bernoulli, gamma, gen, normal, splice, uniform


@gen
def line_model(xs):
    slope = normal(0.0, 1.0) @ "slope"
    intercept = normal(0.0, 2.0) @ "intercept"
    return lambda x: slope * x + intercept


@gen
def sine_model(xs):
    phase = uniform(0.0, 2 * math.pi) @ "phase"
    period = gamma(5.0, 1.0) @ "period"
    amplitude = gamma(1.0, 1.0) @ "amplitude"
    return lambda x: amplitude * tf.sin(2 * math.pi * x / period + phase)


@gen
def combined_model(xs):
    """A line or a sine (``is_line ~ bernoulli(0.5)``), then ``y_i ~ normal(f(x_i), noise)``."""
    if bernoulli(0.5) @ "is_line":
        f = splice(line_model, xs)
    else:
        f = splice(sine_model, xs)
    noise = gamma(1.0, 1.0) @ "noise"
    for i, x in enumerate(xs):
        normal(f(x), noise) @ ("y", i)
