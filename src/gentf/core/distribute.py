"""Data parallelism with TensorFlow's own engine, ``tf.distribute``.

gentf follows Keras ``model.fit``'s convention: build the model (its parameters) and the
``ParamUpdate`` inside ``strategy.scope()``, then call ``train`` (inside the scope or not). The
parameters are then mirrored Variables (one copy per replica, updated together) and their
gradient accumulators sync-on-read Variables with SUM aggregation (``modeling.params``).

A data-parallel step splits a list of independent work items (examples, particles) among the
``R = strategy.num_replicas_in_sync`` replicas, item ``i`` to replica ``i mod R`` (``sharded``):
each replica runs its items (``strategy.run``), adding gradients to its own accumulator copies;
the one ``apply`` that follows, outside the replicas, reads the accumulators as their all-reduced
sum, ``sum_r sum_{i in share r} g_i = sum_i g_i``, the single-device accumulation. Scalar results
(a sum of weights) are all-reduced the same way (``strategy.reduce(SUM)``). With
``MultiWorkerMirroredStrategy`` every worker runs the same program on the same items; the
replica ids are global, so each worker computes only its replicas' shares.
"""
import tensorflow as tf

from .errors import ArgumentError


def strategy_for(variables, where):
    """The ``tf.distribute`` strategy a computation on ``variables`` runs under: the one whose
    scope is entered, else the one the variables were created under (Keras ``fit``'s rule), else
    None. Raises ``ArgumentError`` when some Variable was not created in that strategy's scope
    (a parameter or accumulator made outside ``strategy.scope()`` would be updated by every
    replica at once)."""
    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    if strategy is None:
        strategy = next((s for s in (getattr(v, "distribute_strategy", None) for v in variables)
                         if s is not None), None)
    if strategy is None:
        return None
    for v in variables:
        if not strategy.extended.variable_created_in_scope(v):
            raise ArgumentError(f"{where}: the Variable {v.name!r} was not created in the scope of {strategy!r}; "
                                "build the model and the ParamUpdate inside `with strategy.scope():`")
    return strategy


def replica_id(where):
    """The global index of the running replica, as a Python int (``MirroredStrategy`` and
    ``MultiWorkerMirroredStrategy`` fix it when tracing). ``ArgumentError`` if not static."""
    rid = tf.get_static_value(tf.distribute.get_replica_context().replica_id_in_sync_group)
    if rid is None:
        raise ArgumentError(f"{where}: the replica id is not static under {tf.distribute.get_strategy()!r}; "
                            "gentf distributes with MirroredStrategy and MultiWorkerMirroredStrategy")
    return int(rid)


def sharded(strategy, work, items, where):
    """``sum_i work(item_i)`` (float64 scalars; ``work`` may also return None, counted as 0) with
    item ``i`` run on replica ``i mod R``, all-reduced over the replicas. Gradients that ``work``
    accumulates stay in the replicas' accumulator copies until read outside a replica. ``work``
    may instead return float64 vectors of one shape (``SVI``'s metric sums) when every replica
    has at least one item."""
    n = strategy.num_replicas_in_sync

    def replica():
        total = tf.constant(0.0, tf.float64)
        for item in items[replica_id(where)::n]:
            out = work(item)
            if out is not None:
                total += tf.cast(out, tf.float64)
        return total
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica), axis=None)


def gather_shards(strategy, fn, total, where):
    """``fn(lo, hi)`` for the ``R`` contiguous shards ``[lo, hi)`` of ``0 .. total - 1``, shard
    ``r`` on replica ``r``; ``fn`` returns a tuple of batches (nests whose leaves have a leading
    axis ``hi - lo``), and their shards are concatenated in order across the replicas (and the
    workers; ``strategy.gather``), so the result is ``fn(0, total)`` when items are independent.
    A batch of traces lists in ``shared`` the leaves stored once for the whole batch (see
    ``inference._compile.vectorize``): those are taken from one replica. ``ArgumentError`` when
    ``total`` is not a multiple of ``R``."""
    n = strategy.num_replicas_in_sync
    if total % n:
        raise ArgumentError(f"{where}: {total} particles do not split evenly among the {n} replicas of {strategy!r}")
    size, structures = total // n, []

    def replica():
        r = replica_id(where)
        out = fn(r * size, (r + 1) * size)
        structures.append(out)
        return [tf.nest.flatten(batch) for batch in out]
    per_replica = strategy.run(replica)
    gathered = []
    for batch, leaves in zip(structures[0], per_replica):
        shared = getattr(batch, "shared", frozenset())
        gathered.append(tf.nest.pack_sequence_as(batch, [
            _local(strategy, x) if k in shared else _gather(strategy, x, total) for k, x in enumerate(leaves)]))
    return tuple(gathered)


def _local(strategy, x):
    return strategy.experimental_local_results(x)[0]


def _gather(strategy, x, total):
    """``x``'s shards concatenated along axis 0, with the static shape ``strategy.gather`` drops."""
    return tf.ensure_shape(strategy.gather(x, axis=0), [total] + _local(strategy, x).shape[1:].as_list())
