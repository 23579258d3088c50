"""Graph rewrites for tensors that are the rows of one tensor.

A per-choice model cuts a batch into rows (``probs[i]``, the unpacked constraints
``tf.unstack(ys)``) and gentf scores the rows as one batch again; the per-choice ops between would
each cost an op forward and backward (an ``Unpack`` of 100 rows and the ``Pack`` of its gradient
cost ~0.3 ms a call). ``stack`` and ``total_of_rows`` recognise rows by their ops while a graph is
traced and use the tensor they were cut from; the rows' own ops are then dead and pruned.
"""
import tensorflow as tf


def stack(tensors):
    """``tf.stack(tensors)``, but when the tensors are the rows ``base[i_j]`` of one tensor (each
    cut by ``base[i]`` or ``tf.unstack(base)``, possibly then cast), ``base`` itself (all rows
    in order) or ``tf.gather(base, [i_j])``."""
    if not all(tf.is_symbolic_tensor(t) for t in tensors):  # e.g. a captured eager constant
        return tf.stack(tensors)
    ops = [t.op for t in tensors]
    if all(op.type == "Cast" for op in ops) and len({(op.get_attr("SrcT"), op.get_attr("DstT")) for op in ops}) == 1:
        return tf.cast(stack([op.inputs[0] for op in ops]), tensors[0].dtype)
    rows = _rows(tensors)
    if rows is None:
        return tf.stack(tensors)
    base, index = rows
    return base if index == list(range(base.shape[0] or 0)) else tf.gather(base, index)


def total_of_rows(terms):
    """``terms`` with every complete set of rows ``tf.unstack(base)`` among them (each row once)
    replaced by ``tf.reduce_sum(base, 0)``: the same sum, whose gradient needs no ``Pack``."""
    by_op = {}
    for t in terms:
        if tf.is_symbolic_tensor(t) and t.op.type == "Unpack" and t.op.get_attr("axis") == 0:
            by_op.setdefault(t.op.name, []).append(t)
    whole = {name for name, rows in by_op.items()
             if len(rows) == len(rows[0].op.outputs) and len({r.value_index for r in rows}) == len(rows)}
    if not whole:
        return terms
    kept = [t for t in terms if not (tf.is_symbolic_tensor(t) and t.op.name in whole)]
    return kept + [tf.reduce_sum(by_op[name][0].op.inputs[0], 0) for name in whole]


def _rows(tensors):
    """``(base, [i_j])`` when every tensor is row ``i_j`` (static, nonnegative) of the same
    ``base``, else None."""
    base, index = None, []
    for t in tensors:
        op = t.op
        if op.type == "Unpack" and op.get_attr("axis") == 0:
            b, i = op.inputs[0], t.value_index
        elif op.type == "StridedSlice" and _is_row_slice(op):
            b, i = op.inputs[0], int(tf.get_static_value(op.inputs[1])[0])
        else:
            return None
        if i < 0 or (base is not None and b.name != base.name):
            return None
        base = b
        index.append(i)
    return base, index


def _is_row_slice(op):
    """Is ``op`` a ``StridedSlice`` ``x[i]`` with a constant ``i`` (one index on axis 0)?"""
    if any(op.get_attr(m) for m in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask")):
        return False
    begin, strides = tf.get_static_value(op.inputs[1]), tf.get_static_value(op.inputs[3])
    return (op.get_attr("shrink_axis_mask") == 1 and begin is not None and strides is not None
            and len(begin) == 1 and list(strides) == [1])
