"""Path-compiled programs: batched importance sampling for models whose Python control flow
branches on discrete random choices.

A model such as Gen.jl's combined line/sine model

    if bernoulli(0.5) @ "is_line":  ... one spliced model ...
    else:                           ... another ...

cannot be traced into one graph: Python's ``if`` needs a value, and while tracing the choice is
a symbolic tensor. But once the values of the few scalar discrete choices that control flow
reads are fixed, the rest of the model is static. Those choices are the model's *path
addresses*; an assignment of values to them, in visit order, is a *path*
``v = ((a_1, v_1), (a_2, v_2), ...)``.

Path programs. For a path prefix ``v`` the *path program* runs the model, batched over particle
seeds (``_compile.vectorize``), with each path address of ``v`` holding its value as a host
constant (an eager tensor: ``if`` works; its log probability is scored as usual) until the first
path address not in ``v``; there it draws that choice as usual and stops, returning the drawn
values. A program whose run meets no such address returns the particles' traces and weights.
Particles are then grouped by the value drawn and each group runs the program of its extended
prefix: the combined model takes a stage that draws ``is_line`` and one full program per branch.
Programs are cached per (model, arguments' structure, observations, prefix, batch size) by
``core.compile.run``, owner ``path_owner(model)``; group sizes are padded up to a multiple of
``ceil(N / 8)`` so that a few batch sizes, hence a few traced programs, serve every call.

Draws. Particle ``i`` of ``importance_sampling(model, args, obs, N, seed=s)`` is exactly the
execution ``generate(model, args, obs, seed=split_seed(s, N)[i])`` under gentf's batched
(Threefry) generator, ``core.seeds.vectorizable_randomness``, which is what the eager loop runs
for models that cannot be path-compiled: a path address's seed is drawn from the particle's
seed stream whether its value is drawn or given, so every choice uses the seed the eager run
uses, and a given value is the one drawn at an earlier stage with that same seed. (Only
floating-point rounding of batched kernels may differ in the last bits.)

Learning the path addresses (per model). When tracing a program fails because Python reads a
symbolic value (``core.compile``'s value-dependence errors), the latest unconstrained scalar
discrete choice drawn before the failure becomes a path address and the program is traced
again; choices only used in tensor arithmetic never become path addresses. If no such choice
was drawn (``if normal(0, 1) > 0``), the path owner becomes dynamic with that reason
(``explain_compile(path_owner(model))``) and importance sampling runs its eager loop.
Path addresses are found in the model's own address space, spliced bodies included; a branch
inside a nested (non-spliced) call is not learned and falls back likewise.
"""
import collections
import math

import numpy as np
import tensorflow as tf

from ..core import compile as compiled
from ..core.choicemap import ChoiceMap, merge
from ..core.compile import DynamicStructureError
from ..core.owned import Owned
from ..core.seeds import SeedStream, as_seed, split_seed
from ..modeling.handlers import GenerateHandler
from ._compile import particle, static_key, unpack, vectorize


class PathOwner:
    """The owner (``core.compile``) of one model's path programs, with its learned path
    addresses and, per traced prefix, the address where that prefix's program stops. It lives on
    its generative function (``core.owned``), so it is freed with it."""

    def __init__(self, gen_fn):
        self.gen_fn, self.addresses, self.stops = gen_fn, set(), {}

    def __repr__(self):
        return f"<path programs of {self.gen_fn!r}>"


_path_owners = Owned("path owner")  # gen_fn -> its PathOwner, on gen_fn


def path_owner(gen_fn):
    """The ``PathOwner`` of ``gen_fn``; ``explain_compile(path_owner(gen_fn))`` says why its
    path programs cannot be compiled (None when they can, or were never tried)."""
    return _path_owners.of(gen_fn, lambda: PathOwner(gen_fn))


PathGroup = collections.namedtuple("PathGroup", "path indices traces log_weights")
PathGroup.__doc__ = """The particles that took one path: ``path`` maps each path address to its
(Python) value, ``indices`` are their particle indices, ``traces`` their batched trace (leading
axis: ``indices``) and ``log_weights`` their unnormalised log weights."""


class PathTraces(collections.abc.Sequence):
    """The ``N`` particles of a path-compiled importance sampler, in particle order: one batched
    trace per path (``groups``, a list of ``PathGroup``); ``traces[i]`` is particle ``i``'s
    trace (``particle`` of its group's batch)."""

    def __init__(self, groups, num_samples):
        self.groups = groups
        self._group = np.empty(num_samples, np.int64)
        self._row = np.empty(num_samples, np.int64)
        for g, group in enumerate(groups):
            self._group[group.indices] = g
            self._row[group.indices] = np.arange(len(group.indices))

    def __len__(self):
        return len(self._group)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        group = self.groups[self._group[i]]
        return particle(group.traces, int(self._row[i]))

    def values(self, addr):
        """Per particle, the value of the path address ``addr`` (None where the path does not
        visit it), as a numpy object array."""
        out = np.empty(len(self), object)
        for group in self.groups:
            out[group.indices] = group.path.get(addr)
        return out


class _Stop(Exception):
    """Raised at the first path address a prefix does not give: carries the drawn value."""

    def __init__(self, path, value):
        super().__init__(path)
        self.path, self.value = path, value


