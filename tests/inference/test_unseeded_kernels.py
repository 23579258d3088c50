"""Kernels written as in Gen.jl, with no seeds (``def kernel(trace): trace, _ = mh(trace,
select("x")); ...``), get fresh independent randomness for every call of every step, compiled
or eager; the chain's ``seed`` fixes every draw.

Tolerances (false-fail rate a = 1e-4 per assertion): a sample correlation of n independent pairs
has standard error 1/sqrt(n); a chain's mean has standard error sd / sqrt(ESS) (``gentf.ess``)."""
import numpy as np
import pytest

import gentf
from gentf import gen, normal, select
from gentf.testing.stats import assert_mean_close, z_value

A = 1e-4


@gen
def one():
    return normal(0.0, 1.0) @ "v"


@gen
def pair():
    normal(0.0, 1.0) @ "x"
    normal(0.0, 1.0) @ "y"


def two_unseeded_draws(trace):
    """Two unseeded GFI calls in one step: with a shared seed they would be equal."""
    a = gentf.simulate(one, ())["v"]
    b = gentf.simulate(one, ())["v"]
    return gentf.update(trace, constraints={"x": a, "y": b})[0]


@pytest.mark.parametrize("compile", [True, False])
def test_unseeded_calls_are_independent_within_and_across_steps(compile):
    n = 2000 if compile else 300
    trace = gentf.simulate(pair, (), seed=0)
    _, samples, _ = gentf.run_chain(two_unseeded_draws, trace, n, seed=3, compile=compile, progress=False)
    x, y = np.asarray(samples["x"], np.float64), np.asarray(samples["y"], np.float64)
    assert np.all(x != y) and np.all(x[1:] != x[:-1])
    bound = z_value(A) / np.sqrt(n)
    assert abs(np.corrcoef(x, y)[0, 1]) < bound          # within a step
    assert abs(np.corrcoef(x[1:], x[:-1])[0, 1]) < bound  # across steps
    assert_mean_close(np.stack([x, y], 1), [0.0, 0.0], [1.0, 1.0], false_fail_rate=A)


@pytest.mark.parametrize("compile", [True, False])
def test_same_chain_seed_same_draws(compile):
    trace = gentf.simulate(pair, (), seed=0)
    runs = [gentf.run_chain(two_unseeded_draws, trace, 20, seed=s, compile=compile, progress=False)[1]
            for s in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0]["x"], runs[1]["x"])
    assert not np.any(np.asarray(runs[0]["x"]) == np.asarray(runs[2]["x"]))


@gen
def normal_normal():
    x = normal(0.0, 1.0) @ "x"
    normal(x, 0.5) @ "y"


def gen_jl_kernel(trace):
    trace, _ = gentf.mh(trace, select("x"))
    trace, _ = gentf.mh(trace, select("x"))
    return trace


@pytest.mark.parametrize("compile", [True, False])
def test_gen_jl_style_mh_kernel_targets_the_posterior(compile):
    """x | y = 1 is N(0.8, 0.2) (precision 1 + 4, mean 4 / 5)."""
    n = 3000 if compile else 400
    trace = gentf.generate(normal_normal, (), {"y": 1.0}, seed=0)[0]
    _, samples, _ = gentf.run_chain(gen_jl_kernel, trace, n, seed=1, compile=compile, progress=False)
    x = np.asarray(samples["x"], np.float64)
    n_eff = float(gentf.ess(x))
    assert n_eff > 50, f"chain mixes too slowly (ESS {n_eff})"
    assert_mean_close(x, 0.8, np.sqrt(0.2), n_eff=n_eff, false_fail_rate=A)
    assert len(np.unique(x)) > n // 10  # the steps move
