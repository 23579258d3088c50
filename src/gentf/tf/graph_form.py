"""Graph form: GenTF's ``TFFunction(params, inputs, output, session=None)``.

The user builds a ``tf.Graph`` (``with tf.Graph().as_default():``) of ``tf.compat.v1``
placeholders ``x`` (the arguments), Variables ``theta`` (the parameters) and one output tensor
``y = f(x; theta)``. gentf runs that graph *inside* TF2 programs, as native ops:

- at construction the part of the graph that computes ``y`` is cut out as a ``GraphDef`` in which
  every variable read becomes an input (``_importable``);
- each call imports that ``GraphDef`` into a ``tf.function`` (``tf.graph_util.import_graph_def``
  with an input map: the placeholders get the arguments, the reads get TF2 ``tf.Variable``
  *mirrors* of the graph's variables). Called from a compiled gentf program (auto-compile,
  ``train``, inference, XLA) it is one nested function of ordinary ops: no ``numpy_function``
  and no ``session.run``. Gradients are TF's own, and the mirrors are the parameters that
  gentf's accumulators and optimizers see, exactly as for the eager form (``EagerTFFunction``);
- the mirrors are the parameter state; the session is a *view* of it. gentf adds to the graph,
  as GenTF does, an accumulator Variable ``g_theta`` per parameter (``get_param_grad_tf_var``;
  one per parameter and session, shared by the functions that list it) and the op
  ``g_theta = 0`` (``reset_param_grads_tf_op``). Every ``run`` of the session
  (``runtf``, ``sess.run``, ``W.eval()``) first writes the mirrors' values (parameters and
  accumulators) into the graph's variables and afterwards reads them back, so what a user
  fetches or runs through the session (an accumulator, the reset op, a ``tf.compat.v1.train``
  update op) sees and changes the values gentf uses. The session's ``run`` method is wrapped
  on the session object itself (given sessions included); runs through another session of the
  same graph are not seen.
"""
import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context

from ..core.errors import ArgumentError, GentfError
from ..modeling.params import register_accumulator
from .eager_form import EagerTFFunction, _unique_names
from .function import TFFunction

_VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")


def _replaced(graph_def, rename):
    """``graph_def`` with every use of a tensor of ``rename`` (``{tensor name: new name}``) by
    another node rewired to the new name (the NodeDef form: ``op`` for output 0)."""
    def node_form(name):
        return name[:-2] if name.endswith(":0") else name
    rename = {node_form(old): node_form(new) for old, new in rename.items()}
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    for node in out.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    return out


