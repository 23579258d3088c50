"""The linear-Gaussian VAE shared by the SVI distribution tests (``test_svi_distribute.py`` and
its job ``svi_distribute_job.py``, which imports this after setting up its devices)."""
import tensorflow as tf

import gentf
from gentf import gen, normal, param


def linear_gaussian():
    """z ~ N(0, 1), x | z ~ N(w z + b, 1) per datum; guide q(z | x) = N(a x + c, exp(log_s)); float64
    @gen params w, b = 0.5, 0.1 and a, c, log_s = 0.5, 0.1, -0.2. New @gen functions (so new
    parameter Variables) on every call; returns ``(model, guide)``."""
    @gen
    def model(x):
        z = normal(tf.zeros_like(x), 1.0) @ "z"
        normal(param("w") * z + param("b"), 1.0) @ "x"

    @gen
    def guide(x):
        normal(param("a") * x + param("c"), tf.exp(param("log_s")) * tf.ones_like(x)) @ "z"
    for fn, names in ((model, ("w", "b")), (guide, ("a", "c", "log_s"))):
        for name, value in zip(names, (0.5, 0.1, -0.2)):
            gentf.init_param(fn, name, tf.constant(value, tf.float64))
    return model, guide
