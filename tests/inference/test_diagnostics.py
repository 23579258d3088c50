"""R-hat, ESS and ArviZ export on chains with known properties."""
import logging

import numpy as np

import gentf
from gentf.inference import ess, rhat, to_arviz


def ar1(rng, phi, n, chains):
    """AR(1) chains x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t: stationary N(0, 1), and
    ESS = n (1 - phi) / (1 + phi) per chain."""
    x = np.zeros((chains, n))
    x[:, 0] = rng.standard_normal(chains)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi ** 2) * rng.standard_normal(chains)
    return x


def test_ess_of_iid_and_autocorrelated_chains():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal(4000)
    assert 3000 < float(ess(iid)) < 5000
    chains = ar1(rng, 0.8, 4000, 4)
    expected = 4 * 4000 * (1 - 0.8) / (1 + 0.8)
    assert 0.6 * expected < float(ess(chains)) < 1.5 * expected


def test_rhat_detects_chains_stuck_in_different_places():
    rng = np.random.default_rng(1)
    mixed = rng.standard_normal((4, 1000))
    assert abs(float(rhat(mixed)) - 1.0) < 0.02
    stuck = mixed + np.arange(4)[:, None] * 3.0
    assert float(rhat(stuck)) > 1.5


def test_choicemap_samples_and_arviz_export():
    rng = np.random.default_rng(2)
    samples = gentf.choicemap({"mu": rng.standard_normal((2, 500)), ("w", 0): rng.standard_normal((2, 500))})
    per_address = rhat(samples)
    assert set(per_address.addresses()) == {("mu",), ("w", 0)}
    data = to_arviz(samples, chains=True)
    assert set(data.posterior.data_vars) == {"mu", "w/0"}
    assert data.posterior["mu"].shape == (2, 500)


def test_ess_is_quiet_about_tfps_fft_cast(caplog):
    """TFP's autocorrelation casts its FFT's real result from complex; TF warns at every call
    (per address and per summary of a multi-chain ``run_chain``): ``ess`` drops that warning."""
    with caplog.at_level(logging.WARNING):
        ess(np.random.default_rng(3).standard_normal((2, 200)))
    assert not [r for r in caplog.records if "complex" in r.getMessage()]