class GraphTFFunction(EagerTFFunction):
    """``TFFunction(params, inputs, output, session=None)`` over a ``tf.compat.v1`` graph."""

    def __init__(self, params, inputs, output, session=None):
        TFFunction.__init__(self)  # eager execution must be on
        params, inputs = list(params), list(inputs)
        graph = _check_graph(params, inputs, output)
        if session is not None and session.graph is not graph:
            raise ArgumentError("TFFunction: the session's graph is not the graph of the output tensor")
        self._graph_params, self._inputs, self._output = params, inputs, output
        self._graph_def, self._reads, self._handles = _importable(graph, inputs, output)
        session = session if session is not None else tf.compat.v1.Session(graph=graph)
        _initialize_uninitialized(session, graph)
        self._session = session
        self._view = _SessionView.of(session)
        with context.eager_mode():  # TF2 state, even when built inside `graph.as_default()`
            self._mirrors = {p.ref(): self._view.mirror(p.op.name, trainable=True) for p in params}
            self._graph_accumulators = {p.ref(): self._view.accumulator(p.op.name) for p in params}
            for name in {**self._reads, **self._handles}.values():
                self._view.mirror(name)
        with graph.as_default():
            self._reset_op = tf.group(*[a.assign(tf.zeros_like(a)) for a in self._graph_accumulators.values()])
        self._program = tf.function(self._imported, autograph=False, reduce_retracing=True)
        self._read_names = sorted(set(self._reads.values()))  # the variables read, one input each
        self._backward_def = None  # built at the first inline gradient (``_backward``)
        super().__init__(self._program, variables=[self._mirrors[p.ref()] for p in params])

    def __repr__(self):
        return f"TFFunction({', '.join(p.op.name for p in self._inputs)} -> {self._output.op.name})"

    def params(self):
        """Parameter name -> the ``tf.compat.v1`` Variable (the user's object, read with ``runtf``)."""
        return _unique_names((p.op.name, p) for p in self._graph_params)

    def param_variables(self):
        return list(self._graph_params)

    def trained_variable(self, var):
        """The TF2 mirror that gentf trains for parameter ``var`` (a graph Variable)."""
        mirror = self._mirrors.get(var.ref()) if isinstance(var, tf.Variable) else None
        if mirror is None:
            raise ArgumentError(f"{var!r} is not a parameter of {self!r}")
        return mirror

    def param_grad_var(self, var):
        """The accumulator Variable (in this function's graph) of parameter ``var``."""
        self.trained_variable(var)
        return self._graph_accumulators[var.ref()]

    def reset_param_grads(self):
        """The op (run it with ``runtf``) that zeroes this function's accumulators."""
        return self._reset_op

    # --- evaluation ------------------------------------------------------------------------
    def _check_args(self, args):
        """The arguments as tensors of the placeholders' dtypes; ArgumentError naming the
        placeholder for a wrong count, an incompatible shape or a non-numeric dtype."""
        names = [p.op.name for p in self._inputs]
        if len(args) != len(self._inputs):
            raise ArgumentError(
                f"{self!r} takes {len(names)} argument(s) (placeholders {names}), got {len(args)}")
        out = []
        for x, ph in zip(args, self._inputs):
            try:
                t = tf.convert_to_tensor(x)
            except (TypeError, ValueError) as e:
                raise ArgumentError(
                    f"argument for placeholder {ph.op.name!r} is not convertible to a tensor: {e}") from None
            if not _castable(t.dtype, ph.dtype):
                raise ArgumentError(f"argument for placeholder {ph.op.name!r} has dtype {t.dtype.name}, "
                                    f"not convertible to {ph.dtype.name}")
            if not t.shape.is_compatible_with(ph.shape):
                raise ArgumentError(f"argument for placeholder {ph.op.name!r} has shape {t.shape}, "
                                    f"incompatible with the placeholder's shape {ph.shape}")
            out.append(tf.cast(t, ph.dtype))
        return out

    def __call__(self, *args):
        self._check_context()
        return super().__call__(*args)

    def _check_context(self):
        if not (tf.executing_eagerly() or tf.inside_function()):
            raise GentfError(f"{self!r} was called while a tf.compat.v1 graph is the default graph; call it "
                             "outside `with graph.as_default():` (it runs its graph in its own session)")

    def _call(self, args):
        """Eagerly (or when the graph uses a variable's handle): the cached ``tf.function`` of
        the imported graph. Inside a graph being traced: the graph's ops imported inline, under
        a custom gradient that imports the graph's backward pass (``_backward``; tapes do not
        see ops that ``import_graph_def`` creates, and a function-call op instead would need a
        forward/backward function pair per call site, slow to optimise for many calls). The
        backward pass reads the forward tensors it needs (a softmax's output, a matmul's input)
        from this call's forward import instead of computing them again."""
        self._check_context()
        xs = self._check_args(args)
        if tf.executing_eagerly() or self._handles:
            return self._program(*xs)
        graph_def, feeds, outputs, saved = self._backward()

        @tf.custom_gradient
        def imported(*inputs):
            y, *forward = self._import(inputs[:len(xs)], inputs[len(xs):], [name for name, _ in saved])

            def grad(dy):
                values = dict(zip(feeds, [*inputs, dy]))
                values.update((placeholder, t) for (_, placeholder), t in zip(saved, forward))
                grads = iter(tf.graph_util.import_graph_def(graph_def, input_map=values, return_elements=outputs,
                                                            name="graph_form_grad"))
                return [next(grads) if t.dtype.is_floating else None for t in inputs]
            return y, grad
        return imported(*xs, *self._read_mirrors())

    def _backward(self):
        """The backward pass as a ``GraphDef``, built once: placeholders for the arguments, the
        variable reads (``_read_names``), the output's cotangent ``dy`` and the forward tensors
        the pass reads (``saved``); outputs ``dy^T dy/dz`` for each float input ``z``
        (``tf.gradients`` in a private graph over an import of the forward graph, whose tensors
        read by the gradient ops are then replaced by placeholders and the forward ops dropped).
        Returns ``(graph_def, feed names, output names, saved)``, ``saved`` the pairs (forward
        tensor name in the user's graph, its placeholder's name)."""
        if self._backward_def is None:
            with tf.Graph().as_default() as graph:
                mirrors = [self._view.mirrors[n] for n in self._read_names]
                xs = [tf.compat.v1.placeholder(ph.dtype, ph.shape) for ph in self._inputs]
                reads = [tf.compat.v1.placeholder(m.dtype, m.shape) for m in mirrors]
                inputs = xs + reads
                y = self._import(xs, reads)
                dy = tf.compat.v1.placeholder(y.dtype, y.shape)
                floats = [t for t in inputs if t.dtype.is_floating]
                grads = tf.gradients(y, floats, grad_ys=dy, unconnected_gradients="zero")
                forward = {op.name for op in graph.get_operations() if op.name.startswith("graph_form/")}
                used = {t for op in graph.get_operations() if op.name not in forward
                        for t in op.inputs if t.op.name in forward} | {g for g in grads if g.op.name in forward}
                saved = [(t, tf.compat.v1.placeholder(t.dtype, t.shape)) for t in sorted(used, key=lambda t: t.name)]
            rename = {t.name: p.name for t, p in saved}
            graph_def = _replaced(graph.as_graph_def(), rename)
            outputs = [rename.get(g.name, g.name) for g in grads]
            graph_def = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [n.split(":")[0] for n in outputs])
            for node in graph_def.node:
                if node.op == "Placeholder":  # every one is fed at the import (``_call``)
                    _as_stand_in(node, node.attr["dtype"].type)
            self._backward_def = (graph_def, [t.name for t in inputs + [dy]], outputs,
                                  [(t.name[len("graph_form/"):], p.name) for t, p in saved])
        return self._backward_def

    def _imported(self, *xs):
        """The output for arguments ``xs`` (the body of the cached ``tf.function``)."""
        return self._import(xs, self._read_mirrors())

    def _read_mirrors(self):
        """Reads of the mirrors of the variables the graph reads, in ``_read_names`` order."""
        return [tf.convert_to_tensor(self._view.mirrors[name]) for name in self._read_names]

    def _import(self, xs, reads, also=None):
        """The graph's ops imported into the calling graph: the placeholders fed ``xs``, the
        variable reads fed ``reads`` (values in ``_read_names`` order), other variable uses the
        mirrors' handles. Returns the output, or with ``also`` (a list of tensor names of the
        user's graph, possibly empty) the list ``[output, *those tensors]``."""
        feeds = {ph.name: x for ph, x in zip(self._inputs, xs)}
        values = dict(zip(self._read_names, reads))
        for node, var in self._reads.items():
            feeds[node + ":0"] = values[var]
        for node, var in self._handles.items():  # other uses of a variable: its handle
            mirror = self._view.mirrors[var]
            tf.compat.v1.get_default_graph().watch_variable(mirror)  # tapes see the access
            feeds[node + ":0"] = tf.identity(mirror.handle)
        y, *more = tf.graph_util.import_graph_def(self._graph_def, input_map=feeds,
                                                  return_elements=[self._output.name, *(also or ())],
                                                  name="graph_form")
        y.set_shape(self._output.shape)  # static only: the import inferred it (no op per call)
        return y if also is None else [y, *more]


