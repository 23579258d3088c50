"""Run the seed examples and write their real output into docs/generated/ (committed).

    .venv/bin/python scripts/docs_examples.py [--quick]

For each example it records the command, the exact printed output (``<name>.txt``) and a
figure (``<name>*.png``): the tutorial writes its own training curves; for the logistic
regression and the MLP the returned per-epoch scores are plotted here. The worked-example
pages include these files, so the docs show what the programs really print. ``--quick`` uses
fewer iterations (for checking the script itself, not for the committed outputs).
"""
import argparse
import contextlib
import io
import os
import platform
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


def plot_scores(scores, path, ylabel, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(scores, lw=0.8)
    ax.set_xlabel("epoch (one minibatch each)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    import logistic_regression
    import mlp
    import tutorial

    q = args.quick
    run_example("tutorial", tutorial,
                ["--out", "docs/generated/tutorial"] + (["--iters", "20", "--exercise-iters", "5"] if q else []))
    res = run_example("logistic_regression", logistic_regression, ["--epochs", "100" if q else "1000"])
    plot_scores(res["scores"], os.path.join(OUT, "logistic_regression_scores.png"),
                "mean log p of a batch's labels", "examples/logistic_regression.py: train score")
    res = run_example("mlp", mlp, ["--iters", "40" if q else "400"])
    plot_scores(res["scores"], os.path.join(OUT, "mlp_scores.png"),
                "log p of a batch's labels", "examples/mlp.py: train score")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
