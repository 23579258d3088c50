"""Graph form: GenTF's ``TFFunction(params, inputs, output, session=None)``.

The user builds a ``tf.Graph`` (``with tf.Graph().as_default():``) of ``tf.compat.v1``
placeholders ``x`` (the arguments), Variables ``theta`` (the parameters) and one output tensor
``y = f(x; theta)``. At construction gentf adds to that graph, as GenTF does:

- a placeholder ``dy`` of ``y``'s shape and the input gradients ``J_x(y)^T dy``
  (``tf.gradients(y, x, grad_ys=dy)``);
- per parameter an accumulator Variable ``g_theta`` (``get_param_grad_tf_var``), a scalar
  placeholder ``s`` and the op ``g_theta += s * J_theta(y)^T dy``;
- the op ``g_theta = 0`` for all parameters (``reset_param_grads_tf_op``);

and initialises the graph's uninitialised variables in the session (a new one if none given).

Evaluation crosses into TF2 as ``tf.numpy_function`` calling ``session.run`` (so it also runs
inside ``tf.function``), wrapped in ``tf.custom_gradient``: the gradient for an incoming ``dy``
runs the input-gradient graph, and while an ``accumulate_param_gradients`` is in progress
(``modeling.params.accumulation_scale()`` is set, by this class or by a calling @gen function)
it also runs the accumulate op with ``s`` = that scale. The call reads a trainable scalar
"anchor" Variable (value 0, gradient 0) so that every GradientTape records it and runs that
custom gradient even when no argument is watched.
"""
import numpy as np
import tensorflow as tf

from ..core.errors import ArgumentError, GentfError
from ..modeling.params import accumulation_scale, accumulation_scope
from .function import TFFunction


class GraphTFFunction(TFFunction):
    """``TFFunction(params, inputs, output, session=None)`` over a ``tf.compat.v1`` graph."""

    def __init__(self, params, inputs, output, session=None):
        super().__init__()
        params, inputs = list(params), list(inputs)
        graph = _check_graph(params, inputs, output)
        if session is not None and session.graph is not graph:
            raise ArgumentError("TFFunction: the session's graph is not the graph of the output tensor")
        self._params, self._inputs, self._output = params, inputs, output
        self._anchor = None
        with graph.as_default():
            self._output_grad = tf.compat.v1.placeholder(output.dtype, output.shape, name="output_grad")
            self._scaler = tf.compat.v1.placeholder(tf.float64, (), name="scaler")
            input_grads = tf.gradients(output, inputs, grad_ys=self._output_grad)
            self._grad_index = [i for i, g in enumerate(input_grads) if g is not None]
            self._input_grads = [tf.convert_to_tensor(input_grads[i]) for i in self._grad_index]
            self._accumulators, updates = {}, []
            for p, g in zip(params, tf.gradients(output, params, grad_ys=self._output_grad)):
                acc = tf.compat.v1.Variable(tf.zeros(p.shape, p.dtype.base_dtype), trainable=False,
                                            name=p.op.name + "_grad")
                self._accumulators[p.ref()] = acc
                if g is not None:  # y does not depend on p: its gradient is 0
                    g = tf.convert_to_tensor(g)
                    updates.append(acc.assign_add(tf.cast(self._scaler, g.dtype) * g))
            self._accumulate_op = tf.group(*updates)
            self._reset_op = tf.group(*[a.assign(tf.zeros_like(a)) for a in self._accumulators.values()])
            self._session = session if session is not None else tf.compat.v1.Session(graph=graph)
            _initialize_uninitialized(self._session, graph)

    def __repr__(self):
        return f"TFFunction({', '.join(p.op.name for p in self._inputs)} -> {self._output.op.name})"

    def params(self):
        return _unique_names((p.op.name, p) for p in self._params)

    def param_grad_var(self, var):
        """The accumulator Variable (in this function's graph) of parameter ``var``."""
        acc = self._accumulators.get(var.ref()) if isinstance(var, tf.Variable) else None
        if acc is None:
            raise ArgumentError(f"{var!r} is not a parameter of {self!r}")
        return acc

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
        self._check_context()
        xs = self._check_args(args)
        anchor = self._tape_variables()[0]
        out = self._output

        @tf.custom_gradient
        def call(*xs):
            y = tf.numpy_function(self._np_forward, [*xs, anchor], out.dtype.base_dtype, stateful=True)
            y.set_shape(out.shape)

            def grad(dy, variables=None):
                scale = accumulation_scale()
                tout = [self._inputs[i].dtype for i in self._grad_index]
                if scale is None:
                    g = tf.numpy_function(self._np_backward, [dy, *xs], tout, stateful=True)
                else:
                    scale = tf.cast(scale, tf.float64)
                    g = tf.numpy_function(self._np_accumulate, [dy, scale, *xs], tout, stateful=True)
                grads = [None] * len(xs)  # None for inputs y does not depend on (or ints)
                for i, gi in zip(self._grad_index, g if isinstance(g, (list, tuple)) else [g]):
                    grads[i] = tf.ensure_shape(gi, xs[i].shape)
                return grads, [tf.zeros_like(v) for v in variables or ()]
            return y, grad
        return call(*xs)

    def _np_forward(self, *xs_and_anchor):
        return np.asarray(self._session.run(self._output, self._feed(xs_and_anchor[:-1])))

    def _np_backward(self, dy, *xs):
        feed = self._feed(xs)
        feed[self._output_grad] = dy
        return [np.asarray(g) for g in self._session.run(self._input_grads, feed)]

    def _np_accumulate(self, dy, scale, *xs):
        feed = self._feed(xs)
        feed[self._output_grad], feed[self._scaler] = dy, scale
        grads, _ = self._session.run((self._input_grads, self._accumulate_op), feed)
        return [np.asarray(g) for g in grads]

    def _feed(self, xs):
        return dict(zip(self._inputs, xs))

    # --- accumulation ----------------------------------------------------------------------
    def _tape_variables(self):
        if self._anchor is None:
            with tf.init_scope():
                self._anchor = tf.Variable(0.0, trainable=True, name="tffunction_anchor")
        return [self._anchor]

    def _accumulate(self, variables, scale, gradients):
        with accumulation_scope(scale):
            arg_grads, _ = gradients()
        return arg_grads


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
    flags = session.run([tf.compat.v1.is_variable_initialized(v) for v in variables])
    session.run([v.initializer for v, ok in zip(variables, flags) if not ok])


def _unique_names(pairs):
    out = {}
    for name, var in pairs:
        key, k = name, 1
        while key in out:
            key, k = f"{name}_{k}", k + 1
        out[key] = var
    return out


def get_session(fn):
    """The ``tf.compat.v1.Session`` of a graph-form TFFunction."""
    return _graph_form(fn, "get_session")._session


def runtf(fn, *args, **kwargs):
    """``get_session(fn).run(*args, **kwargs)``: fetch values or run ops in ``fn``'s session."""
    return get_session(fn).run(*args, **kwargs)


def _graph_form(fn, where):
    if not isinstance(fn, GraphTFFunction):
        raise TypeError(f"{where}: {fn!r} is not a graph-form TFFunction (only those have a session)")
    return fn