class _SessionView:
    """The TF2 mirrors of one session's graph Variables, and the session's wrapped ``run``:
    ``push`` (mirrors -> graph), the user's run, ``pull`` (graph -> mirrors)."""

    def __init__(self, session):
        self.session, self.mirrors, self._accumulators, self._links = session, {}, {}, []
        self._run = session.run
        self._push_op, self._feeds = None, []

        def run(fetches, feed_dict=None, options=None, run_metadata=None):
            self.push()
            try:
                return self._run(fetches, feed_dict, options, run_metadata)
            finally:
                self.pull()
        session.run = run
        session._gentf_view = self

    @classmethod
    def of(cls, session):
        view = getattr(session, "_gentf_view", None)
        return view if view is not None else cls(session)

    def mirror(self, name, trainable=None):
        """The TF2 Variable mirroring the graph Variable whose op is ``name``, made once (with
        the graph Variable's value; trainable as the graph Variable unless ``trainable``)."""
        mirror = self.mirrors.get(name)
        if mirror is None:
            var = _variable_of(self.session.graph.get_operation_by_name(name))
            mirror = tf.Variable(self._run(var), trainable=bool(trainable or var.trainable), name=name + "_mirror")
            self.mirrors[name] = mirror
            self.link(var, mirror)
        elif trainable and not mirror.trainable:
            raise ArgumentError(f"TFFunction: {name!r} was first used as a constant of another TFFunction of "
                                "this session; list it among the params of the first one too")
        return mirror

    def accumulator(self, name):
        """The graph Variable ``<name>_grad`` (made once per session) that shows the gentf
        accumulator of the parameter whose op is ``name``."""
        acc = self._accumulators.get(name)
        if acc is None:
            var = _variable_of(self.session.graph.get_operation_by_name(name))
            with self.session.graph.as_default():
                acc = tf.compat.v1.Variable(tf.zeros(var.shape, var.dtype.base_dtype), trainable=False,
                                            name=name + "_grad")
            self._run(acc.initializer)
            self._accumulators[name] = acc
            self.link(acc, register_accumulator(self.mirrors[name]))
        return acc

    def link(self, graph_var, mirror):
        self._links.append((graph_var, mirror))
        self._push_op = None

    def push(self):
        if self._push_op is None:
            with self.session.graph.as_default():
                self._feeds = [tf.compat.v1.placeholder(g.dtype.base_dtype, g.shape) for g, _ in self._links]
                self._push_op = tf.group(*[g.assign(ph) for (g, _), ph in zip(self._links, self._feeds)])
        with context.eager_mode():  # the mirrors are TF2 state, even inside `graph.as_default()`
            values = [m.numpy() for _, m in self._links]
        self._run(self._push_op, dict(zip(self._feeds, values)))

    def pull(self):
        values = self._run([g for g, _ in self._links])
        with context.eager_mode():
            for (_, mirror), value in zip(self._links, values):
                mirror.assign(value)


