"""Checkpoints and TensorBoard summaries of gentf's loops: ``train``, ``black_box_vi`` /
``black_box_vimco``, ``SVI.run`` / ``svi``, ``run_chain`` / ``mcmc`` and ``nuts`` (one mechanism for all).

Checkpoints (Keras ``BackupAndRestore``): a loop given ``checkpoint=manager_or_directory,
checkpoint_every=N`` saves, every N iterations (epochs, VI iterations, chain steps) once
``checkpoint_secs`` have passed since the last save, and after the last one, a
``tf.train.Checkpoint`` of its state, a ``LoopState``: the trained objects (for
``train`` the generative function, its parameters via ``core.tracking``, and the ``ParamUpdate``
with its optimizer state; the ``tf.data`` iterator, its position and prefetch buffer), the
iteration counter, the base seed and the scores so far (``TrainState``; a chain's state is
``inference.resume.ChainState``). Each iteration's randomness is a pure function of
``(seed, iteration)``, so a run resumed from iteration ``k`` is bit-for-bit the run that was never
interrupted. When the manager (or directory) already holds a checkpoint, the loop restores it
first and continues from its iteration. A directory gets a ``tf.train.CheckpointManager`` keeping
the last 3 checkpoints; a given manager's checkpoint gets the state attached as its attribute
``state.NAME`` (``gentf_train``, ``gentf_chain``). TF writes a checkpoint's files first and
updates the ``checkpoint`` index file last (atomically), so a write killed half-way leaves the
previous checkpoint the latest one, and its temporary ``ckpt-N_temp/`` folder (or index file
``checkpoint.tmp<hex>``) behind: a directory's manager removes such leftovers before each save
(``Manager``; a given manager's directory is the caller's and is left alone).

A checkpoint that cannot be read (corrupt or truncated files, an index file ``checkpoint`` that
is not one, which TF would ignore and start afresh), or that does not match the objects (another
model, other parameter names or shapes, another seed, another trace structure) raises
``CheckpointError`` before anything is run or saved, so nothing is overwritten or deleted.

Summaries: a loop given ``summary=writer_or_logdir`` writes, at step ``epoch``, the scalar
``objective`` (the epoch's score; ``Summaries.scalars`` writes others: SVI's ``loglik`` and
``kl``, a chain's ``acceptance_rate`` and ``step_size``) and, every ``histogram_every`` epochs and
after the last, a histogram ``params/<path>`` of each trained parameter after the epoch and (for
``train``) ``grads/<path>`` of its accumulated gradient before the epoch's last ``apply``
(``<path>``: ``variable_tags``; buffered, see ``Summaries``); the writer is flushed when the loop
returns or raises; and once, the graph of the compiled epoch program (``tf.summary.graph``; none when the model runs eagerly).
"""
import os
import re
import time

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram.summary_v2 import histogram_pb
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState
from tqdm.auto import tqdm

from ..core import compile as compiled
from ..core.errors import GentfError
from ..core.tracking import Checkpointable
from ..modeling.dsl import GenFunction


class CheckpointError(GentfError):
    """A checkpoint cannot be read, or does not match the objects it is restored into."""


