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
    accumulates stay in the replicas' accumulator copies until read outside a replica."""
    n = strategy.num_replicas_in_sync

    def replica():
        total = tf.constant(0.0, tf.float64)
        for item in items[replica_id(where)::n]:
            out = work(item)
            if out is not None:
                total += tf.cast(out, tf.float64)
        return total
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica), axis=None)