def _variable_of(op):
    """The ``tf.Variable`` of the graph whose op is ``op``."""
    for var in op.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES) + \
            op.graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES):
        if var.op is op:
            return var
    raise ArgumentError(f"TFFunction: the graph reads {op.name!r}, which is not a tf.compat.v1 Variable "
                        "of a collection (create variables with tf.compat.v1.Variable)")


def _importable(graph, inputs, output):
    """``(graph_def, reads, handles)``: the ops ``output`` depends on, where each read of a
    variable (``ReadVariableOp`` of a resource variable, or a ref variable's value) is a
    placeholder of the same name (``reads``: node -> variable op name) and each remaining use of
    a resource handle is a resource placeholder (``handles``). Colocation hints are dropped (they
    name ops that are not imported). A placeholder that is not an input is an ArgumentError."""
    nodes = {n.name: n for n in graph.as_graph_def().node}
    kind = {name: n.op for name, n in nodes.items()}
    inputs = {x.op.name for x in inputs}
    keep, stack = {}, [output.op.name]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        node = tf.compat.v1.NodeDef()
        node.CopyFrom(nodes[name])
        keep[name] = node
        if node.op == "ReadVariableOp" and kind.get(node.input[0]) in _VARIABLE_OPS:
            continue
        stack.extend(i.lstrip("^").split(":")[0] for i in node.input)
    reads, handles = {}, {}
    for name, node in keep.items():
        if node.op in ("Placeholder", "PlaceholderV2"):
            if name not in inputs:
                raise ArgumentError(f"TFFunction: the output depends on placeholder {name!r}, which is not "
                                    f"among the inputs {sorted(inputs)}")
            _as_stand_in(node, node.attr["dtype"].type)
        elif node.op == "ReadVariableOp" and kind.get(node.input[0]) in _VARIABLE_OPS:
            reads[name] = node.input[0]
            _as_stand_in(node, node.attr["dtype"].type)
        elif node.op in ("VariableV2", "Variable"):
            reads[name] = name
            _as_stand_in(node, node.attr["dtype"].type)
        elif node.op == "VarHandleOp":
            handles[name] = name
            _as_placeholder(node, tf.resource.as_datatype_enum)
        node.attr.pop("_class", None)
    graph_def = tf.compat.v1.GraphDef(versions=graph.graph_def_versions)
    graph_def.node.extend(keep.values())
    return graph_def, reads, handles


