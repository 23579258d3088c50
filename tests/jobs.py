"""Test jobs in fresh processes: logical devices, device-placement logging and ``tf.distribute``
strategies must be configured before TensorFlow initialises, so such checks run a job script
(``*_job.py``) that prints its result as one JSON line ``RESULT {...}``.

``run(job, *args)`` runs one process; ``run_two_workers(job, *args)`` runs two workers of a
``MultiWorkerMirroredStrategy`` on loopback ports (``TF_CONFIG`` set per worker). Each returns
the result(s) and the stderr(s), after asserting that the job exited cleanly.
"""
import json
import os
import socket
import subprocess
import sys


def env(**extra):
    """The job's environment: TensorFlow quiet (``TF_CPP_MIN_LOG_LEVEL=2`` unless given), no GPU."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", **extra}


def result(stdout, stderr):
    """The job's ``RESULT`` line, parsed."""
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result; stderr tail:\n{stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def run(job, *args, timeout=600, **extra):
    """``(result, stderr)`` of ``python job *args`` (``extra``: environment variables)."""
    done = subprocess.run([sys.executable, job, *args], capture_output=True, text=True, env=env(**extra),
                          timeout=timeout, cwd=os.path.dirname(job))
    assert done.returncode == 0, done.stderr[-3000:]
    return result(done.stdout, done.stderr), done.stderr


def run_two_workers(job, *args, timeout=600):
    """``[(result, stderr)]`` of two workers of ``python job *args`` forming one cluster."""
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([sys.executable, job, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env(TF_CONFIG=config), cwd=os.path.dirname(job)))
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return [(result(out, err), err) for out, err in outs]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# --- inside a job script, before TensorFlow initialises ---------------------------------------
def logical_cpus(n=2):
    """Split the CPU into ``n`` logical devices (``/cpu:0`` ... ``/cpu:n-1``)."""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def strategy(mode):
    """``"mirrored"``: ``MirroredStrategy`` over 2 logical CPUs; ``"multiworker"``: this worker
    of a ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` set by ``run_two_workers``)."""
    import tensorflow as tf
    if mode == "mirrored":
        logical_cpus(2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return tf.distribute.MultiWorkerMirroredStrategy()
