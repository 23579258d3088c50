"""Seeds and standard noise: the Threefry generator against its published test vectors, the
distribution of its draws, and the property it exists for: ``tf.vectorized_map`` batches it
(no per-particle loop) and gives the numbers a Python loop gives.

Statistical tolerances: false-fail rate 1e-6 per assertion (z-bounds from ``gentf.testing``;
the Kolmogorov-Smirnov test rejects at p < 1e-6).
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from gentf.core import seeds
from gentf.testing.stats import assert_mean_close

U32 = tf.uint32


@pytest.mark.parametrize("key,counter,expected", [
    # Random123's known-answer vectors for threefry2x32_20 (kat_vectors).
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry_known_answers(key, counter, expected):
    y0, y1 = seeds.threefry2x32(tf.constant(key, U32), tf.constant(counter[0], U32), tf.constant(counter[1], U32))
    assert (int(y0), int(y1)) == expected


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_batchable_normal_is_standard_normal(dtype):
    with seeds.vectorizable_randomness():
        x = seeds.standard_normal([100_000], tf.constant([3, 4]), dtype).numpy()
    assert x.dtype == dtype.as_numpy_dtype
    assert_mean_close(x, 0.0, 1.0, false_fail_rate=1e-6)
    assert_mean_close(x * x, 1.0, np.sqrt(2.0), false_fail_rate=1e-6, what="second moment")
    assert stats.kstest(x, "norm").pvalue > 1e-6


@pytest.mark.parametrize("dtype,bits", [(tf.float32, 23), (tf.float64, 52)])
def test_batchable_uniform_is_open_and_uses_all_bits(dtype, bits):
    with seeds.vectorizable_randomness():
        u = seeds.standard_uniform([100_000], tf.constant([5, 6]), dtype).numpy()
    assert 0.0 < u.min() and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-6
    # every value is (2k + 1) 2^-(bits + 1) for an integer k < 2^bits
    k = (u * 2.0 ** (bits + 1) - 1) / 2
    np.testing.assert_array_equal(k, np.round(k))
    if bits == 52:  # more than 32 bits are random: not all on the float32 grid
        assert np.any((u * 2.0 ** 24) % 1.0 != 0.5)


def test_derived_seeds_are_distinct():
    for vectorizable in (False, True):
        with seeds.vectorizable_randomness(vectorizable):
            base = tf.constant([7, 8])
            split = seeds.split_seed(base, 100).numpy()
            folded = np.stack([seeds.fold_in(base, i).numpy() for i in range(100)])
            rows = {tuple(r) for r in np.concatenate([split, folded, [base.numpy()]])}
            assert len(rows) == 201, vectorizable


def _draws(seed):
    """A particle's worth of randomness: seeds derived twice, then normal and uniform noise."""
    stream = seeds.SeedStream(seed)
    s1, s2 = tf.unstack(seeds.split_seed(stream(), 2))
    return seeds.standard_normal([3], s1, tf.float32), seeds.standard_uniform([], seeds.fold_in(s2, 4), tf.float64)


def test_vectorized_map_batches_the_generator_and_matches_a_loop():
    particle_seeds = seeds.split_seed(tf.constant([1, 2]), 50)

    @tf.function(autograph=False)
    def batched(particle_seeds):
        with seeds.vectorizable_randomness():
            return tf.vectorized_map(_draws, particle_seeds, fallback_to_while_loop=False)

    normal, uniform = batched(particle_seeds)  # fallback_to_while_loop=False: fails if it loops
    with seeds.vectorizable_randomness():
        looped = [_draws(s) for s in tf.unstack(particle_seeds)]
    # the same bits; erfinv's vectorised kernel may differ in the last float32 place
    np.testing.assert_allclose(normal.numpy(), np.stack([n.numpy() for n, _ in looped]), rtol=1e-6)
    np.testing.assert_array_equal(uniform.numpy(), np.stack([u.numpy() for _, u in looped]))
    assert len(np.unique(normal.numpy()[:, 0])) == 50  # particles differ


