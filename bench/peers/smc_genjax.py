"""GenJAX peer of bench/smc.py (no gentf import; run with the genjax venv).

Workload (as bench/smc.py): x_t ~ N(0.9 x_{t-1}, 1) (x_{-1} = 0), y_t ~ N(x_t, 0.5^2), T steps,
float32, the observations given on the command line as JSON. GenJAX's SMC written the GenJAX way:
``genjax.inference.smc.rejuvenation_smc`` over a one-step model whose return value is the next
step's argument (``extend`` by ``generate`` of the new step, multinomial resampling when
ESS < N/2, as Gen's ``maybe_resample``), no rejuvenation: a bootstrap filter in one
``jax.lax.scan``, jitted. Timing as jax_common.median_ms, a fresh key per call; prints ONE JSON line
{"smc 1k": {"ms": ..., "log_z": [...]}, ..., "versions": ...}.

    python smc_genjax.py --ys '[...]' [--repeats N]
"""
import argparse
import json
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp
import numpy as np
from genjax import const, gen, normal, seed
from genjax.inference.smc import rejuvenation_smc


@gen
def step(x_prev):
    x = normal(0.9 * x_prev, 1.0) @ "x"
    normal(x, 0.5) @ "y"
    return x


def filter_fn(ys, n):
    @jax.jit
    def run(key):
        particles = seed(rejuvenation_smc)(key, step, observations={"y": ys},
                                            initial_model_args=(jnp.float32(0.0),), n_particles=const(n))
        return particles.log_marginal_likelihood()
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ys", required=True)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sizes", default="1000,10000")
    opts = parser.parse_args()
    ys = jnp.asarray(np.array(json.loads(opts.ys)), jnp.float32)
    out = {}
    for n in map(int, opts.sizes.split(",")):
        run = filter_fn(ys, n)
        jax.block_until_ready(run(jax.random.key(0)))  # warm-up: trace + compile
        times, log_z = [], []
        for r in range(opts.repeats):
            start = time.perf_counter()
            value = jax.block_until_ready(run(jax.random.key(r + 1)))
            times.append(time.perf_counter() - start)
            log_z.append(float(value))
        out[f"smc {n // 1000}k"] = {"ms": 1000 * float(np.median(times)), "log_z": log_z}
    out["versions"] = {p: version(p) for p in ("genjax", "jax", "jaxlib")}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
