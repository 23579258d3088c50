"""Checkpointing gentf's objects with TensorFlow's own machinery (``tf.train.Checkpoint``).

Every generative function, ``ParamUpdate`` and training state that gentf holds is a TF
*trackable* object: ``tf.train.Checkpoint(model=fn, update=update)`` saves and restores its
variables like those of a Keras model or ``tf.Module``. Each such class derives from
``Checkpointable`` and says which objects it holds, by name, in ``_checkpoint_children()``:

- a @gen function: its parameters (``{name: tf.Variable}``);
- a TFFunction: its parameter Variables (for the graph form, the TF2 mirrors that gentf trains;
  the session is a view of them, pushed before each session run, so it sees restored values);
- a combinator (or any generative function): the generative functions among its attributes;
- ``ParamUpdate``: its parameters, their gradient accumulators and the optimizer state
  (gentf rules' slots and step counter, or the Keras optimizer).

A @gen function's callees are *not* its children (gentf does not know them before running the
body): list them in the checkpoint too, e.g. ``tf.train.Checkpoint(model=fn, encoder=enc)``.
Children are looked up by name when restoring, so parameters must exist (``init_param``)
before ``restore``; restoring into a function without a saved parameter is a mismatch.
"""
import tensorflow as tf

_Trackable = tf.__internal__.tracking.Trackable


class Checkpointable(_Trackable):
    """A TF trackable whose dependencies are ``_checkpoint_children()`` (a ``{name: trackable}``
    dict computed on demand, so parameters added later are saved too)."""

    def _checkpoint_children(self):
        """The objects (tf.Variables or other trackables) this object holds, by name."""
        return {}

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        return dict(self._checkpoint_children())

    def _lookup_dependency(self, name, cached_dependencies=None):
        if cached_dependencies is not None and name in cached_dependencies:
            return cached_dependencies[name]
        return self._checkpoint_children().get(name)
