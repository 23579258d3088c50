"""Involutive MCMC (reversible jump) on a model with a random number of components.

k ~ uniform_discrete(1, 3); x_i ~ N(0, 1) for i < k; y ~ N(sum x, 1). Then y | k ~ N(0, k + 1)
and p(k | y) is exact. Birth/death move: birth appends x_k = u, u ~ N(0, 1) (Jacobian 1); death
removes the last component. Tolerance: the frequency of each k in the chain has standard error
sqrt(p (1 - p) / ESS), ESS of the indicator chain; false-fail rate a = 1e-4 per k.
"""
import numpy as np
import pytest
from scipy import stats

import gentf
from gentf import bernoulli, gen, normal, select, uniform_discrete
from gentf.testing.stats import z_value

Y = 2.0


@gen
def mixture():
    k = int(uniform_discrete(1, 3) @ "k")
    total = 0.0
    for i in range(k):
        total = total + normal(0.0, 1.0) @ ("x", i)
    normal(total, 1.0) @ "y"


@gen
def birth_death(trace):
    k = int(trace["k"])
    birth = bernoulli(1.0 if k == 1 else 0.0 if k == 3 else 0.5) @ "birth"
    if bool(birth):
        normal(0.0, 1.0) @ "u"


def involution(trace, fwd, _ret, _args, shift=0.0):
    k = int(trace["k"])
    if bool(fwd["birth"]):
        new, w, _, _ = gentf.update(trace, constraints={"k": k + 1, ("x", k): fwd["u"] + shift})
        return new, gentf.choicemap({"birth": False}), w
    new, w, _, _ = gentf.update(trace, constraints={"k": k - 1})
    return new, gentf.choicemap({"birth": True, "u": trace[("x", k - 1)]}), w


def step(trace, seed):
    s1, s2 = gentf.core.seeds.split_seed(seed, 2)
    trace, acc = gentf.mh(trace, birth_death, (), involution, seed=s1)
    xs = select(*[("x", i) for i in range(int(trace["k"]))])
    return gentf.mh(trace, xs, seed=s2)[0], acc


@pytest.mark.slow
def test_birth_death_posterior_over_k():
    trace = gentf.generate(mixture, (), {"y": Y, "k": 1}, seed=0)[0]
    _, samples, _ = gentf.run_chain(step, trace, 600, seed=1, progress=False)
    # a trans-dimensional chain runs eagerly; its samples cannot be stacked: a list of choice maps
    assert isinstance(samples, list) and len(samples) == 600
    ks = np.array([int(cm["k"]) for cm in samples])
    post = np.array([stats.norm(0, np.sqrt(k + 1)).pdf(Y) for k in (1, 2, 3)])
    post /= post.sum()
    for k, p in zip((1, 2, 3), post):
        ind = (ks == k).astype(np.float64)
        n_eff = float(gentf.ess(ind))
        assert abs(ind.mean() - p) <= z_value(1e-4) * np.sqrt(p * (1 - p) / n_eff), (k, ind.mean(), p, n_eff)


def test_check_mode_catches_a_map_that_is_not_an_involution():
    trace = gentf.generate(mixture, (), {"y": Y, "k": 1}, seed=0)[0]
    bad = lambda t, u, r, a: involution(t, u, r, a, shift=0.5)  # birth at u + 0.5, death gives back x
    with pytest.raises(gentf.InvolutionError, match="not an involution"):
        gentf.mh(trace, birth_death, (), bad, check=True, seed=0)
    gentf.mh(trace, birth_death, (), involution, check=True, seed=0)  # the right one passes