def test_native_draws_are_the_same_eagerly_and_in_a_graph():
    seed = tf.constant([9, 10])
    graph = tf.function(lambda s: (seeds.standard_normal([4], s, tf.float32), seeds.split_seed(s, 3),
                                   seeds.fold_in(s, 5)), autograph=False)
    eager = (seeds.standard_normal([4], seed, tf.float32), seeds.split_seed(seed, 3), seeds.fold_in(seed, 5))
    for a, b in zip(eager, graph(seed)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_child_streams_are_lazy_and_give_the_same_seeds():
    """``stream.child()`` is ``SeedStream(stream())`` with the base derived on first draw: the
    same numbers, and no op at all for a child that never draws."""
    from gentf.core.seeds import SeedStream
    a, b = SeedStream(7), SeedStream(7)
    eager_child = SeedStream(a())
    lazy_child = b.child()
    np.testing.assert_array_equal(lazy_child(), eager_child())
    np.testing.assert_array_equal(lazy_child.child()(), eager_child.child()())
    np.testing.assert_array_equal(b(), a())  # the parents stay in step

    def unused(seed):
        SeedStream(seed).child()  # a nested call that samples nothing
        return tf.constant(0)
    graph = tf.function(unused, autograph=False).get_concrete_function(tf.constant([1, 2])).graph
    assert not any("Random" in op.type for op in graph.get_operations())


def test_eager_threefry_runs_on_the_host_with_the_same_bits():
    # seeds with negative int32 words, counters of several shapes: numpy (eager) vs TF ops (graph)
    graph = tf.function(lambda s, c: seeds._threefry(s, c, seeds._DRAW), autograph=False)
    for seed in ([0, 0], [-1, 2**31 - 1], [-123456789, 987654321]):
        for counter in (tf.constant(5), tf.range(7), tf.reshape(tf.range(12), [3, 4])):
            eager = seeds._threefry(tf.constant(seed), counter, seeds._DRAW)
            for a, b in zip(eager, graph(tf.constant(seed), counter)):
                assert a.dtype == b.dtype == tf.int32 and a.shape == b.shape
                np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- which seeds are accepted ---------------------------------------------------------------
import gentf  # noqa: E402
from gentf import gen, normal  # noqa: E402

VALID_SEEDS = [  # (seed, the [2] int32 seed it stands for): every form accepted before, same values
    (0, [0, 0]), (5, [0, 5]), (2**31 - 1, [0, 2**31 - 1]), (2**31, [0, -2**31]), (np.int64(7), [0, 7]),
    (np.int32(3), [0, 3]), (np.uint32(2**32 - 1), [0, -1]), (np.array(5), [0, 5]), (tf.constant(5), [0, 5]),
    ([1, 2], [1, 2]), ((1, 2), [1, 2]), ([-1, -2], [-1, -2]), ([2**32 - 1, 3], [-1, 3]),
    (np.array([1, 2], np.int64), [1, 2]), (tf.constant([1, 2], tf.int64), [1, 2]),
    (tf.constant([-7, 9]), [-7, 9]),
    # ints of 32 to 63 bits: their two words (they all used to collide with 0 .. 2**32 - 1)
    (2**32, [1, 0]), (2**40 + 3, [256, 3]), (2**63 - 1, [2**31 - 1, -1]),
    (-5, [0, -5]), (-2**31, [0, -2**31]),  # negative 32-bit ints: [0, n], as always
]


@pytest.mark.parametrize("seed,expected", VALID_SEEDS, ids=repr)
def test_valid_seeds(seed, expected):
    s = seeds.as_seed(seed)
    assert s.dtype == tf.int32 and s.numpy().tolist() == expected
    graph = tf.function(lambda x: seeds.as_seed(x), autograph=False)(tf.constant(seed))
    assert graph.numpy().tolist() == expected  # a symbolic seed: the same seed


@pytest.mark.parametrize("seed", ["abc", 2**70, 2**63, -2**31 - 1, 1.5, True, np.float64(3.0), [1.5, 2], [1, 2, 3],
                                  [2**40, 3], np.zeros([2, 2], np.int32), tf.constant([1.0, 2.0]), object()],
                         ids=repr)
def test_invalid_seeds_are_named_errors(seed):
    with pytest.raises(gentf.SeedError, match=r"(?s)seed=.*an int in \[-2\*\*31, 2\*\*63\), a pair"):
        seeds.as_seed(seed)


@gen
def one_normal():
    normal(0.0, 1.0) @ "x"


def test_a_seeded_call_with_a_bad_seed_raises_before_running():
    trace = gentf.simulate(one_normal, (), seed=0)
    before = float(trace["x"])
    for call in (lambda s: gentf.simulate(one_normal, (), seed=s),
                 lambda s: gentf.regenerate(trace, selection=gentf.select("x"), seed=s),
                 lambda s: gentf.mh(trace, gentf.select("x"), seed=s),
                 lambda s: gentf.run_chain(lambda t, k: gentf.mh(t, gentf.select("x"), seed=k), trace, 2,
                                           seed=s, progress=False)):
        for bad in ("abc", 2**70):
            with pytest.raises(gentf.SeedError, match="seed="):
                call(bad)
    assert float(trace["x"]) == before
    assert issubclass(gentf.SeedError, ValueError)
