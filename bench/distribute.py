"""Data-parallel ``train`` on one machine: steps/s on 1 vs 2 logical CPU devices, and the cost of
the all-reduce, for the throughput model of docs/distributed.md.

Workload: the seed tutorial's (bench/seed_tutorial.py, variant (b), eager-form TFFunction):
softmax regression on MNIST-shaped data (784 features, 10 classes), ``FixedStepGradientDescent
(1e-5)``, one vectorised ``categorical(probs) @ "ys"`` choice per example. To be data-parallel a
step needs several examples: each step's 100 images come as ``minibatch_size = 2`` examples of
50 (the same gradient as one example of 100), plus one evaluation example of 100.

Configurations, each in its own process (devices are fixed before TensorFlow initialises):
  single      no strategy, one device;
  mirrored-1  MirroredStrategy over one device (the strategy's own overhead);
  mirrored-2  MirroredStrategy over 2 logical CPU devices (one physical CPU: the two replicas
              share its cores, so this measures the machinery, not extra hardware).
Also the time of one all-reduce (SUM) of the parameters' size (7,850 float64) between the 2
logical devices, in a compiled loop.

    python bench/distribute.py [--steps 300]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

D, K, HALF = 784, 10, 50


def child(mode, steps):
    import tensorflow as tf
    if mode == "mirrored-2":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from gentf import FixedStepGradientDescent, ParamUpdate, TFFunction, categorical, choicemap, gen, train
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from seed_tutorial import synthetic_mnist

    xs, ys, _, _ = synthetic_mnist(n_train=4000, n_test=1)
    rng = np.random.default_rng(0)

    def data():
        i = rng.integers(0, len(xs) - HALF)
        return (tf.constant(xs[i:i + HALF]),), choicemap({"ys": tf.constant(ys[i:i + HALF])})

    def build():
        W = tf.Variable(np.zeros((D, K), np.float64), name="W")
        b = tf.Variable(np.zeros(K, np.float64), name="b")
        f = TFFunction(lambda x: tf.nn.softmax(tf.matmul(x, W) + b, axis=1), variables=[W, b])

        @gen
        def model(x):
            probs = f(x) @ "f"
            categorical(probs) @ "ys"
        return model, ParamUpdate(FixedStepGradientDescent(1e-5), f)

    strategy = None
    if mode.startswith("mirrored"):
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"] if mode == "mirrored-2" else ["/cpu:0"])
        with strategy.scope():
            model, update = build()
    else:
        model, update = build()

    def run(n):
        return train(model, data, update, num_epoch=n, epoch_size=2, minibatch_size=2,
                     evaluation_size=1, seed=0, progress=False)
    run(3)  # trace and compile
    start = time.perf_counter()
    scores = run(steps)
    seconds = time.perf_counter() - start
    out = {"mode": mode, "steps_per_s": steps / seconds, "ms_per_step": 1e3 * seconds / steps,
           "last_score": float(scores[-1])}
    if mode == "mirrored-2":
        out["allreduce_ms"] = allreduce_ms(tf, strategy, D * K + K)
    print("RESULT " + json.dumps(out), flush=True)


def allreduce_ms(tf, strategy, size, reps=200):
    """Milliseconds per all-reduce (SUM) of ``size`` float64 between the replicas, as ``train``
    does it (a sync-on-read Variable read outside the replicas), ``reps`` in one compiled loop."""
    with strategy.scope():
        acc = tf.Variable(tf.zeros(size, tf.float64), synchronization=tf.VariableSynchronization.ON_READ,
                          aggregation=tf.VariableAggregation.SUM)

    @tf.function
    def loop():
        total = tf.constant(0.0, tf.float64)
        for _ in tf.range(reps):
            strategy.run(lambda: acc.assign_add(tf.ones(size, tf.float64)))
            total += tf.reduce_sum(tf.convert_to_tensor(acc))
        return total
    loop()
    start = time.perf_counter()
    loop()
    return 1e3 * (time.perf_counter() - start) / reps


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--child")
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.steps)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    results = {}
    for mode in ("single", "mirrored-1", "mirrored-2"):
        run = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(args.steps)],
                             capture_output=True, text=True, env=env)
        lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            sys.exit(f"{mode} failed:\n{run.stderr[-3000:]}")
        results[mode] = json.loads(lines[-1][7:])
    base = results["single"]["ms_per_step"]
    for mode, r in results.items():
        print(f"{mode:11s} {r['steps_per_s']:8.1f} steps/s  {r['ms_per_step']:7.2f} ms/step  "
              f"x{base / r['ms_per_step']:.2f} vs single  (final score {r['last_score']:.4f})")
    print(f"all-reduce of {D * K + K} float64 between 2 logical CPU devices: "
          f"{results['mirrored-2']['allreduce_ms']:.3f} ms")


if __name__ == "__main__":
    main()
