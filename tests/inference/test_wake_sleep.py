"""Lectures (wake-sleep's sleep phase) train an amortised proposal to the exact posterior.

Model: z ~ N(0, 1), y ~ N(z, 0.5); posterior z | y ~ N(0.8 y, sqrt(0.2)) for every y. Proposal:
z ~ N(a y + b, exp(c)), whose optimum under E_{p(y)} KL(p(z | y) || q(z; y)) is a = 0.8, b = 0,
exp(c) = sqrt(0.2).

Tolerances, as in test_vi: at a fixed ADAM step the iterates fluctuate around the optimum; we
record them after a burn-in and assert the mean of the recorded iterates is within
``z_{1-a/2}`` iterate-sd's of the exact value (conservative; false-fail rate below ``a`` under a
normal approximation of the stationary iterates).
"""
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import gentf
from gentf import choicemap, gen, get_param, init_param, normal, param
from gentf.inference.wake_sleep import lecture, lecture_batched
from gentf.learning import ADAM, ParamUpdate

FALSE_FAIL = 1e-3
LR = 0.01
NOISE = 0.5
EXACT = {"a": 1 / (1 + NOISE ** 2), "b": 0.0, "std": math.sqrt(NOISE ** 2 / (1 + NOISE ** 2))}


@gen
def model():
    z = normal(tf.constant(0.0, tf.float64), 1.0) @ "z"
    normal(z, NOISE) @ "y"


@gen
def proposal(y):
    normal(param("a") * y + param("b"), tf.exp(param("c"))) @ "z"


@gen
def batched_proposal(ys):
    normal(param("a") * ys + param("b"), tf.exp(param("c"))) @ "zs"  # one vectorised choice


def reset(fn):
    for name, value in (("a", 0.0), ("b", 1.0), ("c", 0.5)):
        init_param(fn, name, tf.constant(value, tf.float64))
    return ParamUpdate(ADAM(LR, 0.9, 0.999, 1e-8), fn)


def current(fn):
    return {"a": float(get_param(fn, "a")), "b": float(get_param(fn, "b")),
            "std": math.exp(float(get_param(fn, "c")))}


def train(fn, one_lecture, steps, burn_in):
    update = reset(fn)
    iterates, scores = [], []
    for i in range(steps):
        scores.append(float(one_lecture(i)))
        update.apply()
        if i >= burn_in and i % 5 == 0:
            iterates.append(current(fn))
    return iterates, np.array(scores)


def assert_near_posterior(iterates, scores):
    z = stats.norm.ppf(1 - FALSE_FAIL / 6)  # three parameters: Bonferroni
    for name, exact in EXACT.items():
        values = np.array([it[name] for it in iterates])
        assert abs(values.mean() - exact) <= z * values.std(ddof=1), (name, values.mean(), exact)
        assert values.std(ddof=1) < 0.1  # informative: well below the posterior sd (0.45)
    # the score, log q(z; y), rises towards E log N(z; 0.8 y, sqrt(0.2))
    early, late = scores[:50], scores[-200:]
    zz = stats.norm.ppf(1 - FALSE_FAIL)
    assert late.mean() - early.mean() > zz * math.sqrt(early.var() / 50 + late.var() / 200)


def test_lecture_trains_proposal_to_posterior():
    def one(i):
        return lecture(model, (), proposal,
                       lambda t: ((t["y"],), choicemap({"z": t["z"]})), seed=(3, i))
    iterates, scores = train(proposal, one, 2000, burn_in=1000)
    assert_near_posterior(iterates, scores)


def test_lecture_batched_trains_proposal_to_posterior():
    batch = 16

    def data(traces):
        ys = tf.stack([t["y"] for t in traces])
        return (ys,), choicemap({"zs": tf.stack([t["z"] for t in traces])})

    def one(i):
        return lecture_batched(model, (), batched_proposal, data, batch, seed=(5, i))
    iterates, scores = train(batched_proposal, one, 500, burn_in=250)
    assert_near_posterior(iterates, scores)


def test_lecture_returns_log_q_of_the_constrained_choices():
    reset(proposal)
    captured = {}

    def data(trace):
        captured["y"], captured["z"] = float(trace["y"]), float(trace["z"])
        return (trace["y"],), choicemap({"z": trace["z"]})
    score = float(lecture(model, (), proposal, data, seed=1))
    q = current(proposal)
    expected = stats.norm.logpdf(captured["z"], q["a"] * captured["y"] + q["b"], q["std"])
    assert abs(score - expected) < 1e-10
    # and d log q / da = (z - mu) / std^2 * y was added to a's accumulator (zeroed by reset)
    mu = q["a"] * captured["y"] + q["b"]
    grad_a = (captured["z"] - mu) / q["std"] ** 2 * captured["y"]
    assert float(gentf.get_param_grad(proposal, "a")) == pytest.approx(grad_a, rel=1e-10)
