"""Bad distribution arguments inside compiled inference raise ``DomainError`` naming the
address, with and without XLA (which compiles assertions to nothing), inside particle batches
(where ``tf.vectorized_map`` drops assertions) and inside compiled MCMC loops; and such checks
do not stop a model from being compiled with XLA."""
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal, select
from gentf.core.compile import _owners


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
