"""TensorBoard histogram tags of trained parameters are unique and stable: a parameter's path
(``<@gen function>/<param>`` for the loop's own function, a Keras variable's path, else its TF
name), de-duplicated in order. The old tags were ``variable.name``: a @gen function's parameter
``w`` and its callee's ``w`` shared ``params/w``, and the two Dense layers' kernels of a Keras
model built by calling it shared ``params/net/kernel`` (8 parameters below, 4 tags)."""
import keras
import numpy as np
import tensorflow as tf

import gentf
from gentf import ADAM, ParamUpdate, TFFunction, gen, normal, param, train

F64 = tf.float64


class Net(keras.Model):
    """Two Dense layers, built by the first call (as examples/conv_vae.py's networks)."""

    def __init__(self):
        super().__init__(name="net")
        self.hidden = keras.layers.Dense(2, activation="tanh", dtype="float64")
        self.readout = keras.layers.Dense(1, dtype="float64")

    def call(self, x):
        return self.readout(self.hidden(x))


def build():
    """A @gen ``model`` calling a @gen ``layer`` (both with parameters ``w``, ``b``) and a Keras
    ``net`` of two Dense layers built by calling it (its variables are named ``net/kernel``,
    ``net/bias`` twice)."""
    @gen
    def layer(x):
        return param("w") * x + param("b")

    net = Net()
    net(tf.zeros([1, 1], F64))
    net_fn = TFFunction(net)

    @gen
    def model(x):
        h = layer(x) @ "layer"
        out = net_fn(tf.reshape(h, [1, 1])) @ "net"
        normal(param("w") * out[0, 0] + param("b"), 1.0) @ "y"
    for fn, w, b in ((model, 0.5, 0.1), (layer, 1.5, -0.3)):
        gentf.init_param(fn, "w", tf.constant(w, F64))
        gentf.init_param(fn, "b", tf.constant(b, F64))
    return model, ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), model, layer, net_fn)


TAGS = ["model/w", "model/b", "w", "b", "net/kernel", "net/bias", "net/kernel_1", "net/bias_1"]


def test_tags_are_unique_paths_and_stable():
    from gentf.learning.checkpoint import variable_tags
    keras.utils.set_random_seed(0)
    model, update = build()
    assert [v.name.split(":")[0] for v in update.variables] == ["w", "b"] * 2 + ["net/kernel", "net/bias"] * 2
    tags = variable_tags(update.variables, [model])
    assert tags == TAGS
    again, update_again = build()  # fresh objects (Keras numbers the new Dense layers on): the same tags
    assert variable_tags(update_again.variables, [again]) == tags


def test_train_writes_one_histogram_per_parameter(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    keras.utils.set_random_seed(0)
    model, update = build()
    xs = np.linspace(-1, 1, 12)
    data = tf.data.Dataset.from_tensor_slices(((xs,), {"y": 2.0 * xs + 0.5}))
    train(model, data, update, num_epoch=2, epoch_size=3, num_minibatch=1, minibatch_size=3, evaluation_size=1,
          seed=3, progress=False, summary=str(tmp_path), histogram_every=1)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    for kind in ("params", "grads"):
        assert sorted(t for t in acc.Tags()["tensors"] if t.startswith(kind + "/")) == sorted(
            f"{kind}/{t}" for t in TAGS)
    for tag, var in zip(TAGS, update.variables):
        events = acc.Tensors(f"params/{tag}")
        assert [e.step for e in events] == [0, 1]  # one histogram per step: no other variable's
        buckets = tf.make_ndarray(events[-1].tensor_proto)
        assert buckets[:, 2].sum() == np.size(var.numpy())
        np.testing.assert_allclose([buckets[0, 0], buckets[-1, 1]], [np.min(var.numpy()), np.max(var.numpy())])


def test_vi_loops_name_the_variational_family_s_parameters(tmp_path):
    """``black_box_vi`` / ``SVI.run`` (``learning.checkpoint.Loop``): the loop's own @gen
    functions (``var_model``; SVI's model and guide) name their parameters."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    @gen
    def target():
        normal(normal(tf.constant(0.0, F64), 1.0) @ "z", 0.5) @ "y"

    @gen
    def family():
        normal(param("mu"), tf.exp(param("log_std"))) @ "z"
    gentf.init_param(family, "mu", tf.constant(-1.0, F64))
    gentf.init_param(family, "log_std", tf.constant(0.5, F64))
    gentf.black_box_vi(target, (), {"y": 1.5}, family, (), ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), family),
                       iters=2, samples_per_iter=4, seed=2, progress=False, summary=str(tmp_path))
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    assert sorted(t for t in acc.Tags()["tensors"] if t.startswith("params/")) == ["params/family/log_std",
                                                                                   "params/family/mu"]
