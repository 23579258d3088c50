"""A subprocess of ``test_multichain.py``: 2 logical CPU devices; three chains of ``run_chain``
placed by ``devices=["/CPU:0", "/CPU:1"]`` (chain ``c`` on ``CPU:c % 2``), with device placement
logging on. Prints, as one JSON line, the devices of each chain's last trace and whether the
placed run's draws equal those of the unplaced run with ``jit_compile=False``; the placement log
of the placed run (stderr) lies between the ``PLACEMENT-START`` and ``PLACEMENT-END`` markers."""
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: jobs
import jobs  # noqa: E402

jobs.logical_cpus(2)
tf.debugging.set_log_device_placement(True)

import gentf  # noqa: E402
from gentf import gen, normal, select  # noqa: E402


@gen
def model():
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(3):
        normal(mu, 1.0) @ ("y", i)


def kernel(trace, seed):
    return gentf.mh(trace, select("mu"), seed=seed)


starts = [gentf.generate(model, (), {("y", i): 0.5 * i for i in range(3)}, seed=c)[0] for c in range(3)]
plain = gentf.run_chain(kernel, starts, 10, seed=1, progress=False, jit_compile=False)  # unplaced, plain graphs
sys.stderr.write("PLACEMENT-START\n")
sys.stderr.flush()
placed = gentf.run_chain(kernel, starts, 10, seed=1, progress=False, devices=["/CPU:0", "/CPU:1"])
sys.stderr.flush()
sys.stderr.write("PLACEMENT-END\n")
sys.stderr.flush()
print("RESULT " + json.dumps({"devices": [t["mu"].device for t in placed[0]],
                              "same": bool(np.array_equal(placed[1]["mu"], plain[1]["mu"])
                                           and np.array_equal(placed[2], plain[2]))}), flush=True)
