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

    python bench/train_infrastructure.py [--iters 2000] [--rounds 5] [--steps 200000] [--only train|chain]
"""
import argparse
import itertools
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


def trainer(data_kind, iters, rounds, seed=0):
    """``run(**kwargs)``: a ``train`` call of ``iters`` epochs of one model (traced here, once),
    returning its wall-clock and process CPU time per epoch; the data cycle through a pool of
    20,000 examples."""
    x, y, _, _ = synthetic_mnist()
    f, spec, _ = eager_softmax()
    model = vectorized_model(f)
    update = ParamUpdate(FixedStepGradientDescent(1e-5), spec)
    n = 20000  # a pool of examples, cycled through
    idx = np.random.default_rng(seed).integers(0, len(x), size=n)
    xs, ys = x[idx], y[idx]
    if data_kind == "dataset":
        data = tf.data.Dataset.from_tensor_slices(((xs,), {"ys": ys})).batch(100, drop_remainder=True).repeat()
    else:
        batches = itertools.cycle(range(0, n, 100))

        def data():
            i = next(batches)
            return (xs[i:i + 100],), choicemap({"ys": ys[i:i + 100]})
    train(model, data, update, num_epoch=2, progress=False, seed=seed)  # trace

    def run(**kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        train(model, data, update, num_epoch=iters, seed=seed, **kwargs)
        return (time.perf_counter() - start) / iters, (time.process_time() - cpu) / iters
    return run


def train_overheads(iters, rounds):
    """Per-epoch times of the four ``train`` variants, interleaved in ``rounds`` rounds (a busy
    machine slows a round's variants alike; each round starts with another variant); ratios are
    medians of same-round ratios to (a), of wall-clock time and of this process's CPU time (less
    sensitive to other processes), and the ratio of the best rounds' times."""
    runs = {name: trainer(kind, iters, rounds) for name, kind in
            (("generator", "generator"), ("dataset", "dataset"), ("progress bar", "generator"),
             ("checkpoints+summaries", "generator"))}
    times = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            for name in names[r % len(names):] + names[:r % len(names)]:  # each round starts elsewhere
                run = runs[name]
                kwargs = dict(progress=name == "progress bar")
                if name == "checkpoints+summaries":
                    kwargs.update(checkpoint=os.path.join(d, "ckpt"), summary=os.path.join(d, "logs"))
                times[name].append(run(**kwargs))
    base = np.array(times["generator"])
    for name, t in times.items():
        t = np.array(t)
        wall, cpu = np.median(t / base, axis=0)
        best = t[:, 0].min() / base[:, 0].min()
        print(f"{name:>22}: {np.median(t[:, 0]) * 1e3:.3f} ms/epoch, {wall:.3f}x generator "
              f"(CPU time {np.median(t[:, 1]) * 1e3:.3f} ms/epoch, {cpu:.3f}x; best of rounds {best:.3f}x)")


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
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", choices=["train", "chain"])
    a = p.parse_args()
    if a.only != "train":
        plain, logged = chain(a.steps)
        print(f"run_chain per step: {plain * 1e6:.2f} us, with checkpoints+summaries {logged * 1e6:.2f} us "
              f"(ratio {logged / plain:.3f}, overhead {logged / plain - 1:+.1%})")
    if a.only == "chain":
        return
    train_overheads(a.iters, a.rounds)


if __name__ == "__main__":
    main()
