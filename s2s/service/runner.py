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
from s2s.training_job import JOBS_PER_PROCESS

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
    """A job in a process. Its first message must be the settings (sent once the process is ready), so a stop asked
    for before that is held back and sent right after them; once the job has ended no stop is sent (the process
    may be training the next job by then)."""

    def __init__(self, process: subprocess.Popen, conn: Connection, number: int = 1):
        self.process, self.conn = process, conn
        self.number = number  # the how-manieth job of its process
        self._lock = threading.Lock()
        self._settings_sent = self._stop_requested = self._ended = False

    def send_settings(self, settings: JobSettings) -> None:
        with self._lock:
            self.conn.send(settings)
            self._settings_sent = True
            if self._stop_requested:
                self.conn.send(StopTraining())

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            if self._settings_sent and not self._ended:
                try:
                    self.conn.send(StopTraining())
                except OSError:
                    pass  # the process has ended already

    def end(self) -> None:
        """The job has sent its last message: later stops are not sent."""
        with self._lock:
            self._ended = True

    def kill(self) -> None:
        with self._lock:
            if self._ended:
                return  # the process may be training another job now
        self.process.kill()


class LocalProcessRunner:
    """Each job in a `python -m s2s.worker train` process. One spare process is kept started (TensorFlow imported,
    the default run built and primed), so a job begins training at once. Without `prime`, the spare only
    imports TensorFlow (the tests' runs are tiny: priming the default run would cost more than it saves). A process
    whose job ended with its TrainingDone becomes the spare if there is none (the worker takes up to
    training_job.JOBS_PER_PROCESS jobs), else it is told to exit; a failed or killed one is never reused."""

    def __init__(self, prime: bool = True):
        self._role = "spare" if prime else "train"
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, Connection, int] | None = None  # (process, conn, jobs it has run)
        self._closed = False

    def prepare(self) -> None:
        """Start the spare, if there is none."""
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare = (*spawn_worker(self._role), 0)

    def _take_spare(self) -> tuple[subprocess.Popen, Connection, int]:
        with self._lock:
            if self._closed:
                raise ServiceError("The training runner has been shut down.")
            spare, self._spare = self._spare, None
        if spare is not None and spare[0].poll() is None:
            return spare
        if spare is not None:
            spare[1].close()
        return (*spawn_worker("train"), 0)  # no spare ready: a process that starts this job without priming

    def start(self, settings: JobSettings, report: Report) -> _ProcessJob:
        process, conn, done = self._take_spare()
        job = _ProcessJob(process, conn, done + 1)
        threading.Thread(target=self._follow, args=(job, settings, report), daemon=True,
                         name=f"s2s-job-{process.pid}").start()
        return job

    def _follow(self, job: _ProcessJob, settings: JobSettings, report: Report) -> None:
        last, kept = None, False
        try:
            job.conn.recv()  # WorkerReady: TensorFlow is imported (and, in a spare, the default run primed)
            job.send_settings(settings)
            while last is None:
                message = job.conn.recv()
                if isinstance(message, (TrainingDone, TrainingFailed)):
                    job.end()
                    last = message
                    # Kept before the report, whose scheduling may hand this very process the next queued job.
                    kept = isinstance(message, TrainingDone) and self._keep_as_spare(job)
                report(message)
        except (EOFError, OSError):
            pass
        if kept:
            return
        job.end()
        job.conn.close()  # the worker exits when its connection closes
        job.process.wait()
        if last is None:
            report(TrainingFailed(f"The training process (pid {job.process.pid}) ended unexpectedly: "
                                  f"{describe_exit(job.process)}. The run was lost with it."))

    def _keep_as_spare(self, job: _ProcessJob) -> bool:
        """Make the process of a job that ended well the spare, if there is none and it can take more jobs."""
        with self._lock:
            if (self._closed or self._spare is not None or job.process.poll() is not None
                    or job.number >= JOBS_PER_PROCESS):
                return False
            self._spare = (job.process, job.conn, job.number)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            end_process(spare[0])
            spare[1].close()