class LoopState(Checkpointable):
    """What a loop checkpoints: ``objects`` (``{name: trackable}``, None values dropped), the
    iteration counter ``epoch``, the base ``seed`` and the scores so far (one float, or a vector
    of ``width`` floats, per iteration). Saved as the attribute ``NAME`` of the checkpoint."""

    NAME = "gentf_train"

    def __init__(self, objects, seed, width=None):
        self.objects = {name: obj for name, obj in objects.items() if obj is not None}
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.seed = tf.Variable(seed, dtype=tf.int32, trainable=False, name="seed")
        shape = [0] if width is None else [0, width]
        self.scores = tf.Variable(tf.zeros(shape, tf.float64), shape=[None] + shape[1:], trainable=False,
                                  name="scores")
        self.history = []  # the scores so far (tensors, floats or float tuples); restored from ``scores``

    def _checkpoint_children(self):
        return dict(self.objects, epoch=self.epoch, seed=self.seed, scores=self.scores)

    def record(self, epoch, score):
        """Score of ``epoch`` recorded (in Python; ``save`` writes them to the Variables)."""
        del self.history[epoch:]
        self.history.append(score)

    def save(self, manager, numbered=True):
        """Checkpoint now: the epoch counter and scores are written first. The checkpoint is
        numbered by the iterations done (``numbered=False``: by the checkpoint's save counter,
        for a loop that also saves within an iteration, whose saves can share that count)."""
        self.epoch.assign(len(self.history))
        scores = np.array([np.asarray(x, np.float64) for x in self.history], np.float64)
        self.scores.assign(scores.reshape([len(self.history)] + self.scores.shape.as_list()[1:]))
        manager.save(checkpoint_number=len(self.history) if numbered else None)

    def after_restore(self, path):
        """Called by ``restore`` once the variables hold the checkpoint's values."""
        self.history = list(self.scores.numpy()[:int(self.epoch.numpy())])


class TrainState(LoopState):
    """What ``train`` checkpoints: model, update, epoch counter, base seed, scores, data
    iterator (None for a ``data_generator``, whose state is the caller's)."""

    def __init__(self, gen_fn, update, seed, iterator=None):
        super().__init__({"model": gen_fn, "update": update, "data": iterator}, seed)
        self.gen_fn, self.update, self.iterator = gen_fn, update, iterator

    def after_restore(self, path):
        if self.iterator is None and _has_data(path):
            raise CheckpointError(f"train: checkpoint {path!r} holds a tf.data iterator, but training is "
                                  "given a data_generator")
        super().after_restore(path)


class Manager(tf.train.CheckpointManager):
    """The ``tf.train.CheckpointManager`` of a checkpoint directory given to a loop: keeps the last
    3 checkpoints and, before each save, removes what killed saves left behind (TF's temporary
    ``ckpt-N_temp/`` folders and ``checkpoint.tmp<hex>`` index files; never a checkpoint's own
    ``ckpt-N.index`` / ``ckpt-N.data-*`` files nor the index file ``checkpoint``)."""

    LEFTOVER = re.compile(r"ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]{32}")

    def __init__(self, checkpoint, directory):
        super().__init__(checkpoint, directory, max_to_keep=3)

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        if tf.io.gfile.isdir(self.directory):
            for name in sorted(tf.io.gfile.listdir(self.directory)):
                name = name.rstrip("/")
                if self.LEFTOVER.fullmatch(name):
                    path = os.path.join(self.directory, name)
                    (tf.io.gfile.rmtree if tf.io.gfile.isdir(path) else tf.io.gfile.remove)(path)
        return super().save(checkpoint_number, check_interval, options)


def manager_for(checkpoint, state, where="train"):
    """A ``tf.train.CheckpointManager`` saving ``state``: ``checkpoint`` is a manager (the
    state is attached to its checkpoint as ``state.NAME``) or a directory (a ``Manager``).
    ``CheckpointError`` when the directory's index file is not one (``check_index``)."""
    if checkpoint is None:
        return None
    if isinstance(checkpoint, tf.train.CheckpointManager):
        check_index(checkpoint.directory, where)
        setattr(checkpoint.checkpoint, state.NAME, state)
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        check_index(os.fspath(checkpoint), where)
        return Manager(tf.train.Checkpoint(**{state.NAME: state}), os.fspath(checkpoint))
    raise GentfError(f"{where}: checkpoint must be a tf.train.CheckpointManager or a directory, got {checkpoint!r}")


