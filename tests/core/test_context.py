"""The execution context is per thread: a call in one thread never sees another's scopes."""
import threading

import numpy as np
import pytest
import tensorflow as tf

import gentf
from gentf import gen, normal
from gentf.core import context
from gentf.core.seeds import vectorizable_randomness


@gen
def pair():
    a = normal(0.0, 1.0) @ "a"
    return normal(a, 1.0) @ "b"


def draws(seeds):
    return [float(gentf.generate(pair, (), {"b": 0.5}, seed=s)[0]["a"]) for s in seeds]


def test_seeded_calls_are_unaffected_by_another_thread_compiling():
    """Thread B makes seeded ``generate`` calls (eager, then compiled) while thread A traces
    importance-sampling programs (which run under the batched generator and seed scopes): B's
    draws equal those made alone. Before the context was per thread, 56-128 of 120-200 calls
    per run drew differently."""
    seeds = list(range(60))
    expected = draws(seeds)
    stop, errors = threading.Event(), []

    def compile_programs():
        try:
            k = 0
            while not stop.is_set() and k < 40:
                @gen
                def fresh(x):
                    return normal(normal(0.0, 1.0) @ "m", 1.0) @ ("y", 0)
                gentf.importance_sampling(fresh, (np.float32(k),), {("y", 0): 1.0}, 10, seed=k)
                k += 1
        except Exception as e:  # reported by the main thread
            errors.append(e)

    other = threading.Thread(target=compile_programs)
    other.start()
    try:
        got = [draws(seeds) for _ in range(3)]
    finally:
        stop.set()
        other.join()
    assert not errors, errors
    for run in got:
        assert run == expected


def test_scopes_are_per_thread_and_restored_after_errors():
    seen = {}
    with vectorizable_randomness():
        assert context.current().vectorizable
        t = threading.Thread(target=lambda: seen.update(v=context.current().vectorizable,
                                                        f=context.current().call_float))
        t.start()
        t.join()
    assert seen == {"v": False, "f": None}
    with pytest.raises(ZeroDivisionError):
        with context.scoped(vectorizable=True, call_float=tf.float64):
            1 / 0
    assert not context.current().vectorizable and context.current().call_float is None
