"""The job runner: an interface (`JobRunner.start(settings, report) -> JobHandle.stop/kill`) and its local engine,
each job in a `python -m s2s.worker train` process.

Everything a job sends reaches the service through `report`, as the typed messages of s2s/messages.py (progress,
live weights, the finished model as bytes): nothing through a file. So another engine (e.g. Ray, for a classroom
that outgrows one machine, with jobs on other machines) can run jobs by implementing this one interface, and the
queue, the owners and the pages do not change.
"""

from __future__ import annotations

import subprocess
import threading
from multiprocessing.connection import Connection
from typing import Callable, Protocol

from s2s.messages import JobSettings, StopTraining, TrainingDone, TrainingFailed
from s2s.service.processes import ServiceError, describe_exit, end_process, spawn_worker

Report = Callable[[object], None]  # takes TrainingStarted | TrainingProgress | LiveWeights | TrainingDone | ...


class JobHandle(Protocol):
    def stop(self) -> None: ...
    def kill(self) -> None: ...


class JobRunner(Protocol):
    """Runs one job somewhere and reports its messages (s2s.messages: TrainingStarted, TrainingProgress,
    LiveWeights, then exactly one TrainingDone or TrainingFailed) to `report`, from any thread."""

    def start(self, settings: JobSettings, report: Report) -> JobHandle: ...
    def prepare(self) -> None: ...
    def close(self) -> None: ...


class _ProcessJob:
    """A job's process. Its first message must be the settings (sent once the process is ready), so a stop asked
    for before that is held back and sent right after them."""

    def __init__(self, process: subprocess.Popen, conn: Connection):
        self.process, self.conn = process, conn
        self._lock = threading.Lock()
        self._settings_sent = self._stop_requested = False

    def send_settings(self, settings: JobSettings) -> None:
        with self._lock:
            self.conn.send(settings)
            self._settings_sent = True
            if self._stop_requested:
                self.conn.send(StopTraining())

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            if self._settings_sent:
                try:
                    self.conn.send(StopTraining())
                except OSError:
                    pass  # the process has ended already

    def kill(self) -> None:
        self.process.kill()


class LocalProcessRunner:
    """Each job in a `python -m s2s.worker train` process. One spare process is kept started (TensorFlow imported,
    the default run built and primed), so a job begins training at once. Without `prime`, the spare only
    imports TensorFlow (the tests' runs are tiny: priming the default run would cost more than it saves)."""

    def __init__(self, prime: bool = True):
        self._role = "spare" if prime else "train"
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, Connection] | None = None
        self._closed = False

    def prepare(self) -> None:
        """Start the spare, if there is none."""
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare = spawn_worker(self._role)

    def _take_spare(self) -> tuple[subprocess.Popen, Connection]:
        with self._lock:
            if self._closed:
                raise ServiceError("The training runner has been shut down.")
            spare, self._spare = self._spare, None
        if spare is not None and spare[0].poll() is None:
            return spare
        if spare is not None:
            spare[1].close()
        return spawn_worker("train")  # no spare ready: a process that starts this job without priming

    def start(self, settings: JobSettings, report: Report) -> _ProcessJob:
        process, conn = self._take_spare()
        job = _ProcessJob(process, conn)
        threading.Thread(target=self._follow, args=(job, settings, report), daemon=True,
                         name=f"s2s-job-{process.pid}").start()
        return job

    @staticmethod
    def _follow(job: _ProcessJob, settings: JobSettings, report: Report) -> None:
        ended = False
        try:
            job.conn.recv()  # WorkerReady: TensorFlow is imported (and, in a spare, the default run primed)
            job.send_settings(settings)
            while not ended:
                message = job.conn.recv()
                ended = isinstance(message, (TrainingDone, TrainingFailed))
                report(message)
        except (EOFError, OSError):
            pass
        job.process.wait()
        job.conn.close()
        if not ended:
            report(TrainingFailed(f"The training process (pid {job.process.pid}) ended unexpectedly: "
                                  f"{describe_exit(job.process)}. The run was lost with it."))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            end_process(spare[0])
            spare[1].close()