class _NewAddress(Exception):
    """Tracing failed on a value; ``path`` (the latest discrete draw) becomes a path address."""

    def __init__(self, path):
        super().__init__(path)
        self.path = path


class PathHandler(GenerateHandler):
    """``generate``'s handler with the path addresses of a prefix given (``known``: path ->
    eager tensor; drawn from the prior, so they add to the score, not to the weight) and a stop
    (``_Stop``) at any other path address in ``addresses``. Records the unconstrained scalar
    discrete choices it draws (``drawn``), the candidates for new path addresses."""

    def __init__(self, gen_fn, observations, seeds, known, addresses):
        given = ChoiceMap()
        for path, value in known.items():
            given.set(path, value)
        super().__init__(gen_fn, merge(observations, given), seeds)
        self.observations, self.known, self.addresses = observations, known, addresses
        self.drawn = []

    def choice(self, path, dist, args):
        if path in self.known:
            self.seeds()  # the eager run draws this choice here: keep every later choice's seed
            _, score = super().choice(path, dist, args)
            self.weights.pop()  # a prior draw, not an observation: no weight term
            return self.known[path], score
        value, score = super().choice(path, dist, args)
        if (getattr(dist, "discrete", False) and value.shape.rank == 0
                and not self.observations.has_value(path)):
            if path in self.addresses:
                raise _Stop(path, value)
            self.drawn.append(path)
        return value, score


def importance_paths(model, args, observations, num_samples, seed, jit_compile):
    """``(PathTraces, log_w)`` of ``num_samples`` particles of ``generate(model, args,
    observations)`` by path programs (module docstring), or None when the model's control flow
    depends on something else than discrete choices (then it runs eagerly)."""
    owner = path_owner(model)
    if compiled.is_dynamic(owner):
        return None
    code, tensors = static_key(args, observations)
    seeds = split_seed(as_seed(seed), num_samples)  # eagerly: the eager loop's particle seeds
    step = max(1, math.ceil(num_samples / 8))
    pending, groups = [((), np.arange(num_samples))], []
    while pending:
        prefix, indices = pending.pop()
        size = len(indices) if len(indices) == num_samples else step * math.ceil(len(indices) / step)
        rows = np.concatenate([indices, np.full(size - len(indices), indices[0])])
        out, path = _stage(owner, code, tensors, prefix, tf.gather(seeds, rows), jit_compile)
        if out is None:
            return None
        n = len(indices)
        if isinstance(out, tuple):
            traces, log_w = out
            if size > n:  # drop the padding
                traces, log_w = particle(traces, tf.range(n)), log_w[:n]
            groups.append(PathGroup(dict(prefix), indices, traces, log_w))
            continue
        values = out.numpy()[:n]
        for value in np.unique(values):
            pending.append((prefix + ((path, value.item()),), indices[values == value]))
    groups.sort(key=lambda g: g.indices[0])
    log_w = np.empty(num_samples, groups[0].log_weights.dtype.as_numpy_dtype)
    for group in groups:
        log_w[group.indices] = group.log_weights.numpy()
    return PathTraces(groups, num_samples), tf.constant(log_w)


def _stage(owner, code, tensors, prefix, seeds, jit_compile):
    """The path program of ``prefix`` on a batch of particle seeds: ``(values, address)`` of
    the draws at the next path address, ``((traces, log_w), None)`` of complete runs, or
    ``(None, None)`` if the owner is dynamic. Learns path addresses (module docstring)."""
    model = owner.gen_fn

    def build():
        key = ("path", code, prefix, frozenset(owner.addresses))
        addresses = key[3]

        def run(tensors, seeds):
            args, observations = unpack(code, tensors)
            with tf.init_scope():  # host constants: Python's `if` can read them
                known = {path: tf.constant(value) for path, value in prefix}

            def one(seed):
                handler = PathHandler(model, observations, SeedStream(seed), known, addresses)
                try:
                    trace = model._run(handler, args)
                except _Stop as stop:
                    owner.stops[key] = stop.path
                    return stop.value
                except compiled._DYNAMIC as e:  # noqa: SLF001 (core.compile's value-dependence test)
                    if not compiled._depends_on_values(e):  # noqa: SLF001
                        raise
                    if handler.drawn:
                        raise _NewAddress(handler.drawn[-1]) from e
                    raise DynamicStructureError(
                        f"{model!r}: control flow depends on a value that is not an unconstrained "
                        f"scalar discrete choice, so no path program can fix it ({type(e).__name__}: {e})"
                    ) from e
                return tf.nest.map_structure(_in_graph, (trace, handler.weight()))

            return vectorize(one, seeds)
        return run

    mode = "auto" if jit_compile else False
    for _ in range(1 + _MAX_ADDRESSES):
        key = ("path", code, prefix, frozenset(owner.addresses))
        try:
            out = compiled.run(owner, key, build, (tensors, seeds), fallback=lambda: None, jit_compile=mode)
            return out, owner.stops.get(key)
        except _NewAddress as new:
            owner.addresses.add(new.path)
    raise DynamicStructureError(f"{model!r}: more than {_MAX_ADDRESSES} path addresses")


def _in_graph(leaf):
    """A given path value (an eager tensor in the trace) as a tensor of the program's graph."""
    return tf.identity(leaf) if isinstance(leaf, tf.Tensor) and not tf.is_symbolic_tensor(leaf) else leaf


_MAX_ADDRESSES = 64  # path addresses one model may learn
