"""Contract tier: the reusable GFI check over many generated @gen models (hypothesis)."""
import tensorflow as tf
from hypothesis import HealthCheck, given, settings, strategies as st

import gentf
from gentf import bernoulli, gamma, gen, normal
from gentf.testing import check_gfi_contract

# A model is a list of steps; each step draws one choice whose parameters depend on the
# running total of the earlier continuous choices and on the argument x.
STEP = st.tuples(st.sampled_from(["normal", "gamma", "bernoulli", "vector", "call"]),
                 st.floats(0.2, 2.0), st.booleans())


def build(steps):
    @gen
    def leaf(mu):
        return normal(mu, 1.0) @ "z"

    @gen
    def model(x):
        total = x
        for i, (kind, scale, nested) in enumerate(steps):
            scale = tf.constant(scale, x.dtype)
            addr = ("nest", i) if nested else i
            if kind == "normal":
                total = total + normal(0.5 * total, scale) @ addr
            elif kind == "gamma":
                total = total + gamma(1.0 + scale, scale) @ addr
            elif kind == "bernoulli":
                bernoulli(tf.sigmoid(total)) @ addr
            elif kind == "vector":
                total = total + tf.reduce_sum(normal(tf.fill([3], total), scale) @ addr)
            else:
                total = total + leaf(total) @ addr
        return total
    return model


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=5), st.floats(-1.0, 1.0), st.integers(0, 1000))
def test_generated_models_satisfy_the_gfi_contract(steps, x, seed):
    gentf.set_auto_compile(False)  # each example is a new model: tracing would only cost time
    try:
        check_gfi_contract(build(steps), (tf.constant(x, tf.float64),),
                           new_args=(tf.constant(x + 0.5, tf.float64),), seed=seed, atol=1e-8, rtol=1e-8)
    finally:
        gentf.set_auto_compile(True)


def test_contract_check_catches_a_wrong_weight():
    class Liar(gentf.GenFunction):
        def _generate(self, args, constraints, seeds, require_all=False):
            trace, weight = super()._generate(args, constraints, seeds, require_all)
            return trace, weight + 1.0

    liar = Liar(lambda: normal(0.0, 1.0) @ "x")
    try:
        check_gfi_contract(liar, ())
    except AssertionError as e:
        assert "weight" in str(e)
    else:
        raise AssertionError("the contract check accepted a generate weight that is off by one")


def test_tffunctions_satisfy_the_gfi_contract():
    import tensorflow as tf
    w = tf.Variable([[1.0, -2.0], [0.5, 3.0]], dtype=tf.float64)
    eager_fn = gentf.TFFunction(lambda x: tf.linalg.matvec(w, x), variables=[w])
    check_gfi_contract(eager_fn, (tf.constant([0.3, -0.7], tf.float64),),
                       new_args=(tf.constant([1.0, 2.0], tf.float64),))

    @gen
    def uses_it(x):
        y = eager_fn(x) @ "net"
        return normal(tf.reduce_sum(y), tf.constant(1.0, tf.float64)) @ "obs"
    check_gfi_contract(uses_it, (tf.constant([0.3, -0.7], tf.float64),),
                       new_args=(tf.constant([1.0, 2.0], tf.float64),))
