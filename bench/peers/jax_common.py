"""What both JAX peers of bench/curve_fit.py share: the data, the timing and the report.

Data as curve_fit.py: y = 0.3 - 0.7 x + 0.5 x^2 + noise (sd 0.05, numpy seed 0) at 50 points
x = linspace(-1, 1, 50), float32. Timing as curve_fit.py's median_ms: one warm-up call that
compiles, then the median over the repeats, blocking on the results.
"""
import argparse
import json
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp
import numpy as np

NOISE = 0.05
XS = jnp.asarray(np.linspace(-1, 1, 50), jnp.float32)
YS = jnp.asarray(0.3 - 0.7 * np.linspace(-1, 1, 50) + 0.5 * np.linspace(-1, 1, 50) ** 2
                 + NOISE * np.random.default_rng(0).standard_normal(50), jnp.float32)


def options():
    """``(repeats, quick)`` from the command line (--repeats N, --quick: 3 repeats)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    return (3 if opts.quick else opts.repeats), opts.quick


def median_ms(fn, repeats):
    jax.block_until_ready(fn())  # warm-up: trace + compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def report(results, packages):
    """Print ONE JSON line: ``{workload: ms, ..., "versions": {package: version}}``."""
    results["versions"] = {p: version(p) for p in packages}
    print(json.dumps(results), flush=True)