def check_index(directory, where="train"):
    """Raise ``CheckpointError``, naming the file, when ``directory`` has an index file
    ``checkpoint`` (the text ``CheckpointState`` a ``tf.train.CheckpointManager`` writes) that
    cannot be read, parsed, names no latest checkpoint, or names one whose ``.index`` file is
    missing. (TF ignores such a file with a warning, or fails with a ``ValueError`` or
    ``UnicodeDecodeError``: a loop would start afresh, and its saves overwrite and then delete
    the good checkpoints.) Reads only; no index file is fine (no checkpoint yet)."""
    path = os.path.join(directory, "checkpoint")
    if not tf.io.gfile.exists(path):
        return
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            index = text_format.Merge(f.read().decode("utf-8"), CheckpointState())
    except (tf.errors.OpError, OSError, UnicodeDecodeError, text_format.ParseError) as e:
        problem = f"{type(e).__name__}: {e}"
    else:
        latest = index.model_checkpoint_path
        if not latest:
            problem = "it names no latest checkpoint (model_checkpoint_path)"
        elif not tf.io.gfile.exists(os.path.join(directory, latest) + ".index"):
            problem = f"its latest checkpoint {latest!r} has no .index file"
        else:
            return
    held = sorted(f[:-len(".index")] for f in tf.io.gfile.listdir(directory) if f.endswith(".index"))
    raise CheckpointError(f"{where}: the checkpoint index file {path!r} cannot be used ({problem}); nothing was "
                          f"restored, saved or deleted. The directory holds the checkpoints {held}: repair the file "
                          "(model_checkpoint_path: \"ckpt-N\") or use another directory")


def restore(manager, state, explicit_seed, where="train"):
    """Restore the latest checkpoint of ``manager`` into ``state`` (no-op without one; returns
    whether it restored); ``CheckpointError`` when it is unreadable or does not match, or when
    ``explicit_seed`` (the caller's seed, None if unseeded) differs from the saved one."""
    path = manager.latest_checkpoint if manager is not None else None
    if path is None:
        return False
    try:
        status = manager.checkpoint.restore(path)
        status.assert_existing_objects_matched()
        if isinstance(manager, Manager):
            status.assert_consumed()  # our own checkpoint: every saved value has its object
    except CheckpointError:
        raise
    except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as e:  # IndexError: truncated files
        raise CheckpointError(f"{where}: cannot restore checkpoint {path!r}: {type(e).__name__}: {e}") from None
    if explicit_seed is not None and not np.array_equal(state.seed.numpy(), explicit_seed):
        raise CheckpointError(f"{where}: checkpoint {path!r} was made with seed {state.seed.numpy().tolist()}, "
                              f"not {np.asarray(explicit_seed).tolist()}")
    state.after_restore(path)
    return True


def program_graph(owner, key, inputs):
    """The ``tf.Graph`` of ``owner``'s compiled program for ``key`` (``core.compile``) called with
    ``inputs`` (None: only a concrete program's), or None when there is none (the loop ran eagerly)."""
    fn = compiled.program(owner, key)
    if fn is None or (inputs is None and not hasattr(fn, "graph")):
        return None
    return fn.graph if hasattr(fn, "graph") else fn.get_concrete_function(*inputs).graph


def _has_data(path):
    return any(f"{TrainState.NAME}/data" in name for name, _ in tf.train.list_variables(path))


def variable_tags(variables, owners=()):
    """Unique TensorBoard tags of ``variables``, stable from run to run: each variable's path, as
    Keras' ``TensorBoard`` callback names a weight by its ``path``. A parameter ``name`` of a @gen
    function among ``owners`` is ``<function name>/<name>``; another variable's path is its Keras 3
    ``path``, else its TF name (``:0`` dropped; a Keras layer's variable is ``<model>/kernel``).
    A tag already taken gets the first free suffix ``_1``, ``_2``, ..., in the order of ``variables``."""
    paths = {}
    for fn in owners:
        if isinstance(fn, GenFunction):
            for name, var in fn.params().items():
                paths.setdefault(var.ref(), f"{fn.__name__}/{name}")
    tags, taken = [], set()
    for var in variables:
        path = paths.get(var.ref()) or getattr(var, "path", None) or var.name.split(":")[0]
        tag, k = path, 0
        while tag in taken:
            k += 1
            tag = f"{path}_{k}"
        taken.add(tag)
        tags.append(tag)
    return tags


