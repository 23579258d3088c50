"""Stateless seeding and the standard noise behind every random choice.

Every GFI entry point takes ``seed=``: an int, a pair of ints or a shape-[2] integer tensor. The
same seed gives the same trace, eagerly and under ``tf.function``. Native draws use TF's
default algorithm, Philox on CPU, except in programs traced for XLA (``xla_randomness()``,
entered by the inference library): there Philox is named, because XLA's default generator is
~20x slower on CPU (naming it elsewhere costs 40 more graph ops per draw, or a ~2 ms Python
detour eagerly); XLA's Philox stream differs from TF's, so ``jit_compile`` changes the numbers.
Inside one execution a ``SeedStream`` derives one fresh stateless seed per
random choice (``fold_in`` of the base seed with a counter), so results do not depend on any
global state. With ``seed=None`` a base seed is drawn from a global ``tf.random.Generator`` in
graphs, and eagerly from a cheaper host stream (``_HostSeeds``); ``gentf.seed(n)`` resets both, so unseeded programs are
reproducible too. Inside ``seed_scope(s)`` (entered by ``run_chain`` around each kernel step, with the step's seed) an
unseeded call instead takes the next seed of ``SeedStream(s)``: kernels written as in Gen.jl,
``mh(trace, select("x"))`` without seeds, get fresh independent randomness in every call of
every step, compiled or eager, and the chain's ``seed=`` fixes it all.

Batched randomness. ``tf.vectorized_map`` has no batched kernel for TF's stateless random ops:
over per-particle seeds it loops, one particle at a time. Inside ``vectorizable_randomness()``
(entered by the inference library around its particle-batched bodies) seeds are derived and
standard noise is drawn with Threefry-2x32-20 (Salmon et al. 2011, the generator of JAX)
written as elementwise uint32 ops, which ``vectorized_map`` batches and XLA fuses. The two
generators give different numbers for the same seed, each deterministic.
"""
import contextlib
import math
import os

import numpy as np
import tensorflow as tf

from .context import current, scoped
from .errors import SeedError

_generator = tf.random.Generator.from_non_deterministic_state()
_MASK64 = (1 << 64) - 1


class _HostSeeds:
    """Base seeds for unseeded eager calls: SplitMix64 (Steele et al. 2014) of a key and a
    counter, in Python. An eager draw of the ``tf.random.Generator`` costs 2-5 ms, more than a
    compiled kernel call; this costs a few microseconds. Inside a graph the generator is used
    (a Python value would be frozen into the graph)."""

    def __init__(self, key):
        self.key, self.count = key & _MASK64, 0

    def __call__(self):
        self.count += 1
        z = int(splitmix64(self.key, np.array([self.count], np.uint64))[0])
        halves = [(z >> 32) & 0xFFFFFFFF, z & 0xFFFFFFFF]
        return tf.constant([h - (1 << 32) if h >= 1 << 31 else h for h in halves], tf.int32)


def splitmix64(key, positions):
    """SplitMix64 (Steele et al. 2014): the values of the stream ``key`` (an int) at
    ``positions`` (a uint64 array), as a uint64 array."""
    with np.errstate(over="ignore"):  # arithmetic modulo 2^64
        z = np.uint64(key & _MASK64) + positions * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_host = _HostSeeds(int.from_bytes(os.urandom(8), "little"))


def seed(n):
    """Reset the global generator that supplies base seeds to unseeded calls."""
    global _generator, _host
    _generator = tf.random.Generator.from_seed(int(n))
    _host = _HostSeeds(int(n) * 0x2545F4914F6CDD1D + 1)


def fresh_seed():
    """A new base seed (shape [2], int32): the next of the innermost ``seed_scope``'s stream,
    else from the global generator."""
    scopes = current().seed_scopes
    if scopes:
        return scopes[-1]()
    if tf.executing_eagerly():
        return _host()
    return tf.cast(_generator.make_seeds(1)[:, 0], tf.int32)


@contextlib.contextmanager
def seed_scope(base):
    """Within: unseeded calls draw ``fold_in(base, k)`` for ``k = 1, 2, ...`` (stateless)."""
    with scoped(seed_scopes=current().seed_scopes + (SeedStream(base),)):
        yield


_SEED_FORMS = "an int in [-2**31, 2**63), a pair of 32-bit ints or an int tensor of shape [2]"


