"""``run_chain(jit_compile="auto")``, the default: XLA compiles a chain program of at most
``core.compile.XLA_MAX_OPS`` graph ops, a larger one runs as a plain graph (XLA's compile time on
CPU grows by ~10 ms per op). The choice is fixed per program, so the same seed gives the same
draws on every call, and a plain-graph chain gives the draws of ``jit_compile=False``."""
import numpy as np

import gentf
from gentf import gen, normal, select
from gentf.core import compile as compiled


@gen
def model():
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(3):
        normal(mu, 1.0) @ ("y", i)


def kernel_of(n):
    def kernel(trace):
        for _ in range(n):
            trace, _ = gentf.mh(trace, select("mu"))
        return trace
    return kernel


def start():
    return gentf.generate(model, (), {("y", i): 0.5 * i for i in range(3)}, seed=0)[0]


def xla_keys(kernel):
    state = compiled._owners[kernel]
    return [k for k in state.programs if len(k) == 2 and k[1] is True], state.no_xla


def test_a_small_chain_compiles_with_xla_and_repeats_its_draws():
    kernel = kernel_of(1)
    a = gentf.run_chain(kernel, start(), 20, seed=4, progress=False)[1]["mu"]
    b = gentf.run_chain(kernel, start(), 20, seed=4, progress=False)[1]["mu"]
    with_xla, no_xla = xla_keys(kernel)
    assert with_xla and not no_xla
    np.testing.assert_array_equal(a, b)


def test_a_large_chain_runs_as_a_plain_graph(monkeypatch):
    monkeypatch.setattr(compiled, "XLA_MAX_OPS", 50)  # every chain program is "large"
    kernel = kernel_of(2)
    a = gentf.run_chain(kernel, start(), 20, seed=4, progress=False)[1]["mu"]
    b = gentf.run_chain(kernel, start(), 20, seed=4, progress=False)[1]["mu"]
    with_xla, no_xla = xla_keys(kernel)
    assert not with_xla and no_xla
    np.testing.assert_array_equal(a, b)
    plain = gentf.run_chain(kernel_of(2), start(), 20, seed=4, jit_compile=False, progress=False)[1]["mu"]
    np.testing.assert_allclose(a, plain, rtol=1e-6)


def test_op_count_includes_loop_bodies():
    kernel = kernel_of(1)
    gentf.run_chain(kernel, start(), 5, seed=1, jit_compile=False, progress=False)
    program = [p for k, p in compiled._owners[kernel].programs.items() if k[0] == "concrete"][0]
    top = len(program.graph.as_graph_def().node)
    assert compiled.num_ops(program.graph) > top  # the while loop's body is counted
