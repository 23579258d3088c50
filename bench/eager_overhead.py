"""Per-choice overhead of simulate and generate: a model with K scalar normal choices.

Prints, for K = 10, 100, 1000:
- "eager API": microseconds per choice of calling gentf.simulate/generate from eager Python
  (repeated calls of a static model run as cached tf.functions: gentf's auto-compile);
- "pure eager": the same with auto-compile off (every TF op dispatched one by one);
- "compiled": milliseconds per call of the GFI method inside the caller's own tf.function;
- "hand-written": the same arithmetic written by hand (K stateless normal draws and their log
  densities) in one tf.function, run in the same process as the baseline.
Targets (issue 2): eager <= 50 us per choice; compiled generate of K=100 <= 1 ms per call.

    python bench/eager_overhead.py [--repeats N]
"""
import argparse
import time

import numpy as np
import tensorflow as tf

import gentf
from gentf import gen, normal


@gen
def chain(k):
    total = 0.0
    for i in range(k):
        total += normal(0.0, 1.0) @ ("x", i)
    return total


def best_time(fn, repeats):
    fn()  # warm up (and trace)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def handwritten(k):
    @tf.function
    def step(seed):
        x = tf.random.stateless_normal([k], seed)
        return tf.reduce_sum(-0.5 * x * x - 0.5 * np.log(2 * np.pi))
    return lambda: step(tf.constant([1, 2]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    print(f"{'K':>5} {'method':>9} {'eager API us/choice':>20} {'pure eager us/choice':>21} "
          f"{'compiled ms/call':>17} {'hand-written ms':>16}")
    for k in (10, 100, 1000):
        constraints = gentf.choicemap({("x", i): 0.1 * i for i in range(k)})
        calls = {
            "simulate": lambda: gentf.simulate(chain, (k,), seed=1),
            "generate": lambda: gentf.generate(chain, (k,), constraints, seed=1),
        }
        for name, call in calls.items():
            reps = max(2, opts.repeats // (5 if k == 1000 else 1))
            eager = best_time(call, reps)
            gentf.set_auto_compile(False)
            pure = best_time(call, 1)
            gentf.set_auto_compile(True)
            compiled_fn = tf.function(lambda: tf.nest.flatten(call()))
            compiled = best_time(compiled_fn, opts.repeats)
            base = best_time(handwritten(k), opts.repeats)
            print(f"{k:>5} {name:>9} {1e6 * eager / k:>20.1f} {1e6 * pure / k:>21.1f} "
                  f"{1e3 * compiled:>17.3f} {1e3 * base:>16.3f}")


if __name__ == "__main__":
    main()
