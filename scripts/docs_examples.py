"""Run the seed examples and write their real output into docs/generated/ (committed).

    .venv/bin/python scripts/docs_examples.py [--quick] [--only NAME ...]

For each example it records the command, the exact printed output (``<name>.txt``) and a
figure (``<name>*.png``): the tutorial writes its own training curves; for the logistic
regression and the MLP the returned per-epoch scores are plotted here; the VAEs write their own
figures (``reconstruction.png``; ``samples.png`` and ``latent.png``), copied here with the
example's name as prefix (their checkpoints and TensorBoard logs stay under ``out/docs/``). The
worked-example pages include these files, so the docs show what the programs really print.
``--quick`` uses fewer iterations (for checking the script itself, not for the committed
outputs); ``--only`` runs only the named examples (tutorial, logistic_regression, mlp, vae_mlp,
conv_vae_static, conv_vae_mixture).
"""
import argparse
import contextlib
import io
import os
import platform
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "generated")
sys.path.insert(0, os.path.join(ROOT, "examples"))


class Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, s):
        for st in self.streams:
            st.write(s)
        return len(s)

    def flush(self):
        for st in self.streams:
            st.flush()


def run_example(name, module, argv):
    """``module.main(argv)`` with its stdout captured into ``docs/generated/<name>.txt``."""
    buf = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(Tee(sys.stdout, buf)):
        result = module.main(argv)
    seconds = time.perf_counter() - start
    cmd = " ".join(["python", f"examples/{module.__name__}.py"] + argv)
    with open(os.path.join(OUT, f"{name}.txt"), "w") as f:
        f.write(f"$ {cmd}\n{buf.getvalue()}")
    with open(os.path.join(OUT, f"{name}.meta"), "w") as f:
        f.write(f"The whole program ran in {seconds:.1f} s on {platform.machine()} ({os.cpu_count()} CPUs), Python "
                f"{platform.python_version()}, TensorFlow {__import__('tensorflow').__version__}\n")
    return result


def plot_scores(scores, path, ylabel, title, xlabel="epoch (one minibatch each)"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(scores, lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def copy_figures(name, folder, files):
    """Copy the figures an example wrote into ``folder`` to ``docs/generated/<name>_<file>``."""
    for f in files:
        shutil.copyfile(os.path.join(folder, f), os.path.join(OUT, f"{name}_{f}"))


EXAMPLES = ("tutorial", "logistic_regression", "mlp", "vae_mlp", "conv_vae_static", "conv_vae_mixture")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=EXAMPLES, default=EXAMPLES)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    import conv_vae
    import logistic_regression
    import mlp
    import tutorial
    import vae_mlp

    q, only = args.quick, set(args.only)
    if "tutorial" in only:
        run_example("tutorial", tutorial,
                    ["--out", "docs/generated/tutorial"] + (["--iters", "20", "--exercise-iters", "5"] if q else []))
    if "logistic_regression" in only:
        res = run_example("logistic_regression", logistic_regression, ["--epochs", "100" if q else "1000"])
        plot_scores(res["scores"], os.path.join(OUT, "logistic_regression_scores.png"),
                    "mean log p of a batch's labels", "examples/logistic_regression.py: train score")
    if "mlp" in only:
        res = run_example("mlp", mlp, ["--iters", "40" if q else "400"])
        plot_scores(res["scores"], os.path.join(OUT, "mlp_scores.png"),
                    "log p of a batch's labels", "examples/mlp.py: train score")
    if "vae_mlp" in only:
        folder = os.path.join("out", "docs", "vae_mlp")
        res = run_example("vae_mlp", vae_mlp, ["--epochs", "3" if q else "30", "--out", folder])
        copy_figures("vae_mlp", folder, ["reconstruction.png"])
        plot_scores(res["elbos"], os.path.join(OUT, "vae_mlp_elbo.png"), "ELBO (nats per image)",
                    "examples/vae_mlp.py: training ELBO", xlabel="epoch (one pass over the training set)")
    for prior in ("static", "mixture"):
        name = f"conv_vae_{prior}"
        if name in only:
            folder = os.path.join("out", "docs", name)
            shutil.rmtree(folder, ignore_errors=True)   # no checkpoint of an earlier run
            run_example(name, conv_vae, ["--prior", prior, "--epochs", "2" if q else "40", "--batch", "64",
                                         "--lr", "1e-3", "--iwae-k", "20", "--out", folder])
            copy_figures(name, folder, ["samples.png", "latent.png"])


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
