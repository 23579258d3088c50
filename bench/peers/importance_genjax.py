"""GenJAX peer of bench/importance.py (run with the genjax venv; no gentf import).

The importance-sampling workload of curve_fit_genjax.py (``importance``: jax.vmap over the
seeded ``model.generate``, ys constrained, prior proposal; returns the choices, or with
"(traces)" the whole traces, the normalized log weights and the log-ML estimate), served one
round at a time so that bench/importance.py can interleave it with gentf's rounds on a busy
machine: every line read from stdin runs one round and prints ONE JSON line
{workload: [ms of each of --repeats calls]}; "floor 1k" etc.: JAX's call floor (a jitted
function returning zeros shaped as "IS 1k"'s outputs). Compiles (one warm-up call each) before the first
round and prints {"ready": true, "versions": ...}.

    python importance_genjax.py [--repeats N] [--sizes 1000,10000]
"""
import argparse
import json
import sys
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp

from curve_fit_genjax import importance


def floor(run, key):
    """JAX's call floor for ``run``: a jitted function returning zeros shaped as ``run``'s outputs
    (each depending on the key), without their computation."""
    shapes = jax.eval_shape(run, key)
    bits = lambda k: jax.random.key_data(k).ravel()[0]
    return jax.jit(lambda k: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype) + bits(k).astype(s.dtype), shapes))


def times_ms(fn, repeats):
    """Milliseconds of each of ``repeats`` calls, blocking on the results."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(1000 * (time.perf_counter() - start))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sizes", default="1000,10000")
    opts = parser.parse_args()
    key = jax.random.key(1)
    runs = {}
    for n in (int(s) for s in opts.sizes.split(",")):
        runs[f"IS {n // 1000}k"] = importance(n)
        runs[f"IS {n // 1000}k (traces)"] = importance(n, whole_traces=True)
        runs[f"floor {n // 1000}k"] = floor(runs[f"IS {n // 1000}k"], key)
    for run in runs.values():
        jax.block_until_ready(run(key))
    print(json.dumps({"ready": True, "versions": {p: version(p) for p in ("genjax", "jax", "jaxlib")}}),
          flush=True)
    for _ in sys.stdin:
        print(json.dumps({name: times_ms(lambda: run(key), opts.repeats) for name, run in runs.items()}),
              flush=True)


if __name__ == "__main__":
    main()
