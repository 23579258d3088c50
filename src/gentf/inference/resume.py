"""Checkpoints and TensorBoard summaries of the inference loops: ``run_chain`` / ``mcmc``, ``nuts`` and
the particle filter (``black_box_vi`` and ``SVI`` use ``learning.checkpoint``'s ``LoopState`` as is).

Traces in a checkpoint. A trace (a batch of particles, a choice map of samples) is a nest whose
tensors are its components and whose static structure (addresses, distributions, generative
functions, Python arguments) is a hashable code (``_compile.static_key``). ``NestSnapshot`` is a
TF trackable that saves such a nest by ``tf.train.Checkpoint`` as three tensors: the components,
each ``tf.io.serialize_tensor``-ed, in one string vector (so a nest whose shapes or number of
components change, a filter's traces growing by a time step, saves under the same names); their
dtypes; and the code, pickled. The code names Python objects (the model, its distributions) that
cannot be pickled; they are written as their index in the *template*'s objects, the objects of
the code of a nest the restoring program builds the same way (the chain's starting trace, a
freshly initialised filter), and checked by type when read. An object that is neither in the
template nor picklable raises ``CheckpointError`` when saving; a code that names another type,
or (for a chain) a trace whose structure differs from the starting trace's, raises
``CheckpointError`` when restoring.

Chains (``run_chain(..., checkpoint=, checkpoint_every=, summary=, summary_every=)``). Step
``i``'s seed is row ``i`` of ``split_seed(seed, num_steps)``, which does not depend on
``num_steps`` (TF's stateless split is a counter-based Philox stream; tested): the RNG position is
the step counter. With a checkpoint or a summary the chain runs in *segments* of
``min(checkpoint_every, summary_every)`` steps (of those that apply), each the same compiled
``tf.while_loop`` program as an unsegmented chain (one more program for a shorter last segment),
and the segments' samples are concatenated: bit for bit the unsegmented chain (tested). After a
segment that crosses a multiple of ``checkpoint_every`` when ``checkpoint_secs`` seconds have passed
since the last save (as ``tf.estimator``'s ``save_checkpoints_secs``: a TF checkpoint costs tens of
milliseconds, a compiled step tens of microseconds), and after the last, ``ChainState`` is
saved: the step counter, the base seed, and a ``NestSnapshot`` of the current trace, the samples so
far and the acceptance flags. Resuming restores them and runs the remaining segments; a kernel's
own adaptation state is the kernel's. ``nuts`` (which adapts inside its own call and is not a
``run_chain`` kernel) runs the same segment loop (``drive_segments``) on its own segments and saves
a ``NutsState``: ``ChainState``'s contents plus the position and TFP's kernel results (the
adaptation state), the segment counter and the chain's settings (``inference/nuts.py``).
Summaries, at the step that ends each segment: ``acceptance_rate`` (the segment's mean of the
kernel's acceptance flags, 1 for kernels that report none), ``log_joint`` (the trace's score) and
``step_size`` when the kernel object has a ``step_size`` attribute; and once, the graph of the
compiled segment. Several chains (``run_chain`` given a list of traces, ``inference/chains.py``):
the same segment loop runs every chain's segment in turn (``state.chains``, one ``ChainState``
each, inside a ``chains.ChainsState``) and adds per-chain scalars and R-hat / ESS of the draws so far.

Particle filters: ``ParticleFilterCheckpoint(state)`` is a trackable view of a
``ParticleFilterState`` (its traces, log weights, ``log_ml_est``, ancestor indices and a
``step`` counter the caller advances): ``tf.train.Checkpoint(filter=view).save(path)`` saves the
state, and restoring into the view of a freshly initialised state (same model, same number of
particles) replaces that state's contents. The filter's randomness is the caller's per-step
seeds, so continuing from the restored ``step`` with the same seeds equals the uninterrupted
filter bit for bit (tested).
"""
import io
import pickle

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ..core.choicemap import ChoiceMap
from ..core.seeds import as_seed, split_seed
from ..core.tracking import Checkpointable
from ..learning.checkpoint import (CheckpointError, LoopState, SaveSchedule, Summaries, manager_for, program_graph,
                                   restore)
