"""Reading traced programs in tests."""


def live_ops(graph):
    """The ops a call of ``graph`` runs: those its outputs and control outputs depend on (TF
    prunes the others when it instantiates the function)."""
    seen, todo = {}, [t.op for t in graph.outputs] + list(graph.control_outputs)
    while todo:
        op = todo.pop()
        if op.name not in seen:
            seen[op.name] = op
            todo.extend([t.op for t in op.inputs] + list(op.control_inputs))
    return list(seen.values())
