"""Checkpoints and TensorBoard summaries of gentf's training loops (``train``).

Checkpoints (Keras ``BackupAndRestore``): ``train(..., checkpoint=manager_or_directory,
checkpoint_every=N)`` saves, every N epochs and after the last one, a ``tf.train.Checkpoint`` of
``TrainState``: the generative function (its parameters, ``core.tracking``), the ``ParamUpdate``
(parameters, accumulators, optimizer state), the epoch counter, the base seed, the scores so far
and the ``tf.data`` iterator (its position and prefetch buffer). Each epoch's randomness is a
pure function of ``(seed, epoch)``, so a run resumed from epoch ``k`` is bit-for-bit the run
that was never interrupted. When the manager (or directory) already holds a checkpoint,
``train`` restores it first and continues from its epoch. A directory gets a
``tf.train.CheckpointManager`` keeping the last 3 checkpoints; a given manager's checkpoint gets
the state attached as its attribute ``gentf_train``. TF writes a checkpoint's files first and
updates the ``checkpoint`` index file last (atomically), so a write killed half-way leaves the
previous checkpoint the latest one.

A checkpoint that cannot be read (corrupt or truncated files), or that does not match the
objects (another model, other parameter names or shapes, another seed) raises
``CheckpointError`` before anything is trained or saved, so nothing is overwritten.

Summaries: ``train(..., summary=writer_or_logdir)`` writes, at step ``epoch``, the scalar
``objective`` (the epoch's score) and, every ``histogram_every`` epochs and after the last, a
histogram ``params/<name>`` of each trained parameter after the epoch and ``grads/<name>`` of
its accumulated gradient before the epoch's last ``apply``; the writer is flushed when
``train`` returns or raises; and once, the graph of the compiled epoch program (``tf.summary.graph``; none when the model
runs eagerly).
"""
import os

import numpy as np
import tensorflow as tf

from ..core.errors import GentfError
from ..core.tracking import Checkpointable


class CheckpointError(GentfError):
    """A checkpoint cannot be read, or does not match the objects it is restored into."""


class TrainState(Checkpointable):
    """What ``train`` checkpoints: model, update, epoch counter, base seed, scores, data
    iterator (None for a ``data_generator``, whose state is the caller's)."""

    def __init__(self, gen_fn, update, seed, iterator=None):
        self.gen_fn, self.update, self.iterator = gen_fn, update, iterator
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.seed = tf.Variable(seed, dtype=tf.int32, trainable=False, name="seed")
        self.scores = tf.Variable(tf.zeros([0], tf.float64), shape=[None], trainable=False, name="scores")
        self.history = []  # the scores so far (tensors or floats); restored from ``scores``

    def _checkpoint_children(self):
        out = {"model": self.gen_fn, "update": self.update, "epoch": self.epoch, "seed": self.seed,
               "scores": self.scores}
        if self.iterator is not None:
            out["data"] = self.iterator
        return out

    def record(self, epoch, score):
        """Score of ``epoch`` recorded (in Python; ``save`` writes them to the Variables)."""
        del self.history[epoch:]
        self.history.append(score)

    def save(self, manager):
        """Checkpoint now: the epoch counter and scores are written first."""
        self.epoch.assign(len(self.history))
        self.scores.assign(tf.constant(np.array([float(x) for x in self.history], np.float64)))
        manager.save(checkpoint_number=len(self.history))


def manager_for(checkpoint, state):
    """A ``tf.train.CheckpointManager`` saving ``state``: ``checkpoint`` is a manager (the
    state is attached to its checkpoint) or a directory."""
    if checkpoint is None:
        return None
    if isinstance(checkpoint, tf.train.CheckpointManager):
        checkpoint.checkpoint.gentf_train = state
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(gentf_train=state), os.fspath(checkpoint),
                                             max_to_keep=3)
        manager._gentf_owned = True
        return manager
    raise GentfError(f"train: checkpoint must be a tf.train.CheckpointManager or a directory, got {checkpoint!r}")


def restore(manager, state, explicit_seed):
    """Restore the latest checkpoint of ``manager`` into ``state`` (no-op without one);
    ``CheckpointError`` when it is unreadable or does not match, or when ``explicit_seed`` (the
    caller's seed, None if unseeded) differs from the saved one."""
    path = manager.latest_checkpoint if manager is not None else None
    if path is None:
        return False
    try:
        status = manager.checkpoint.restore(path)
        status.assert_existing_objects_matched()
        if getattr(manager, "_gentf_owned", False):
            status.assert_consumed()  # our own checkpoint: every saved value has its object
        if state.iterator is None and _has_data(path):
            raise AssertionError("the checkpoint holds a tf.data iterator, but training is given a data_generator")
    except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:  # IndexError: truncated files
        raise CheckpointError(f"train: cannot restore checkpoint {path!r}: {type(e).__name__}: {e}") from None
    if explicit_seed is not None and not np.array_equal(state.seed.numpy(), explicit_seed):
        raise CheckpointError(f"train: checkpoint {path!r} was made with seed {state.seed.numpy().tolist()}, "
                              f"not {np.asarray(explicit_seed).tolist()}")
    state.history = list(state.scores.numpy()[:int(state.epoch.numpy())])
    return True


def _has_data(path):
    return any("gentf_train/data" in name for name, _ in tf.train.list_variables(path))


class Summaries:
    """Writes one epoch's objective, histograms and (once) the program's graph."""

    def __init__(self, summary, update, histogram_every=1):
        if isinstance(summary, (str, os.PathLike)):
            summary = tf.summary.create_file_writer(os.fspath(summary))
        if not hasattr(summary, "as_default"):
            raise GentfError(f"train: summary must be a tf.summary writer or a log directory, got {summary!r}")
        self.writer, self.update, self._graph = summary, update, False
        self.histogram_every = histogram_every
        self.names = [v.name.split(":")[0] for v in update.variables]

    def end_epoch(self, epoch, score, grads, graph=None, last=False):
        """Write epoch ``epoch``'s summaries; ``graph()`` gives the program's ``tf.Graph`` (or
        None), written once."""
        with self.writer.as_default(step=epoch):
            if not self._graph and graph is not None:
                g = graph()
                if g is not None:
                    tf.summary.graph(g)
                    self._graph = True
            tf.summary.scalar("objective", score)
            if epoch % self.histogram_every == 0 or last:
                for name, var, grad in zip(self.names, self.update.variables, grads):
                    tf.summary.histogram(f"params/{name}", var)
                    tf.summary.histogram(f"grads/{name}", grad)
