"""GenJAX peer of bench/curve_fit.py (no gentf import; run with the genjax venv).
The data, the timing and the JSON report are jax_common.py's.

Workload: y = a + b x + c x^2 at 50 points x = linspace(-1, 1, 50), noise sd 0.05,
priors a, b, c ~ N(0, 1), float32.
- "IS 1k/10k/100k": importance sampling with the prior as proposal: jax.vmap over the seeded
  ``model.generate`` with ys constrained; returns the particles' choices, normalized log weights
  and the log marginal likelihood estimate. "IS 1k (traces)" etc.: the same, returning the whole
  traces (what Gen's ``importance_sampling`` and gentf return).
- "HMC 1050x20": 1,050 HMC iterations x 20 leapfrog steps of size 0.01 on (a, b, c), written the
  GenJAX way: the log density is ``model.assess``, gradients via jax.grad, leapfrog via
  jax.lax.scan. Also "HMC 1050x20 (genjax.mcmc.hmc)": the library kernel run through ``chain``.
- NUTS: GenJAX ships no NUTS, so no NUTS entry.
All jitted. Timing as curve_fit.py's median_ms: one warm-up call that compiles, then the median
over --repeats calls, blocking on the results. Prints ONE JSON line {workload: ms, ..., versions}.

    python curve_fit_genjax.py [--repeats N] [--quick]
"""
import jax
import jax.numpy as jnp
from genjax import chain, const, gen, normal, sel, seed
from genjax.inference.mcmc import hmc as genjax_hmc

from jax_common import NOISE, XS, YS, median_ms, options, report

OBS = {"ys": {"obs": YS}}


@gen
def point(x, a, b, c):
    return normal(a + b * x + c * x * x, NOISE) @ "obs"


@gen
def curve(xs):
    a = normal(0.0, 1.0) @ "a"
    b = normal(0.0, 1.0) @ "b"
    c = normal(0.0, 1.0) @ "c"
    return point.vmap(in_axes=(0, None, None, None))(xs, a, b, c) @ "ys"


def importance(n, whole_traces=False):
    """IS returning the particles' choices (GenJAX's benchmark) or their whole traces (Gen's API)."""
    @jax.jit
    def run(key):
        traces, log_w = jax.vmap(lambda k: seed(curve.generate)(k, OBS, XS))(jax.random.split(key, n))
        total = jax.scipy.special.logsumexp(log_w)
        return traces if whole_traces else traces.get_choices(), log_w - total, total - jnp.log(n)
    return run


def log_density(theta):
    return curve.assess({"a": theta[0], "b": theta[1], "c": theta[2], **OBS}, XS)[0]


@jax.jit
def hmc(key, n_iter=1050, n_leap=20, eps=0.01):
    grad = jax.grad(log_density)

    def leapfrog(carry, _):
        q, p = carry
        p = p + 0.5 * eps * grad(q)
        q = q + eps * p
        return (q, p + 0.5 * eps * grad(q)), None

    def step(q, key):
        k_mom, k_acc = jax.random.split(key)
        p = jax.random.normal(k_mom, q.shape)
        (q_new, p_new), _ = jax.lax.scan(leapfrog, (q, p), None, length=n_leap)
        log_alpha = (log_density(q_new) - 0.5 * p_new @ p_new) - (log_density(q) - 0.5 * p @ p)
        accept = jnp.log(jax.random.uniform(k_acc)) < log_alpha
        q = jnp.where(accept, q_new, q)
        return q, (q, accept)

    return jax.lax.scan(step, jnp.zeros(3), jax.random.split(key, n_iter))[1]


@jax.jit
def library_hmc(key):
    trace, _ = seed(curve.generate)(key, {"a": 0.0, "b": 0.0, "c": 0.0, **OBS}, XS)
    kernel = lambda tr: genjax_hmc(tr, sel("a") | sel("b") | sel("c"), step_size=0.01, n_steps=20)
    result = seed(chain(kernel))(key, trace, const(1050))
    return result.traces.get_choices(), result.accepts


def main():
    repeats, quick = options()
    key = jax.random.key(1)
    out = {}
    for n in (1_000, 10_000, 100_000):
        run, whole = importance(n), importance(n, whole_traces=True)
        out[f"IS {n // 1000}k"] = median_ms(lambda: run(key), repeats)
        out[f"IS {n // 1000}k (traces)"] = median_ms(lambda: whole(key), repeats)
    out["HMC 1050x20"] = median_ms(lambda: hmc(key), repeats)
    out["HMC 1050x20 (genjax.mcmc.hmc)"] = median_ms(lambda: library_hmc(key), repeats)
    report(out, ("genjax", "jax", "jaxlib"))


if __name__ == "__main__":
    main()