class Summaries:
    """Writes one epoch's objective (and other scalars), histograms of ``update``'s variables
    (None: none; tagged ``params/<path>`` and ``grads/<path>``, ``variable_tags(variables, owners)``)
    and (once) the program's graph.

    The summaries are TensorBoard's own protos (``scalar_pb``, ``histogram_pb``: 30 buckets,
    computed in numpy), buffered and written in one compiled call (``_raw_writer``) at each
    histogram epoch, at the last and at ``flush()``. Eagerly a ``tf.summary.scalar`` costs
    ~0.6 ms (a fifth of a seed-tutorial step) and a histogram of 7,850 values ~4-6 ms; a compiled
    ``tf.summary.histogram`` takes 1.5 s to trace. Buffered, a scalar costs ~30 us and a
    histogram ~1 ms."""

    def __init__(self, summary, update=None, histogram_every=1, where="train", owners=()):
        if isinstance(summary, (str, os.PathLike)):
            summary = tf.summary.create_file_writer(os.fspath(summary))
        if not hasattr(summary, "as_default"):
            raise GentfError(f"{where}: summary must be a tf.summary writer or a log directory, got {summary!r}")
        self.writer, self._graph = summary, False
        self.histogram_every = histogram_every
        self.variables = list(update.variables) if update is not None else []
        self.names = variable_tags(self.variables, owners)
        self._protos, self._steps = [], []  # buffered: serialized Summary protos and their steps
        self._write = None  # the compiled writer (traced at the first write)
        self._templates = {}  # tag -> its scalar proto

    def end_epoch(self, epoch, score, grads=(), graph=None, last=False):
        """Record epoch ``epoch``'s summaries; ``graph()`` gives the program's ``tf.Graph`` (or
        None), written once. Histogram epochs and the last also write the buffer."""
        self.write_graph(graph, epoch)
        self.scalars(epoch, objective=score)
        if epoch % self.histogram_every == 0 or last:
            for name, var in zip(self.names, self.variables):
                self._add(histogram_pb(f"params/{name}", var.numpy()), epoch)
            for name, grad in zip(self.names, grads):
                self._add(histogram_pb(f"grads/{name}", np.asarray(grad)), epoch)
            self.write_buffered()

    def write_graph(self, graph, step=0):
        """Write ``graph()`` (a ``tf.Graph`` or None), once: the loop's compiled program."""
        if self._graph or graph is None:
            return
        g = graph()
        if g is not None:
            with self.writer.as_default(step=step):
                tf.summary.graph(g)
            self._graph = True

    def scalars(self, step, **values):
        """Scalars ``name=value`` at ``step`` (None values skipped), buffered: a copy of the tag's
        ``scalar_pb`` with the value set (~3 us; ``scalar_pb`` itself takes ~25 us)."""
        for name, value in values.items():
            if value is not None:
                if name not in self._templates:
                    self._templates[name] = scalar_pb(name, 0.0)
                proto = summary_pb2.Summary()
                proto.CopyFrom(self._templates[name])
                proto.value[0].tensor.float_val[0] = float(value)
                self._add(proto, step)

    def _add(self, proto, step):
        self._protos.append(proto.SerializeToString())
        self._steps.append(step)

    def write_buffered(self):
        """Write the buffered summaries (one compiled call)."""
        if self._protos:
            if self._write is None:
                self._write = _raw_writer(self.writer)
            self._write(tf.constant(self._protos), tf.constant(self._steps, tf.int64))
            self._protos, self._steps = [], []

    def flush(self):
        """Write the buffered summaries and flush the writer to its files."""
        self.write_buffered()
        self.writer.flush()


