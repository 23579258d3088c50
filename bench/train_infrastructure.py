"""Overheads of ``train``'s infrastructure on the seed tutorial workload (issue 10 targets).

Workload: ``bench/seed_tutorial.py``'s vectorised softmax regression (eager-form TFFunction,
batch 100, one step and one evaluation per epoch). Per epoch time of:
  (a) ``data_generator`` (numpy batches), no progress bar: the baseline;
  (b) the same ``tf.data.Dataset`` (``from_tensor_slices(...).batch(100)``), iterated inside
      the compiled epoch. Target: no slower than (a);
  (c) (a) with the progress bar (the default);
  (d) (a) with ``checkpoint=`` and ``summary=`` at their default frequencies. Target: overhead of checkpoints + summaries <= 5% at their default frequency.

And for the inference loops: ``run_chain`` of an ``mh`` kernel on a 10-observation normal model
(``--steps`` steps, one compiled program), per step, without and with ``checkpoint=`` and
``summary=`` at their default frequencies (segments of ``checkpoint_every = summary_every =
10,000`` steps, one call each, the scalars after each, a checkpoint after the last and at most
once a minute before). Target: overhead <= 5%.

    python bench/train_infrastructure.py [--iters 2000] [--steps 200000] [--only train|chain]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from seed_tutorial import eager_softmax, synthetic_mnist, vectorized_model  # noqa: E402

import gentf  # noqa: E402
from gentf import FixedStepGradientDescent, ParamUpdate, choicemap, gen, normal, select, train  # noqa: E402


def run(iters, data_kind, seed=0, **kwargs):
    x, y, _, _ = synthetic_mnist()
    f, spec, _ = eager_softmax()
    model = vectorized_model(f)
    update = ParamUpdate(FixedStepGradientDescent(1e-5), spec)
    n = 2 * iters * 100
    idx = np.random.default_rng(seed).integers(0, len(x), size=n)
    xs, ys = x[idx], y[idx]
    if data_kind == "dataset":
        data = tf.data.Dataset.from_tensor_slices(((xs,), {"ys": ys})).batch(100, drop_remainder=True)
    else:
        batches = iter(range(0, n, 100))
        def data():
            i = next(batches)
            return (xs[i:i + 100],), choicemap({"ys": ys[i:i + 100]})
    train(model, data, update, num_epoch=2, progress=False, seed=seed)  # trace
    start = time.perf_counter()
    train(model, data, update, num_epoch=iters - 2, seed=seed, **kwargs)
    return (time.perf_counter() - start) / (iters - 2)


@gen
def chain_model(n):
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(n):
        normal(mu, 1.0) @ ("y", i)


def chain(steps, repeats=3):
    """Best-of-``repeats`` per-step times of a ``steps``-step ``mh`` chain without and with
    ``checkpoint=`` and ``summary=`` (each compiled first; the two alternate, so that a busy
    machine slows both alike)."""
    trace = gentf.generate(chain_model, (10,), {("y", i): 0.1 * i for i in range(10)}, seed=0)[0]
    kernel = lambda t, s: gentf.mh(t, select("mu"), seed=s)  # noqa: E731
    best = {False: float("inf"), True: float("inf")}
    for r in range(repeats + 1):
        for logged in (False, True):
            with tempfile.TemporaryDirectory() as d:
                logs = dict(checkpoint=os.path.join(d, "ckpt"), summary=os.path.join(d, "logs")) if logged else {}
                start = time.perf_counter()
                gentf.run_chain(kernel, trace, steps, seed=0, progress=False, **logs)
                if r:  # the first round compiles
                    best[logged] = min(best[logged], (time.perf_counter() - start) / steps)
    return best[False], best[True]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--steps", type=int, default=200000)
    p.add_argument("--only", choices=["train", "chain"])
    a = p.parse_args()
    if a.only != "train":
        plain, logged = chain(a.steps)
        print(f"run_chain per step: {plain * 1e6:.2f} us, with checkpoints+summaries {logged * 1e6:.2f} us "
              f"(ratio {logged / plain:.3f}, overhead {logged / plain - 1:+.1%})")
    if a.only == "chain":
        return
    base = run(a.iters, "generator", progress=False)
    dataset = run(a.iters, "dataset", progress=False)
    bar = run(a.iters, "generator", progress=True)
    with tempfile.TemporaryDirectory() as d:
        logged = run(a.iters, "generator", progress=False, checkpoint=os.path.join(d, "ckpt"),
                     summary=os.path.join(d, "logs"))
    print(f"per epoch: generator {base * 1e3:.3f} ms, dataset {dataset * 1e3:.3f} ms "
          f"({dataset / base:.2f}x), progress bar {bar / base - 1:+.1%}, "
          f"checkpoints+summaries {logged / base - 1:+.1%}")


if __name__ == "__main__":
    main()