from ._compile import static_key, unpack

_PLAIN = (type(None), bool, int, float, complex, str, bytes, type, np.generic, np.dtype, tf.dtypes.DType,
          tf.TensorShape, tf.TypeSpec)


def _objects(code, out):
    """The objects of a static code that pickle cannot be trusted with (everything but plain
    data, classes and containers), in order of first appearance, unique by identity."""
    if isinstance(code, (tuple, list, frozenset, set)):
        for x in code:
            _objects(x, out)
    elif isinstance(code, dict):
        for k, v in code.items():
            _objects(k, out)
            _objects(v, out)
    elif not isinstance(code, _PLAIN) and all(x is not code for x in out):
        out.append(code)
    return out


class _Pickler(pickle.Pickler):
    def __init__(self, file, table):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.table = table

    def persistent_id(self, obj):
        if isinstance(obj, _PLAIN) or isinstance(obj, (tuple, list, dict, frozenset, set)):
            return None
        for i, x in enumerate(self.table):
            if x is obj:
                return (i, type(obj).__qualname__)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, table):
        super().__init__(file)
        self.table = table

    def persistent_load(self, pid):
        i, name = pid
        if i >= len(self.table) or type(self.table[i]).__qualname__ != name:
            raise CheckpointError(f"the checkpoint's trace structure names a {name} (object {i}) that the "
                                  "objects it is restored into do not have")
        return self.table[i]


class NestSnapshot(Checkpointable):
    """A nest of tensors (traces, choice maps) saved by ``tf.train.Checkpoint`` (module docstring):
    ``get()`` gives the nest to save, ``put(nest)`` receives the restored one. ``template``: a
    nest built the same way by the restoring program, whose objects the code refers to."""

    def __init__(self, get, put, template, where):
        self.get, self.put, self.where = get, put, where
        self.table = _objects(static_key(template)[0], [])

    def _serialize_to_tensors(self):
        code, comps = static_key(self.get())
        comps = [tf.convert_to_tensor(c) for c in comps]
        buf = io.BytesIO()
        try:
            _Pickler(buf, self.table).dump(code)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.where}: cannot save the trace structure: {e}") from None
        tensors = (tf.stack([tf.io.serialize_tensor(c) for c in comps]) if comps
                   else tf.zeros([0], tf.string))
        return {"structure": tf.constant(buf.getvalue()), "tensors": tensors,
                "dtypes": tf.constant([c.dtype.as_datatype_enum for c in comps], tf.int32, shape=[len(comps)])}

    def _restore_from_tensors(self, restored_tensors):
        try:
            code = _Unpickler(io.BytesIO(restored_tensors["structure"].numpy()), self.table).load()
        except CheckpointError as e:
            raise CheckpointError(f"{self.where}: {e}") from None
        except Exception as e:  # noqa: BLE001 -- any unpickling failure is a corrupt structure
            raise CheckpointError(f"{self.where}: unreadable trace structure: {type(e).__name__}: {e}") from None
        dtypes = restored_tensors["dtypes"].numpy()
        comps = [tf.io.parse_tensor(s, tf.as_dtype(int(d))) for s, d in zip(restored_tensors["tensors"], dtypes)]
        self.put(unpack(code, comps)[0])
        return tf.no_op()


