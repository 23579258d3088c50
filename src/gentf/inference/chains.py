"""Several independent chains (``run_chain(kernel, [trace_1, ..., trace_C], num_steps)``): their
seeds, their results in ArviZ's ``[chains, draws, ...]`` layout, their checkpoint and their
convergence summaries.

Seeds: chain ``c`` is seeded by row ``c`` of ``split_seed(seed, C)``, which does not depend on
``C`` (a counter-based Philox stream, as a chain's step seeds), so chain ``c`` is exactly
``run_chain(kernel, trace_c, num_steps, seed=split_seed(seed, C)[c])`` and adding chains leaves
the others unchanged (tested). Each chain runs the same cached compiled program as a single
chain (one call per chain per segment, under ``tf.device(devices[c % len(devices)])`` when
given), not one vectorised program: ``tf.vectorized_map`` needs gentf's vectorisable random
stream (``core.seeds.vectorizable_randomness``), whose draws differ from a single chain's.

Checkpoints: ``ChainsState`` holds one ``resume.ChainState`` per chain (``chain_<c>``: its
trace, samples so far, flags and seed) besides the base seed, the step counter and the number of
chains, so a multi-chain run resumes bit for bit by the single chain's mechanism.

Summaries, at the step that ends each segment: ``acceptance_rate`` (the mean over chains),
``acceptance_rate/chain_<c>`` and ``log_joint/chain_<c>`` per chain and, with at least two
chains, ``rhat/<address>`` and ``ess/<address>`` over all the draws so far (``convergence``).
"""
import numpy as np
import tensorflow as tf

from ..core.choicemap import ChoiceMap
from ..core.seeds import split_seed
from ..learning.checkpoint import CheckpointError, LoopState
from .diagnostics import address_name, ess, rhat
from .resume import ChainState, acceptance_rate


def stack_choices(choice_maps):
    """One ``ChoiceMap`` of values stacked along a new leading axis, when every choice map has
    the same addresses and value shapes; else the list itself."""
    first = dict(choice_maps[0].items()) if choice_maps else {}
    rows = []
    for cm in choice_maps:
        row = dict(cm.items())
        if row.keys() != first.keys() or any(np.shape(row[p]) != np.shape(first[p]) for p in first):
            return list(choice_maps)
        rows.append(row)
    out = ChoiceMap()
    for path in first:
        out.set(path, tf.stack([tf.convert_to_tensor(r[path]) for r in rows]))
    return out


def gather(results):
    """Per-chain ``(trace, samples, accepted)`` as one result: the list of last traces, the samples
    stacked to ``[chains, draws, ...]`` (the list of per-chain samples when they cannot be:
    trans-dimensional chains, or chains of other addresses or shapes) and the flags ``[chains, draws]``."""
    traces, samples, accepted = zip(*results)
    if all(isinstance(s, ChoiceMap) for s in samples):
        samples = stack_choices(samples)
    return list(traces), samples if isinstance(samples, ChoiceMap) else list(samples), tf.stack(accepted)


def convergence(samples):
    """TensorBoard scalars of stacked ``[chains, draws, ...]`` samples: ``rhat/<address>``
    (``diagnostics.rhat``, the potential scale reduction) and ``ess/<address>``
    (``diagnostics.ess``), the largest R-hat and the smallest ESS over the elements of a
    non-scalar choice. Addresses whose draws are all equal (observations) are left out: their
    R-hat is 0/0."""
    moving = ChoiceMap()
    for path, value in samples.items():
        value = np.asarray(value)
        if value.size and value.min() != value.max():
            moving.set(path, value)
    out = {}
    for name, fn, worst in (("rhat", rhat, np.max), ("ess", ess, np.min)):
        for path, value in fn(moving).items():
            out[f"{name}/{address_name(path)}"] = float(worst(np.asarray(value)))
    return out


class ChainsState(LoopState):
    """What a multi-chain ``run_chain`` checkpoints (module docstring): ``chain_<c>``, a
    ``ChainState`` per chain seeded by row ``c`` of ``split_seed(seed, C)``; the base seed; the
    step counter (``epoch``) and ``num_chains``, which must match when restoring."""

    NAME = "gentf_chains"

    def __init__(self, traces, seed):
        seeds = split_seed(seed, len(traces))
        self.chains = [ChainState(t, seeds[c], where=f"run_chain (chain {c})") for c, t in enumerate(traces)]
        super().__init__({f"chain_{c}": chain for c, chain in enumerate(self.chains)}, seed)
        self.num_chains = tf.Variable(len(traces), dtype=tf.int64, trainable=False, name="num_chains")

    def _checkpoint_children(self):
        return dict(super()._checkpoint_children(), num_chains=self.num_chains)

    def result(self):
        """``(traces, samples, accepted)`` as ``run_chain`` returns them for several chains."""
        return gather([chain.result() for chain in self.chains])

    def scalars(self, flags):
        """The summaries of the segment whose per-chain acceptance flags are ``flags`` (module
        docstring; ``acceptance_rate`` itself is ``resume.drive_segments``')."""
        out = {}
        for c, (chain, accepted) in enumerate(zip(self.chains, flags)):
            out[f"acceptance_rate/chain_{c}"] = acceptance_rate(accepted)
            out[f"log_joint/chain_{c}"] = chain.trace.get_score()
        samples = self.result()[1]
        if len(self.chains) > 1 and isinstance(samples, ChoiceMap):
            out.update(convergence(samples))
        return out

    def save(self, manager):
        """Checkpoint now: every chain's snapshot, the counters."""
        for chain in self.chains:
            chain.prepare()
        self.epoch.assign(self.chains[0].steps)
        manager.save(checkpoint_number=self.chains[0].steps)

    def after_restore(self, path):
        saved = int(self.num_chains.numpy())
        if saved != len(self.chains):
            raise CheckpointError(f"run_chain: checkpoint {path!r} holds {saved} chains, not {len(self.chains)}")
        for chain in self.chains:
            chain.after_restore(path)
            if chain.steps != int(self.epoch.numpy()):
                raise CheckpointError(f"{chain.where}: checkpoint {path!r} is inconsistent: step "
                                      f"{int(self.epoch.numpy())} but {chain.steps} samples")
