"""A subprocess of ``test_devices.py``: 2 logical CPU devices; a model's parameters and update
built under ``tf.device("/CPU:1")``; then ``generate``, ``train`` and ``importance_sampling`` run
under that scope with device placement logging on. Prints the variables' devices as one JSON
line; the placement log (stderr) follows the ``PLACEMENT-START`` marker."""
import json
import os
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: jobs
import jobs  # noqa: E402

jobs.logical_cpus(2)
tf.debugging.set_log_device_placement(True)

import gentf  # noqa: E402
from gentf import FixedStepGradientDescent, ParamUpdate, choicemap, gen, normal, param, train  # noqa: E402


@gen
def model(x):
    slope = normal(param("mu"), 1.0) @ "slope"
    normal(slope * x, 1.0) @ "y"


with tf.device("/CPU:1"):
    x = tf.constant(2.0, tf.float64)
with tf.device("/CPU:1"):
    gentf.init_param(model, "mu", tf.constant(0.5, tf.float64))
    update = ParamUpdate(FixedStepGradientDescent(0.01), model)
data = lambda: ((x,), choicemap({"slope": 1.0, "y": 2.5}))  # noqa: E731
for i in range(2):  # warm up: trace and compile everything once (eager and compiled paths)
    gentf.generate(model, (x,), choicemap({"y": 2.5}), seed=i)
train(model, data, update, num_epoch=1, epoch_size=2, minibatch_size=2, seed=0, progress=False)
gentf.importance_sampling(model, (x,), choicemap({"y": 2.5}), 8, seed=0)
sys.stderr.write("PLACEMENT-START\n")
sys.stderr.flush()
with tf.device("/CPU:1"):
    _, w = gentf.generate(model, (x,), choicemap({"y": 2.5}), seed=5)
    train(model, data, update, num_epoch=2, epoch_size=2, minibatch_size=2, seed=1, progress=False)
    _, log_w, _ = gentf.importance_sampling(model, (x,), choicemap({"y": 2.5}), 8, seed=1)
sys.stderr.flush()
sys.stderr.write("PLACEMENT-END\n")
sys.stderr.flush()
variables = update.variables + update.accumulators + [update._group.counter] + sum(update._group.slots, [])
print("RESULT " + json.dumps({"variables": [v.device for v in variables], "weight": w.device,
                              "log_w": log_w.device, "mu": float(gentf.get_param(model, "mu"))}), flush=True)