class ChainState(LoopState):
    """What ``run_chain`` checkpoints: the step counter (``epoch``), the base seed and a
    ``NestSnapshot`` of ``(trace, samples, accepted)``, restored against the starting trace."""

    NAME = "gentf_chain"

    def __init__(self, trace, seed, where="run_chain"):
        self.start, self.restored, self.where = trace, None, where
        snapshot = NestSnapshot(self._saved, self._put, trace, where)
        super().__init__({"chain": snapshot}, seed)
        self.trace, self.samples, self.accepted = trace, [], []

    def _saved(self):
        return self.result() if self.samples else (self.trace, _empty_samples(self.trace), tf.zeros([0], tf.bool))

    def _put(self, value):
        self.restored = value

    @property
    def steps(self):
        return sum(int(a.shape[0]) for a in self.accepted)

    def extend(self, trace, samples, accepted):
        """One segment's results: the last trace, its stacked samples and acceptance flags."""
        if not isinstance(samples, ChoiceMap):
            raise CheckpointError(f"{self.where}: a chain whose trace structure changes from step to step "
                                  "(trans-dimensional moves) cannot be checkpointed or segmented")
        self.trace = trace
        self.samples.append(samples)
        self.accepted.append(tf.convert_to_tensor(accepted))

    @property
    def chains(self):
        """The chains this state runs (``run_segments``): itself (``chains.ChainsState``: several)."""
        return [self]

    def result(self):
        """``(trace, samples, accepted)`` as ``run_chain`` returns them; the segments so far are
        concatenated (and kept so: once per call, not per segment)."""
        if len(self.samples) > 1:
            samples = ChoiceMap()
            for path, _ in self.samples[0].items():
                samples.set(path, tf.concat([s[path] for s in self.samples], 0))
            self.samples, self.accepted = [samples], [tf.concat(self.accepted, 0)]
        return self.trace, self.samples[0], self.accepted[0]

    def scalars(self, flags):
        """The summaries of the segment just run besides its acceptance rate: ``log_joint``."""
        return dict(log_joint=self.trace.get_score())

    def prepare(self):
        """Before a save: the samples concatenated, the step counter set."""
        if self.samples:
            self.result()
        self.epoch.assign(self.steps)

    def save(self, manager):
        """Checkpoint now (step counter, then the snapshot of the chain so far)."""
        self.prepare()
        manager.save(checkpoint_number=self.steps)

    def after_restore(self, path):
        if self.restored is None:
            raise CheckpointError(f"{self.where}: checkpoint {path!r} holds no chain")
        trace, samples, accepted = self.restored
        if static_key(trace)[0] != static_key(self.start)[0]:
            raise CheckpointError(f"{self.where}: checkpoint {path!r} holds a trace of another structure than "
                                  f"the starting trace (addresses, shapes or arguments differ)")
        if int(accepted.shape[0]) != int(self.epoch.numpy()):
            raise CheckpointError(f"{self.where}: checkpoint {path!r} is inconsistent: step "
                                  f"{int(self.epoch.numpy())} but {int(accepted.shape[0])} samples")
        self.trace, self.samples, self.accepted = trace, [samples], [accepted]