def _raw_writer(writer):
    """A compiled ``write(protos, steps)``: the serialized ``Summary`` ``protos[i]`` at step
    ``steps[i]``, in order (a plain ``tf.while_loop``: it traces in ~0.1 s)."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int64)],
                 autograph=False)
    def write(protos, steps):
        def body(i):
            with tf.control_dependencies([tf.summary.experimental.write_raw_pb(protos[i], step=steps[i])]):
                return i + 1
        with writer.as_default():
            tf.while_loop(lambda i: i < tf.size(steps), body, [tf.constant(0)])
    return write


class SaveSchedule:
    """When a loop checkpoints (tf.estimator's ``save_checkpoints_secs``: a save costs tens of
    milliseconds, a compiled step microseconds): ``step(done, end, last)`` calls ``save()``
    after the last step, and after a step from ``done`` to ``end`` that crosses a multiple of
    ``every`` once ``secs`` seconds have passed since the last save (0: at every such step)."""

    def __init__(self, save, every, secs):
        self.save, self.every, self.secs, self.saved = save, every, secs, time.monotonic()

    def step(self, done, end, last):
        if last or (end // self.every > done // self.every and self.waited()):
            self.now()

    def waited(self):
        """Have ``secs`` seconds passed since the last save?"""
        return time.monotonic() - self.saved >= self.secs

    def now(self):
        self.save()
        self.saved = time.monotonic()


class Loop:
    """The checkpoint, summary and progress-bar plumbing of an iterative loop (``black_box_vi``,
    ``SVI.run``): ``LoopState(objects, seed, width)`` restored from ``checkpoint`` (its counter is
    ``first``), then per iteration ``end(i, score, **scalars)``: record the score, write the
    summaries (``objective`` = the score, or its first entry for a vector, plus ``scalars``;
    histograms of ``update``'s variables every ``histogram_every`` iterations and after the last),
    show the score on the bar, save every ``checkpoint_every`` iterations when ``checkpoint_secs``
    seconds have passed since the last save (0: every time), and after the last.
    ``save_within()`` saves in the middle of an iteration (``SVI.run``'s ``checkpoint_steps``:
    its objects then hold the iteration's progress); such a loop passes ``numbered=False``, so
    its checkpoints are numbered by their save counter (``LoopState.save``).
    ``close()`` closes the bar and flushes the writer."""

    def __init__(self, where, objects, seed, explicit_seed, total, progress, checkpoint, checkpoint_every,
                 checkpoint_secs, summary, histogram_every, update=None, width=None, numbered=True):
        if checkpoint_every < 1 or histogram_every < 1:
            raise GentfError(f"{where}: checkpoint_every and histogram_every must be >= 1, got "
                             f"{checkpoint_every}, {histogram_every}")
        self.state = LoopState(objects, seed, width)
        self.manager = manager_for(checkpoint, self.state, where)
        restore(self.manager, self.state, explicit_seed, where)
        self.summaries = (Summaries(summary, update, histogram_every, where, owners=objects.values())
                          if summary is not None else None)
        self.first, self.total = int(self.state.epoch.numpy()), total
        self.schedule = SaveSchedule(lambda: self.state.save(self.manager, numbered), checkpoint_every,
                                     checkpoint_secs)
        self.bar = tqdm(total=total, initial=self.first, disable=not progress, desc=where)

    def end(self, i, score, graph=None, **scalars):
        """Iteration ``i`` (from 0) ended with ``score`` (a float or a tuple of floats);
        ``graph()``: the iteration's compiled ``tf.Graph`` (or None), written once."""
        self.state.record(i, score)
        objective = score[0] if isinstance(score, tuple) else score
        last = i + 1 == self.total
        if self.summaries is not None:
            self.summaries.end_epoch(i, objective, graph=graph, last=last)
            self.summaries.scalars(i, **scalars)
        self.bar.update(1)
        self.bar.set_postfix(objective=f"{objective:.6g}", refresh=False)
        if self.manager is not None:
            self.schedule.step(i, i + 1, last)

    def save_within(self):
        """Save within an iteration, when ``checkpoint_secs`` seconds have passed since the last save."""
        if self.manager is not None and self.schedule.waited():
            self.schedule.now()

    @property
    def history(self):
        return self.state.history

    def close(self):
        self.bar.close()
        if self.summaries is not None:
            self.summaries.flush()
