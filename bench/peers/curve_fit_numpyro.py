"""NumPyro peer of bench/curve_fit.py (no gentf import; run with the numpyro venv).
The data, the timing and the JSON report are jax_common.py's.

Workload: y = a + b x + c x^2 at 50 points x = linspace(-1, 1, 50), noise sd 0.05,
priors a, b, c ~ N(0, 1), float32.
- "IS 1k/10k/100k": importance sampling with the prior as proposal: prior draws via
  ``Predictive``, log weights = the log likelihood (``numpyro.infer.util.log_likelihood``), both
  with parallel=True (vmap; the default is a sequential lax.map); returns normalized log weights and the log marginal likelihood estimate (jitted).
- "HMC 1050x20": ``MCMC(HMC(num_steps=20, step_size=0.01, trajectory_length=None,
  adapt_step_size=False, adapt_mass_matrix=False), num_warmup=0, num_samples=1050)``
  (trajectory_length=None: its default 2 pi would rescale the step size to 2 pi / 20).
- "NUTS 500+1000": ``MCMC(NUTS(step_size=0.1, adapt_mass_matrix=False), num_warmup=500,
  num_samples=1000)``: dual-averaging step-size adaptation only, target accept 0.8, as TFP/gentf;
  also "NUTS 500+1000 min ESS": the smallest effective sample size of a, b, c in one run
  (``numpyro.diagnostics.effective_sample_size``).
Chains start at a = b = c = 0; each MCMC.run is wrapped in jax.jit (see mcmc_runner).
Timing as curve_fit.py's median_ms: one warm-up call that compiles, then the median over
--repeats calls, blocking on the results. Prints ONE JSON line {workload: ms, ..., versions}.

    python curve_fit_numpyro.py [--repeats N] [--quick]    (--quick: 3 repeats, NUTS 100 + 200)
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import HMC, MCMC, NUTS, Predictive, init_to_value
from numpyro.infer.util import log_likelihood

from jax_common import NOISE, XS, YS, median_ms, options, report

INIT = init_to_value(values={"a": 0.0, "b": 0.0, "c": 0.0})


def curve(xs, ys=None):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    c = numpyro.sample("c", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", xs.shape[0]):
        numpyro.sample("ys", dist.Normal(a + b * xs + c * xs * xs, NOISE), obs=ys)


def importance(n):
    prior = Predictive(curve, num_samples=n, return_sites=["a", "b", "c"], parallel=True)

    @jax.jit
    def run(key):
        theta = prior(key, XS)
        log_w = log_likelihood(curve, theta, XS, YS, parallel=True)["ys"].sum(-1)
        total = jax.scipy.special.logsumexp(log_w)
        return theta, log_w - total, total - jnp.log(n)
    return run


def mcmc_runner(kernel, num_warmup, num_samples):
    """``MCMC.run`` wrapped in jax.jit: NumPyro 0.22's MCMC.run recompiles its sampling loop on
    every call (fixed upstream in pyro-ppl/numpyro#2171), so the jitted wrapper is what keeps
    the compiled chain across runs."""
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)

    @jax.jit
    def run(key):
        mcmc.run(key, XS, YS, extra_fields=("accept_prob",))
        return mcmc.get_samples(), mcmc.get_extra_fields()
    return run


def main():
    repeats, quick = options()
    key = jax.random.key(1)
    out = {}
    for n in (1_000, 10_000, 100_000):
        run = importance(n)
        out[f"IS {n // 1000}k"] = median_ms(lambda: run(key), repeats)
    hmc = HMC(curve, step_size=0.01, num_steps=20, adapt_step_size=False, adapt_mass_matrix=False,
              trajectory_length=None, init_strategy=INIT)
    run = mcmc_runner(hmc, 0, 1050)
    out["HMC 1050x20"] = median_ms(lambda: run(key), repeats)
    warm, samples = (100, 200) if quick else (500, 1000)
    nuts = NUTS(curve, step_size=0.1, adapt_mass_matrix=False, target_accept_prob=0.8, init_strategy=INIT)
    run = mcmc_runner(nuts, warm, samples)
    out[f"NUTS {warm}+{samples}"] = median_ms(lambda: run(key), repeats)
    draws, _ = run(key)  # the smallest ESS of a, b, c (one chain): curve_fit.py prints ESS per second
    out[f"NUTS {warm}+{samples} min ESS"] = min(float(effective_sample_size(np.asarray(draws[k])[None]))
                                                for k in "abc")
    report(out, ("numpyro", "jax", "jaxlib"))


if __name__ == "__main__":
    main()
