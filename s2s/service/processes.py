"""Starting, ending and describing the worker processes (`python -m s2s.worker ROLE FD`), each connected to the
service by one end of a socket pair. No TensorFlow here: it lives in those processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

from s2s import store


class ServiceError(RuntimeError):
    """The service could not answer: a worker failed to start or died. The message says which and why."""


def worker_environment() -> dict[str, str]:
    """The environment a worker starts with: this one, plus one OpenBLAS thread unless the operator chose a count,
    quiet TensorFlow logs unless asked for, and this checkout on the import path."""
    # One OpenBLAS thread: NumPy's work in a worker (the context space's PCA) is small, and two OpenBLAS threads that
    # spin-wait for each other on busy cores made one SVD 7x slower beside a single busy process, seconds in a
    # classroom, while every session's decode queued behind it (measured with bench/classroom.py and py-spy).
    return {"OPENBLAS_NUM_THREADS": "1", **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(store.PROJECT), os.environ.get("PYTHONPATH")]))}


# Training workers (and spares, which become them) run in a session of their own. Linux's autogroup scheduler (on by
# default in most distributions' kernels) shares the cores between sessions first and between the processes of
# a session after: inside the web server's session, a training run's CPU counted against the server, whose every
# wake-up in a rerun then waited behind the browsers' sessions. In a classroom on 2 cores (bench/classroom.py,
# 10 browser sessions, 2 training), the server's part of an Enter went from p50 0.35-0.44 s to 0.06-0.16 s, and the
# runs trained faster too (their session gets its share instead of sharing the server's). The niceness a worker
# sets itself (s2s.worker) still puts training behind clicks on a kernel without autogroup.
OWN_SESSION_ROLES = ("train", "spare")


def spawn_worker(role: str) -> tuple[subprocess.Popen, Connection]:
    """Start `python -m s2s.worker ROLE FD` with one end of a socket pair as its connection (a training worker in a
    session of its own: OWN_SESSION_ROLES)."""
    parent, child = socket.socketpair()
    try:
        process = subprocess.Popen([sys.executable, "-m", "s2s.worker", role, str(child.fileno())],
                                   pass_fds=[child.fileno()], env=worker_environment(), stdin=subprocess.DEVNULL,
                                   start_new_session=role in OWN_SESSION_ROLES)
    except BaseException:
        parent.close()  # no process to talk to: the service's end goes too
        raise
    finally:
        child.close()
    return process, Connection(parent.detach())


def end_process(process: subprocess.Popen) -> None:
    """End a worker now: it holds nothing the service needs (a training job has sent its model before it exits)."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def describe_exit(process: subprocess.Popen) -> str:
    code = process.poll()
    if code is None:
        return "it stopped answering"
    if code < 0:
        return f"it was killed by signal {-code}"
    return f"it exited with code {code}"
