"""Smoke tests of examples/logistic_regression.py and examples/mlp.py (small settings)."""
import os
import subprocess
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)


def test_logistic_regression_recovers_beta():
    import logistic_regression
    r = logistic_regression.run(epochs=300, seed=0, verbose=False)
    assert np.max(np.abs(r["beta_hat"] - r["true_beta"])) < 0.3        # 1000 rows: beta to ~0.1
    assert np.max(np.abs(r["beta_hat"] - r["mle_beta"])) < 0.1         # close to the MLE
    assert r["accuracy"] >= r["true_accuracy"] - 0.03
    assert r["scores"][-20:].mean() > r["scores"][:20].mean()
    assert r["seconds"] < 60


def test_logistic_regression_per_choice_model_runs():
    import logistic_regression
    r = logistic_regression.run(epochs=3, batch=10, per_choice=True, seed=1, verbose=False)
    assert r["scores"].shape == (3,) and np.all(np.isfinite(r["scores"]))


def test_mlp_reaches_090_on_digits():
    import mlp
    r = mlp.run(iters=300, seed=0, verbose=False)
    assert r["accuracy"] >= 0.90, r["accuracy"]
    assert r["seconds"] < 60


def test_examples_run_as_scripts():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for script, args, needle in [("logistic_regression.py", ["--epochs", "50"], "recovered beta:"),
                                 ("mlp.py", ["--iters", "30"], "held-out accuracy")]:
        out = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert needle in out.stdout


def test_seed_tutorial_benchmark_runs():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    import seed_tutorial
    rows = seed_tutorial.main(["--iters", "20", "--rounds", "2", "--skip-per-choice"])
    names = [r[0] for r in rows]
    assert len(rows) == 4 and sum("gentf train" in n for n in names) == 2
    assert all(0.0 <= r[5] <= 1.0 and r[1] > 0 for r in rows)  # test accuracy, ms per iteration