def as_seed(s):
    """Convert a user seed to a shape-[2] int32 tensor (None draws a fresh one). A seed is an int
    in ``[-2**31, 2**63)``, as its high and low 32-bit words (``n < 2**31`` gives ``[0, n]``); a pair
    of 32-bit ints (signed or unsigned words); or an integer tensor of shape [2] (or [], as an
    int). Anything else is a ``SeedError``: TF would wrap or truncate it silently."""
    if s is None:
        return fresh_seed()
    if isinstance(s, SeedStream):
        return s()
    if isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)):
        return _int_seed(int(s))
    try:
        t = tf.convert_to_tensor(s)
    except (TypeError, ValueError):
        raise SeedError(f"seed={s!r}: a seed must be {_SEED_FORMS}") from None
    if not t.dtype.is_integer or t.shape not in ((), (2,)):
        raise SeedError(f"seed={s!r}: a seed must be {_SEED_FORMS}, got {t.dtype.name} of shape {t.shape}")
    eager = hasattr(t, "numpy")  # a symbolic seed's value cannot be checked
    if t.shape == (2,):
        if eager and t.dtype != tf.int32 and not all(-2**31 <= int(v) < 2**32 for v in t.numpy()):
            raise SeedError(f"seed={s!r}: a pair's entries must be 32-bit ints (a seed must be {_SEED_FORMS})")
        return tf.cast(t, tf.int32)
    if eager:
        return _int_seed(int(t.numpy()))
    if t.dtype not in (tf.int64, tf.uint64):
        return tf.stack([tf.zeros([], tf.int32), tf.cast(t, tf.int32)])
    t = tf.cast(t, tf.int64)  # its two words, as ``_int_seed``
    high = tf.bitwise.right_shift(t, tf.constant(32, tf.int64))
    return tf.stack([tf.cast(high, tf.int32), tf.cast(t, tf.int32)])


def _int_seed(n):
    """The seed ``[high word, low word]`` of an int ``n`` in ``[0, 2**63)`` (words as int32);
    ``[0, n]`` for a negative 32-bit ``n``."""
    if -2**31 <= n < 0:
        return tf.constant([0, n], tf.int32)
    if not 0 <= n < 2**63:
        raise SeedError(f"seed={n}: a seed must be {_SEED_FORMS}")
    high, low = n >> 32, n & 0xFFFFFFFF
    return tf.constant([high, low - 2**32 if low >= 2**31 else low], tf.int32)


def split_seed(s, n):
    """``n`` independent seeds from one, as a ``[n, 2]`` tensor."""
    s = as_seed(s)
    if current().vectorizable:
        return tf.stack(_threefry(s, tf.range(n), _SPLIT), axis=-1)
    return tf.random.experimental.stateless_split(s, n, alg=_philox())


def fold_in(s, data):
    """A new seed from seed ``s`` and integer ``data`` (independent of ``s`` and of other data)."""
    if current().vectorizable:
        return tf.stack(_threefry(s, tf.reshape(data, []), _FOLD))
    return tf.random.experimental.stateless_fold_in(s, data, alg=_philox())


def standard_normal(shape, seed, dtype):
    """``shape`` draws of N(0, 1)."""
    if not current().vectorizable:
        return tf.random.stateless_normal(shape, seed, dtype=dtype, alg=_philox())
    return math.sqrt(2.0) * tf.math.erfinv(2.0 * _open_uniform(shape, seed, dtype) - 1.0)


def standard_uniform(shape, seed, dtype):
    """``shape`` draws of Uniform(0, 1) (in the open interval under the batched generator)."""
    if not current().vectorizable:
        return tf.random.stateless_uniform(shape, seed, dtype=dtype, alg=_philox())
    return _open_uniform(shape, seed, dtype)


def _philox():
    """TF's algorithm name: Philox by name for XLA, else the default (see the module docstring)."""
    return "philox" if current().xla and not tf.executing_eagerly() else "auto_select"


@contextlib.contextmanager
def xla_randomness():
    """Within (tracing a program XLA will compile): native draws name Philox."""
    with scoped(xla=True):
        yield


# --- Threefry-2x32-20 in elementwise ops -------------------------------------------------------
_FOLD, _SPLIT, _DRAW = 0, 1, 2  # domain tags (second counter word): the three uses never collide
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@contextlib.contextmanager
def vectorizable_randomness(on=True):
    """Within: seeds and standard noise come from the batchable Threefry generator."""
    with scoped(vectorizable=on):
        yield


