"""Stateless seeding.

Every GFI entry point takes ``seed=``: an int, a pair of ints or a shape-[2] integer tensor. The
same seed gives the same trace, eagerly and under ``tf.function``. Inside one execution a
``SeedStream`` derives one fresh stateless seed per random choice (``stateless_fold_in`` of the
base seed with a counter), so results do not depend on any global state. With ``seed=None`` a
base seed is drawn from a global ``tf.random.Generator``; ``gentf.seed(n)`` resets that generator,
so unseeded programs are reproducible too.
"""
import tensorflow as tf

_generator = tf.random.Generator.from_non_deterministic_state()


def seed(n):
    """Reset the global generator that supplies base seeds to unseeded calls."""
    global _generator
    _generator = tf.random.Generator.from_seed(int(n))


def fresh_seed():
    """A new base seed (shape [2], int32) from the global generator."""
    return tf.cast(_generator.make_seeds(1)[:, 0], tf.int32)


def as_seed(s):
    """Convert a user seed to a shape-[2] int32 tensor (None draws a fresh one)."""
    if s is None:
        return fresh_seed()
    if isinstance(s, SeedStream):
        return s()
    if isinstance(s, int):
        return tf.constant([0, s], tf.int32)
    s = tf.cast(tf.convert_to_tensor(s), tf.int32)
    if s.shape.rank == 0:
        return tf.stack([tf.zeros([], tf.int32), s])
    if s.shape != (2,):
        raise ValueError(f"seed: expected an int or a pair of ints, got shape {s.shape}")
    return s


def split_seed(s, n):
    """``n`` independent seeds from one, as a ``[n, 2]`` tensor."""
    return tf.random.experimental.stateless_split(as_seed(s), n)


class SeedStream:
    """Deterministic stream of stateless seeds derived from one base seed."""

    __slots__ = ("_base", "_count")

    def __init__(self, base=None):
        self._base = as_seed(base)
        self._count = 0

    def __call__(self):
        self._count += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._count)
