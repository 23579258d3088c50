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
``summary=`` at their default frequencies (a segment of ``checkpoint_every = summary_every =
1000`` steps per call, a checkpoint and the scalars after each). Target: overhead <= 5%.

    python bench/train_infrastructure.py [--iters 2000] [--steps 20000] [--only chain]
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


def chain(steps, repeats=3, **kwargs):
    """Best of ``repeats`` per-step times of a ``steps``-step ``mh`` chain (compiled first)."""
    trace = gentf.generate(chain_model, (10,), {("y", i): 0.1 * i for i in range(10)}, seed=0)[0]
    kernel = lambda t, s: gentf.mh(t, select("mu"), seed=s)  # noqa: E731
    best = float("inf")
    for r in range(repeats + 1):
        with tempfile.TemporaryDirectory() as d:
            logs = {key: os.path.join(d, key) for key in kwargs}
            start = time.perf_counter()
            gentf.run_chain(kernel, trace, steps, seed=0, progress=False, **logs)
            if r:  # the first run compiles
                best = min(best, (time.perf_counter() - start) / steps)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--only", choices=["train", "chain"])
    a = p.parse_args()
    if a.only != "train":
        plain = chain(a.steps)
        logged = chain(a.steps, checkpoint=True, summary=True)
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