class NutsState(ChainState):
    """What ``nuts`` checkpoints (``inference/nuts.py``): as ``ChainState``, the base seed, the last
    trace and the kept draws so far (a choice map of the selected choices, ``empty`` when none)
    with their acceptance flags; ``epoch``: the steps done, warm-up included; ``segments``: the
    segments done (segment ``k``'s seed is row ``k`` of ``split_seed(seed, k + 1)``); a
    ``NestSnapshot`` of the chain's position (the unconstrained vector) and of TFP's kernel
    results flattened by ``tf.nest`` (NUTS's and the dual-averaging state: step size, error sum,
    averaged log step size, adaptation step counter); and ``config``, the settings that shape the
    chain, which must match when restoring."""

    NAME = "gentf_nuts"

    def __init__(self, trace, seed, empty, position, kernel_results, config, names):
        super().__init__(trace, seed, where="nuts")
        self.empty, self.names = empty, names
        self.position, self.kernel_results = position, list(kernel_results)
        self.template = (position, self.kernel_results)
        self.objects["kernel"] = NestSnapshot(lambda: (self.position, self.kernel_results), self._put_kernel,
                                              self.template, "nuts")
        self.segments = tf.Variable(0, dtype=tf.int64, trainable=False, name="segments")
        self.wanted = np.asarray(config, np.float64)
        self.config = tf.Variable(self.wanted, trainable=False, name="config")
        self.done, self.segment, self.restored_kernel = 0, 0, None

    def _checkpoint_children(self):
        return dict(super()._checkpoint_children(), segments=self.segments, config=self.config)

    def _saved(self):
        return self.result() if self.samples else (self.trace, self.empty, tf.zeros([0], tf.bool))

    def _put_kernel(self, value):
        self.restored_kernel = value

    def advance(self, end, trace, position, kernel_results, samples=None, accepted=None):
        """One segment ended at step ``end``; ``samples``/``accepted``: its kept draws (None in warm-up)."""
        self.done, self.segment = end, self.segment + 1
        self.trace, self.position, self.kernel_results = trace, position, list(kernel_results)
        if samples is not None:
            self.extend(trace, samples, accepted)

    def save(self, manager):
        """Checkpoint now (counters, then the snapshots of the chain and of the kernel)."""
        if self.samples:
            self.result()  # concatenated once per save
        self.epoch.assign(self.done)
        self.segments.assign(self.segment)
        self.config.assign(self.wanted)
        manager.save(checkpoint_number=self.done)

    def after_restore(self, path):
        got = self.config.numpy()
        if got.shape != self.wanted.shape or not np.array_equal(got, self.wanted):
            diff = ", ".join(f"{n}={g:g} (not {w:g})" for n, g, w in zip(self.names, got, self.wanted) if g != w)
            raise CheckpointError(f"nuts: checkpoint {path!r} was made with other settings: {diff}")
        trace, samples, accepted = self.restored
        if static_key(trace)[0] != static_key(self.start)[0]:
            raise CheckpointError(f"nuts: checkpoint {path!r} holds a trace of another structure than the "
                                  "starting trace (addresses, shapes or arguments differ)")
        position, kernel_results = self.restored_kernel
        saved, wanted = tf.nest.flatten((position, kernel_results)), tf.nest.flatten(self.template)
        if (static_key(samples)[0] != static_key(self.empty)[0] or len(saved) != len(wanted)
                or any(tf.convert_to_tensor(a).shape != tf.convert_to_tensor(b).shape for a, b in zip(saved, wanted))):
            raise CheckpointError(f"nuts: checkpoint {path!r} holds a chain of other selected choices or shapes")
        done, num_warmup = int(self.epoch.numpy()), int(self.wanted[0])
        if int(accepted.shape[0]) != max(0, done - num_warmup):
            raise CheckpointError(f"nuts: checkpoint {path!r} is inconsistent: step {done} but "
                                  f"{int(accepted.shape[0])} kept draws")
        self.trace, self.position, self.kernel_results = trace, position, list(kernel_results)
        self.samples, self.accepted = ([samples], [accepted]) if done > num_warmup else ([], [])
        self.done, self.segment = done, int(self.segments.numpy())


def _empty_samples(trace):
    out = ChoiceMap()
    for path, value in trace.get_choices().items():
        value = tf.convert_to_tensor(value)
        out.set(path, tf.zeros([0] + value.shape.as_list(), value.dtype))
    return out


def run_segments(segment, kernel, state, num_steps, seed, checkpoint, checkpoint_every, checkpoint_secs,
                 summary, summary_every, progress):
    """``run_chain`` with checkpoints and/or summaries (module docstring): ``state`` is a
    ``ChainState`` or a ``chains.ChainsState`` (several chains, each a ``ChainState`` of
    ``state.chains``); ``segment(c, trace, seeds)`` runs ``len(seeds)`` steps of chain ``c`` and
    returns ``(trace, stacked samples, accepted)``. Returns ``state.result()``."""
    check_every("run_chain", checkpoint_every, summary_every)
    manager = manager_for(checkpoint, state, "run_chain")
    restore(manager, state, None if seed is None else as_seed(seed).numpy(), "run_chain")
    done = int(state.epoch.numpy())
    if done > num_steps:
        raise CheckpointError(f"run_chain: the checkpoint {manager.latest_checkpoint!r} is at step {done}, "
                              f"past num_steps={num_steps}")
    summaries = Summaries(summary, where="run_chain") if summary is not None else None
    length = segment_length(manager, summaries, checkpoint_every, summary_every)
    seeds = [split_seed(chain.seed, num_steps) for chain in state.chains]  # row i: step i's seed, whatever num_steps
    step_size = getattr(kernel, "step_size", None)

    def run(done):
        end, flags = min(done + length, num_steps), []
        for c, chain in enumerate(state.chains):
            out = segment(c, chain.trace, seeds[c][done:end])
            chain.extend(*out)
            flags.append(out[2])
        graph = lambda: program_graph(kernel, ("run_chain", static_key(state.chains[0].trace)[0], end - done), None)
        scalars = state.scalars(flags) if summaries is not None else {}
        return end, tf.stack(flags), graph, dict(scalars, step_size=None if step_size is None else float(step_size))

    drive_segments("run_chain", run, done, num_steps, lambda: state.save(manager), manager is not None,
                   checkpoint_every, checkpoint_secs, summaries, progress)
    return state.result()


