"""Parameter-update configurations (Gen.jl's ``FixedStepGradientDescent``, ``GradientDescent``,
``ADAM``).

Every configuration is gradient *ascent*: the accumulators hold ``g = d/dtheta log p`` summed
by ``accumulate_param_gradients`` (scores are log densities, to be maximised). At iteration
``t = 1, 2, ...``:

- ``FixedStepGradientDescent(s)``:     ``theta += s * g``
- ``GradientDescent(s0, beta)``:       ``theta += s0 * (beta + 1) / (beta + t) * g``
  (Gen.jl: the step size at iteration t is ``step_size_init * (step_size_beta + 1) /
  (step_size_beta + t)``, so it starts at ``s0`` and decays like ``1/t``)
- ``ADAM(lr, beta1, beta2, eps)`` (Kingma & Ba, as Gen.jl's ``ADAM``)::

      m = beta1 * m + (1 - beta1) * g
      v = beta2 * v + (1 - beta2) * g**2
      theta += lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

A configuration is pure maths: ``slots(var)`` gives the initial values of its per-parameter
state and ``step(g, slots, t)`` returns ``(delta, new_slots)`` as TF ops. ``ParamUpdate`` runs
those ops on eager ``tf.Variable``s (eagerly or inside ``tf.function``) and builds them once into
a graph-form TFFunction's ``tf.Graph``, so one rule serves every kind of parameter.
"""
import tensorflow as tf


class UpdateConf:
    """Base class of gentf's update rules: ``theta += delta`` with ``delta`` from ``step``."""

    def slots(self, var):
        """Initial values of the per-parameter state (a list of tensors shaped like ``var``)."""
        return []

    def step(self, grad, slots, t):
        """``(delta, new_slots)`` for accumulated gradient ``grad`` at iteration ``t`` (a float
        scalar tensor of ``grad``'s dtype, starting at 1)."""
        raise NotImplementedError


class FixedStepGradientDescent(UpdateConf):
    """``theta += step_size * g``."""

    def __init__(self, step_size):
        self.step_size = float(step_size)

    def __repr__(self):
        return f"FixedStepGradientDescent({self.step_size})"

    def step(self, grad, slots, t):
        return self.step_size * grad, []


class GradientDescent(UpdateConf):
    """``theta += step_size_init * (step_size_beta + 1) / (step_size_beta + t) * g``."""

    def __init__(self, step_size_init, step_size_beta):
        self.step_size_init, self.step_size_beta = float(step_size_init), float(step_size_beta)

    def __repr__(self):
        return f"GradientDescent({self.step_size_init}, {self.step_size_beta})"

    def step(self, grad, slots, t):
        size = self.step_size_init * (self.step_size_beta + 1.0) / (self.step_size_beta + t)
        return size * grad, []


class ADAM(UpdateConf):
    """Adam ascent with bias-corrected moments (see the module docstring)."""

    def __init__(self, learning_rate, beta1, beta2, epsilon):
        self.learning_rate, self.beta1 = float(learning_rate), float(beta1)
        self.beta2, self.epsilon = float(beta2), float(epsilon)

    def __repr__(self):
        return f"ADAM({self.learning_rate}, {self.beta1}, {self.beta2}, {self.epsilon})"

    def slots(self, var):
        return [tf.zeros(var.shape, var.dtype.base_dtype), tf.zeros(var.shape, var.dtype.base_dtype)]

    def step(self, grad, slots, t):
        m, v = slots
        m = self.beta1 * m + (1.0 - self.beta1) * grad
        v = self.beta2 * v + (1.0 - self.beta2) * tf.square(grad)
        m_hat = m / (1.0 - tf.pow(tf.constant(self.beta1, t.dtype), t))
        v_hat = v / (1.0 - tf.pow(tf.constant(self.beta2, t.dtype), t))
        return self.learning_rate * m_hat / (tf.sqrt(v_hat) + self.epsilon), [m, v]