def threefry2x32(key, x0, x1):
    """Threefry-2x32 with 20 rounds: the block cipher of key (2 uint32) applied to counters
    ``(x0, x1)`` (uint32 tensors of one shape); returns two uint32 tensors of that shape."""
    u32 = tf.uint32
    k0, k1 = key[0], key[1]
    ks = (k0, k1, tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(k0, k1), tf.constant(0x1BD11BDA, u32)))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = tf.bitwise.bitwise_or(tf.bitwise.left_shift(x1, tf.constant(r, u32)),
                                       tf.bitwise.right_shift(x1, tf.constant(32 - r, u32)))
            x1 = tf.bitwise.bitwise_xor(x1, x0)
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + tf.constant(i + 1, u32)
    return x0, x1


def _threefry(seed, counter, tag):
    """The cipher of ``seed`` on counters ``(counter, tag)``, as two int32 tensors. Eagerly it
    runs in numpy (``_threefry_host``): the same bits, without ~130 eager TF ops per call."""
    if tf.executing_eagerly():
        return _threefry_host(seed, counter, tag)
    key = tf.cast(tf.cast(seed, tf.int32), tf.uint32)  # wraps modulo 2^32 (bitcast has no pfor rule)
    x0 = tf.cast(tf.cast(counter, tf.int32), tf.uint32)
    y0, y1 = threefry2x32(key, x0, tf.fill(tf.shape(x0), tf.constant(tag, tf.uint32)))
    return tf.cast(y0, tf.int32), tf.cast(y1, tf.int32)


def _threefry_host(seed, counter, tag):
    """``_threefry`` in numpy's uint32 arithmetic (wrapping, as TF's): for eager calls, e.g. the
    eager loop of importance sampling over a model that cannot be batched."""
    key = np.asarray(seed, np.int32).astype(np.uint32)
    x0 = np.asarray(counter, np.int32).astype(np.uint32)
    shape = x0.shape
    x0 = x0.reshape(-1)
    x1 = np.full(x0.shape, tag, np.uint32)
    ks = (key[0], key[1], key[0] ^ key[1] ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
            x1 = x1 ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return (tf.constant(x0.astype(np.int32).reshape(shape)), tf.constant(x1.astype(np.int32).reshape(shape)))


def _open_uniform(shape, seed, dtype):
    """Uniform(0, 1) on the grid ``(2k + 1) 2^-(b+1)``, ``k`` of ``b`` random bits: 23 bits for
    float32 (one word), 52 for float64 (two words); exact in the dtype, never 0 or 1."""
    shape = tf.convert_to_tensor(shape, tf.int32)
    y0, y1 = _threefry(seed, tf.reshape(tf.range(tf.reduce_prod(shape)), shape), _DRAW)
    k = tf.bitwise.right_shift(tf.cast(y0, tf.uint32), tf.constant(9, tf.uint32))
    if dtype == tf.float64:
        lo = tf.bitwise.right_shift(tf.cast(y1, tf.uint32), tf.constant(3, tf.uint32))
        k = tf.cast(k, tf.float64) * 2.0 ** 29 + tf.cast(lo, tf.float64)
        return (2.0 * k + 1.0) * 2.0 ** -53
    return (2.0 * tf.cast(k, dtype) + 1.0) * 2.0 ** -24


class SeedStream:
    """Deterministic stream of stateless seeds derived from one base seed."""

    __slots__ = ("_base", "_count")

    def __init__(self, base=None):
        self._base = as_seed(base)
        self._count = 0

    def base(self):
        """The base seed (shape [2])."""
        return self._base

    def __call__(self):
        self._count += 1
        return fold_in(self.base(), self._count)

    def child(self):
        """``SeedStream(self())`` for a nested call, whose base seed is derived only when the
        child (or a child of it) first draws: a call that samples nothing adds no op (same
        numbers either way)."""
        self._count += 1
        return _ChildStream(self, self._count)


class _ChildStream(SeedStream):
    """A ``SeedStream`` whose base is ``fold_in(parent.base(), index)``, computed on first use."""

    __slots__ = ("_parent", "_index")

    def __init__(self, parent, index):
        self._parent, self._index, self._base, self._count = parent, index, None, 0

    def base(self):
        if self._base is None:
            self._base = fold_in(self._parent.base(), self._index)
        return self._base
