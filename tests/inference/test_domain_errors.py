"""Bad distribution arguments (NaN or infinite ones included) and non-finite observations inside
compiled inference raise ``DomainError`` naming the address (and SVI then writes no state), with
and without XLA (which compiles assertions to nothing), inside particle batches (where
``tf.vectorized_map`` drops assertions) and inside compiled MCMC loops; and such checks do not
stop a model from being compiled with XLA."""
import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core.compile import _owners

import svi_models


@gen
def scaled(s):
    x = normal(0.0, 1.0) @ "x"
    normal(x, s) @ "y"


@gen
def x_is_the_scale():
    x = normal(0.0, 1.0) @ "x"  # negative for about half of the particles
    normal(0.0, x) @ "y"


@pytest.mark.parametrize("jit_compile", [True, False])
@pytest.mark.parametrize("model,args", [(scaled, (tf.constant(-1.0),)), (x_is_the_scale, ())],
                         ids=["bad-argument", "bad-sampled-value"])
def test_importance_sampling_names_the_address(model, args, jit_compile):
    with pytest.raises(gentf.DomainError, match="normal at address 'y': std must be positive"):
        gentf.importance_sampling(model, args, {"y": 0.5}, 100, seed=1, jit_compile=jit_compile)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_mcmc_loop_names_the_address_and_keeps_working(jit_compile):
    kernel = lambda t, s: gentf.mh(t, select("x"), seed=s)
    bad = gentf.generate(x_is_the_scale, (), {"x": 0.1, "y": 0.5}, seed=0)[0]
    with pytest.raises(gentf.DomainError, match="address 'y'"):  # MH proposes x < 0 from the prior
        gentf.run_chain(kernel, bad, 50, seed=1, jit_compile=jit_compile, progress=False)
    good = gentf.generate(scaled, (tf.constant(1.0),), {"y": 0.5}, seed=0)[0]
    trace, _ = gentf.run_chain(kernel, good, 20, seed=1, jit_compile=jit_compile, progress=False)[:2]
    assert trace is not None  # the recorded failure was cleared: later runs are unaffected


def test_checks_on_sampled_values_still_compile_with_xla():
    gentf.importance_sampling(scaled, (tf.constant(1.0),), {"y": 0.5}, 10, seed=1)
    state = _owners[scaled]
    assert not state.no_xla
    assert any(k[1] is True for k in state.programs if len(k) == 2)  # (key, jit_compile=True)


def test_compiled_chain_inside_a_user_graph_asserts_there():
    kernel = lambda t, s: gentf.mh(t, select("x"), seed=s)
    bad = gentf.generate(x_is_the_scale, (), {"x": 0.1, "y": 0.5}, seed=0)[0]

    @tf.function(autograph=False)
    def user_program(seed):
        return gentf.run_chain(kernel, bad, 50, seed=seed, progress=False)[2]

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"gentf.DomainError: normal at address .{0,4}y.{0,4}: std must be positive"):
        user_program(tf.constant([0, 1]))
    good = gentf.generate(scaled, (tf.constant(1.0),), {"y": 0.5}, seed=0)[0]
    gentf.run_chain(kernel, good, 5, seed=1, progress=False)  # the record was cleared


# --- non-finite data and arguments in SVI: an error naming the address, no state written ---------
def _svi_state(update):
    """Every Variable an SVI step writes: parameters, optimizer slots, step counters."""
    return {k: np.array(v.numpy()) for k, v in update._checkpoint_children().items()}


def _svi(guide_a=None):
    model, guide = svi_models.linear_gaussian()
    if guide_a is not None:
        gentf.init_param(guide, "a", tf.constant(guide_a, tf.float64))
    update = gentf.ParamUpdate(gentf.ADAM(0.1, 0.9, 0.999, 1e-8), model, guide)
    engine = gentf.SVI(model, guide, update, lambda x: ((x,), (x,), {"x": x}))
    return engine, update


@pytest.mark.parametrize("value,what", [(np.inf, "infinite"), (-np.inf, "infinite"), (np.nan, "NaN")])
def test_svi_nonfinite_datum_names_the_observation_and_writes_nothing(value, what):
    # an inf datum used to give objective -inf, kl NaN and NaN parameters after the step
    engine, update = _svi()
    engine.step(np.array([0.5, 0.2, -0.3]), seed=0)  # the optimizer's slots and counter exist
    before = _svi_state(update)
    for _ in range(2):  # traced, then cached
        with pytest.raises(gentf.DomainError, match=f"^observation at address 'x': the observed value is {what}$"):
            engine.step(np.array([0.5, value, -0.3]), seed=1)
        after = _svi_state(update)
        assert all(np.array_equal(after[k], before[k]) for k in before)


def test_svi_nan_network_output_names_the_argument_and_writes_nothing():
    engine, update = _svi(guide_a=np.nan)  # q(z | x) = N(a x + c, ...) with a NaN weight
    before = _svi_state(update)
    for _ in range(2):
        with pytest.raises(gentf.DomainError, match="^normal at address 'z': the argument mu is NaN$"):
            engine.step(np.array([0.5, 0.2, -0.3]), seed=1)
        after = _svi_state(update)
        assert all(np.array_equal(after[k], before[k], equal_nan=True) for k in before)


@pytest.mark.parametrize("jit_compile", [True, False])
@pytest.mark.parametrize("value,what", [(np.inf, "infinite"), (np.nan, "NaN")])
def test_importance_sampling_nonfinite_observation_names_it(value, what, jit_compile):
    with pytest.raises(gentf.DomainError, match=f"^normal at address 'y': the observed value is {what}$"):
        gentf.importance_sampling(scaled, (tf.constant(1.0),), {"y": value}, 100, seed=1, jit_compile=jit_compile)
