"""gentf respects ``tf.device`` and the placement of the user's Variables (issue 10, item 5).

``devices_job.py`` (a fresh process: logical devices are fixed before TensorFlow initialises)
builds a model's parameters and ``ParamUpdate`` under ``tf.device("/CPU:1")`` of 2 logical CPUs,
then runs ``generate``, ``train`` and ``importance_sampling`` (all compiled, cached programs)
under that scope with device-placement logging on.
"""
import os
import re

import jobs

JOB = os.path.join(os.path.dirname(__file__), "devices_job.py")
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"


def test_params_accumulators_and_ops_stay_on_the_users_device():
    result, stderr = jobs.run(JOB, TF_CPP_MIN_LOG_LEVEL="0")
    # parameters, their gradient accumulators and the optimizer state live where the user put them
    assert result["variables"] and set(result["variables"]) == {CPU1}
    assert result["weight"] == CPU1 and result["log_w"] == CPU1
    assert result["mu"] != 0.5  # train did move the parameter
    log = stderr.split("PLACEMENT-START")[1].split("PLACEMENT-END")[0]
    placed = re.findall(r"placer\.cc:\d+\] (\S+): \((\w+)\): (\S+)", log)
    executed = re.findall(r"Executing op (\S+) in device (\S+)", log)
    assert len(placed) > 100 and executed
    # every op of the compiled programs, and every eager op, runs on CPU:1; only function
    # arguments may sit elsewhere (TF keeps eager int32 tensors, the seeds, in host memory)
    elsewhere = [p for p in placed if p[2] != CPU1 and p[1] not in ("_Arg", "_Retval")]
    assert not elsewhere, elsewhere[:10]
    assert all(device == CPU1 for _, device in executed), [e for e in executed if e[1] != CPU1][:10]