def _as_placeholder(node, dtype):
    node.op = "Placeholder"
    del node.input[:]
    for key in list(node.attr):
        del node.attr[key]
    node.attr["dtype"].type = dtype


def _as_stand_in(node, dtype):
    """Make ``node``, whose output every import maps to a tensor of the caller (an argument, a
    variable read, a saved forward tensor), a scalar zero constant: an import keeps the mapped
    node, unused, and XLA cannot compile a ``Placeholder`` (a constant it can)."""
    _as_placeholder(node, dtype)
    node.op = "Const"
    dtype = tf.as_dtype(dtype)
    zero = b"" if dtype == tf.string else np.zeros((), dtype.as_numpy_dtype)
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(zero, dtype=dtype))


def _castable(src, dst):
    """Numeric arguments are cast to the placeholder's dtype: floats and ints to a float
    placeholder, ints to an int placeholder, bools to a bool placeholder."""
    if dst.is_floating:
        return src.is_floating or src.is_integer
    if dst.is_integer:
        return src.is_integer
    return src == dst


def _check_graph(params, inputs, output):
    if not isinstance(output, tf.Tensor) or not hasattr(output, "graph"):
        raise ArgumentError(f"TFFunction: output must be a tensor of a tf.Graph, got {output!r}")
    graph = output.graph
    for x in inputs:
        if not isinstance(x, tf.Tensor) or x.op.type != "Placeholder" or x.graph is not graph:
            raise ArgumentError(f"TFFunction: input {x!r} is not a placeholder of the output's graph")
    for p in params:
        if not isinstance(p, tf.Variable) or p.graph is not graph:
            raise ArgumentError(f"TFFunction: parameter {p!r} is not a Variable of the output's graph")
    return graph


def _initialize_uninitialized(session, graph):
    variables = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    with graph.as_default():
        flags = [tf.compat.v1.is_variable_initialized(v) for v in variables]
    flags = session.run(flags)
    session.run([v.initializer for v, ok in zip(variables, flags) if not ok])


def get_session(fn):
    """The ``tf.compat.v1.Session`` of a graph-form TFFunction (a view of the parameter state:
    see the module docstring)."""
    return _graph_form(fn, "get_session")._session


def runtf(fn, *args, **kwargs):
    """``get_session(fn).run(*args, **kwargs)``: fetch values or run ops in ``fn``'s session."""
    return get_session(fn).run(*args, **kwargs)


def _graph_form(fn, where):
    if not isinstance(fn, GraphTFFunction):
        raise TypeError(f"{where}: {fn!r} is not a graph-form TFFunction (only those have a session)")
    return fn
