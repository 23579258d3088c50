"""Nothing gentf caches keeps its owner alive (``core.owned``).

Compiled programs (per generative function and kernel owner), kernel and path owners, graph
assertions and gradient accumulators are all stored on the object they belong to, although
they refer back to it (a program closes over its model). After ``del model; gc.collect()``
nothing of a model remains: not the model, its TFFunction and Keras network, nor their
Variables (whose accumulators die with them)."""
import copy
import gc
import weakref

import keras
import tensorflow as tf

import gentf
from gentf import (FixedStepGradientDescent, ParamUpdate, TFFunction, choicemap, gen, init_param,
                   normal, param, select)
from gentf.core import compile as compiled
from gentf.core import domain
from gentf.core.owned import Owned, _elsewhere
from gentf.inference._compile import kernel_owner
from gentf.inference.paths import path_owner

NUM_MODELS = 40


def _use_and_drop(importance):
    """Build a model with a @gen parameter and a Keras TFFunction, run it through every cache
    (compiled GFI calls, ``mh``, a ``ParamUpdate``, a ``train`` epoch and, when ``importance``,
    ``importance_sampling``), and return weak references to its objects."""
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    f = TFFunction(net)

    @gen
    def model(x):
        mu = normal(param("m"), 1.0) @ "mu"
        h = f(x[None]) @ "net"
        normal(mu + tf.reduce_sum(h), 1.0) @ "y"
    init_param(model, "m", 0.0)

    x, obs = tf.constant([1.0, 2.0]), choicemap({"y": 0.5})
    for _ in range(2):  # the second call runs the compiled program
        trace, _ = gentf.generate(model, (x,), obs)
    for _ in range(2):
        trace, _ = gentf.mh(trace, select("mu"))
    if importance:  # seconds per model: tracing the particle-batched Keras call
        gentf.importance_sampling(model, (x,), obs, num_samples=4, jit_compile=False)
    gentf.accumulate_param_gradients(trace)
    update = ParamUpdate(FixedStepGradientDescent(0.01), model, f)
    update.apply()
    gentf.train(model, lambda: ((x,), obs), update, num_epoch=1, epoch_size=1)

    assert compiled._owners.get(model) is not None and compiled._owners[model].programs
    assert compiled._owners.get(kernel_owner(model, "mh")) is not None
    objects = [model, f, net, model.param_var("m"), *f.param_variables()]
    return [weakref.ref(o) for o in objects]


def test_dropped_models_are_freed():
    refs = []
    for i in range(NUM_MODELS):
        refs += _use_and_drop(importance=i % 10 == 0)
    gc.collect()
    alive = [type(r()).__name__ for r in refs if r() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} objects of dropped models are alive: {sorted(set(alive))}"


def test_path_owner_is_freed_with_its_model():
    @gen
    def model():
        normal(0.0, 1.0) @ "x"
    owner = path_owner(model)
    assert path_owner(model) is owner and owner.gen_fn is model
    refs = [weakref.ref(model), weakref.ref(owner)]
    del model, owner
    gc.collect()
    assert all(r() is None for r in refs)


def test_graph_assertions_die_with_their_graph():
    graph = tf.Graph()
    with graph.as_default():
        domain._assert(tf.constant(True), ["a failed check"], tf.constant(0))
    assert len(domain._assertions[graph]) == 1  # the op refers to its graph
    ref = weakref.ref(graph)
    del graph
    gc.collect()
    assert ref() is None


class _Thing:
    def method(self):
        return self


class _Slotted:
    __slots__ = ("__weakref__",)


def test_owned_values_live_on_their_object():
    table = Owned("test")
    thing = _Thing()
    assert thing not in table and table.get(thing) is None
    value = table.of(thing, lambda: [thing])  # refers back to its object: a cycle
    assert table.of(thing, list) is value and table[thing] is value and thing in table
    ref = weakref.ref(thing)
    del thing, value
    gc.collect()
    assert ref() is None


def test_owned_bound_method_values_live_on_its_object():
    table = Owned("test")
    thing = _Thing()
    value = table.of(thing.method, lambda: [thing.method])
    assert table.get(thing.method) is value  # a new method object, the same values
    assert table.get(_Thing().method) is None
    ref = weakref.ref(thing)
    del thing, value
    gc.collect()
    assert ref() is None


def test_owned_copies_have_no_values():
    table = Owned("test")
    thing = _Thing()
    table[thing] = [tf.Variable(1.0)]
    for twin in (copy.copy(thing), copy.deepcopy(thing)):
        assert table.get(twin) is None and twin not in table
        table[twin] = 2
        assert table[twin] == 2 and len(table[thing]) == 1


def test_owned_graphs_and_variables():
    table = Owned("test")
    graph = tf.Graph()
    var = tf.Variable(1.0)  # unhashable: a key by identity
    table[graph], table[var] = "graph", "var"
    assert table[graph] == "graph" and table[var] == "var"
    assert table.get(tf.Variable(1.0)) is None and table.get(tf.Graph()) is None


def test_owned_object_without_attributes():
    table = Owned("test")
    obj = _Slotted()
    table[obj] = 3
    assert table[obj] == 3 and obj in _elsewhere
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None