def acceptance_rate(accepted):
    """The mean of acceptance flags (1 for none)."""
    return float(np.mean(np.asarray(accepted))) if np.size(accepted) else 1.0


def check_every(where, checkpoint_every, summary_every):
    if checkpoint_every < 1 or summary_every < 1:
        raise ValueError(f"{where}: checkpoint_every and summary_every must be >= 1, got "
                         f"{checkpoint_every}, {summary_every}")


def segment_length(manager, summaries, checkpoint_every, summary_every):
    """Steps per segment: the least of ``checkpoint_every`` / ``summary_every`` that apply."""
    return min([checkpoint_every] * (manager is not None) + [summary_every] * (summaries is not None))


def drive_segments(where, run, done, total, save, saving, checkpoint_every, checkpoint_secs, summaries, progress):
    """The segment loop of ``run_chain`` and ``nuts`` from step ``done`` to ``total``:
    ``run(done)`` runs one segment and returns ``(end, accepted, graph, scalars)``; then the
    summaries at step ``end`` (``acceptance_rate`` = mean of ``accepted``, the ``scalars``, the
    graph once), the progress bar, and ``save()`` after a segment that crosses a multiple of
    ``checkpoint_every`` when ``checkpoint_secs`` have passed since the last save, and after the last."""
    bar = tqdm(total=total, initial=done, disable=not progress, desc=where)
    schedule = SaveSchedule(save, checkpoint_every, checkpoint_secs)
    try:
        while done < total:
            end, accepted, graph, scalars = run(done)
            if summaries is not None or progress:
                rate = acceptance_rate(accepted)
            if summaries is not None:
                summaries.write_graph(graph, end)
                summaries.scalars(end, acceptance_rate=rate, **scalars)
            if progress:
                bar.update(end - done)
                bar.set_postfix(acceptance=f"{rate:.3f}", refresh=False)
            if saving:
                schedule.step(done, end, end == total)
            done = end
    finally:
        bar.close()
        if summaries is not None:
            summaries.flush()


class ParticleFilterCheckpoint(Checkpointable):
    """A trackable view of a ``ParticleFilterState`` (module docstring): its traces, log weights,
    ``log_ml_est`` and ancestors, and ``step``, an int64 ``tf.Variable`` the caller advances (the
    number of observations absorbed, say). Restoring replaces the wrapped state's contents; the
    state must have been initialised the same way (same model, same number of particles)."""

    def __init__(self, state, step=0):
        self.state = state
        self.step = tf.Variable(step, dtype=tf.int64, trainable=False, name="step")
        self.traces = NestSnapshot(lambda: self.state.traces, lambda t: setattr(self.state, "traces", t),
                                   state.traces, "particle filter")

    def _checkpoint_children(self):
        return {"traces": self.traces, "step": self.step}

    def _serialize_to_tensors(self):
        s = self.state
        return {"log_weights": tf.convert_to_tensor(s.log_weights), "log_ml_est": tf.convert_to_tensor(s.log_ml_est),
                "parents": tf.convert_to_tensor(s.parents)}

    def _restore_from_tensors(self, restored_tensors):
        n = int(restored_tensors["log_weights"].shape[0])
        if n != self.state.num_particles:
            raise CheckpointError(f"particle filter: the checkpoint holds {n} particles, the state "
                                  f"{self.state.num_particles}")
        self.state.log_weights = restored_tensors["log_weights"]
        self.state.log_ml_est = restored_tensors["log_ml_est"]
        self.state.parents = restored_tensors["parents"]
        return tf.no_op()
