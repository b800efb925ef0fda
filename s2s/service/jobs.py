"""Training jobs: the queue of runs, their owners, and what their jobs report (`TrainingJobs`), with each run as
the pages see it (`Job`).

At most `max_jobs` train at once (default: one per two cores); later runs queue, first come first served. Every
run belongs to an owner (a browser session): an owner sees and controls only its own runs, and the queued runs of
an owner that has gone are dropped. Runs are started through a JobRunner (s2s/service/runner.py) and everything a
job sends arrives through its report: history increments, the latest live weights (held here, one set per run
while it trains) and the finished model's files, which are written into this service's runs folder.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from s2s.config import ProblemConfig, check_fits_memory
from s2s.history import History
from s2s.messages import (
    JobSettings,
    LiveWeights,
    Resumed,
    RunningOn,
    TrainingDone,
    TrainingFailed,
    TrainingProgress,
    TrainingStarted,
)
from s2s.service.processes import ServiceError
from s2s.service.publish import write_model
from s2s.service.runner import JobHandle, JobRunner

ACTIVE = ("queued", "starting", "running", "stopping")
TRAINING = ACTIVE[1:]  # holding a slot
ENDED_WITH_MODEL = ("completed", "target reached", "stopped")
_JOB_IDS = itertools.count(1)  # per process, not per service: a new service (a cleared cache) reuses no run id


def default_max_jobs() -> int:
    """Training jobs at once: S2S_MAX_JOBS, else one per two cores (TensorFlow uses every core it is given)."""
    configured = os.environ.get("S2S_MAX_JOBS")
    return max(1, int(configured)) if configured else max(1, (os.cpu_count() or 2) // 2)


@dataclass
class Job:
    """A training run as the app sees it: settings, status, the history streamed so far, the result."""

    id: int
    owner: str
    spec: JobSettings
    history: History
    status: str = "queued"  # queued, starting, running, stopping, completed, target reached, stopped, failed
    progress: TrainingProgress = field(default_factory=TrainingProgress)  # the latest report
    done: TrainingDone | None = field(default=None, repr=False)  # the job's last message, without the model's bytes
    directory: Path | None = None  # its saved model, once it arrived (None: training, failed, or nothing trained)
    error: str | None = None
    note: str | None = None
    handle: JobHandle | None = field(default=None, repr=False)
    run_directory: Path | None = None  # where this service writes the run's model when it arrives
    saved_as: Path | None = None       # where its model was published (by its owner, or recovered)
    live: LiveWeights | None = field(default=None, repr=False)  # its newest weights while it trains
    node: str | None = None  # the cluster node it trains on (None: this machine)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def ended_with_model(self) -> bool:
        return self.status in ENDED_WITH_MODEL and self.directory is not None

    @property
    def result(self) -> dict:
        """What the run ended with, for the pages: reason, elapsed, accuracies, evaluation, directory ({} before)."""
        if self.done is None:
            return {}
        return {"reason": self.done.reason, "elapsed": self.done.elapsed, "exact_accuracy": self.done.exact_accuracy,
                "token_accuracy": self.done.token_accuracy, "evaluation": self.done.evaluation,
                "directory": self.directory}

    @property
    def label(self) -> str:
        p, m, t = self.spec.problem, self.spec.model, self.spec.train
        task = "" if p.task == ProblemConfig().task else f"{p.task} "
        model = f"{m.units} units" + (f" × {m.layers}" if m.layers > 1 else "") + (" + attention" if m.attention else "")
        return (f"run {self.id}: {task}{p.cardinality}/{p.n_in}→{p.n_out}, {model}, "
                f"batch {t.batch_size}, lr {t.learning_rate:g}")

    @property
    def elapsed(self) -> float:
        return (self.done.elapsed if self.done else None) or self.progress.elapsed or 0.0


class TrainingJobs:
    """The runs of every session: queue, owners, slots, and the reports of their jobs."""

    def __init__(self, runner: JobRunner, runs_dir: Path, max_jobs: int, owner_alive: Callable[[str], bool],
                 can_prepare: Callable[[], bool], on_model: Callable[[Job], None]):
        self.runner, self.runs_dir, self.max_jobs, self.owner_alive = runner, runs_dir, max_jobs, owner_alive
        self.can_prepare = can_prepare  # whether a spare process may start now (the inference worker is up)
        self.on_model = on_model        # called, in the reporting thread, for a run that ended with a model
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._closed = False
        self._handlers = {TrainingStarted: self._started, TrainingProgress: self._progress, LiveWeights: self._live,
                          TrainingDone: self._done, TrainingFailed: self._failed, RunningOn: self._running_on,
                          Resumed: self._resumed}

    def submit(self, owner: str, spec: JobSettings) -> Job:
        """Queue a training run for `owner`; it starts as soon as a slot is free. Bad settings raise ValueError."""
        check_fits_memory(spec.problem, spec.train)
        with self._lock:
            job = Job(next(_JOB_IDS), owner, spec, History(batch_size=spec.train.batch_size))
            self._jobs[job.id] = job
        self.schedule()
        return job

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def of(self, owner: str) -> list[Job]:
        return [job for job in self.all() if job.owner == owner]

    def get(self, owner: str, job_id: int, presenter: bool = False) -> Job:
        """`owner`'s run `job_id` (a presenter's: anyone's); KeyError for a run of another session."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (job.owner != owner and not presenter):
            raise KeyError(f"No run {job_id} in this session.")
        return job

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start, or None if the job is not queued."""
        queued = [j for j in self.all() if j.status == "queued"]
        return queued.index(job) + 1 if job in queued else None

    def stop(self, owner: str, job_id: int) -> None:
        """Stop a running job after its current batch (keeping the model), or drop a queued one."""
        job = self.get(owner, job_id)
        with self._lock:
            if job.status == "queued":
                job.status, job.note = "stopped", "Stopped before it started: nothing was trained."
                return
            if job.status not in ("starting", "running"):
                return
            job.status = "stopping"
            handle = job.handle
        if handle is not None:
            handle.stop()

    def stop_overdue(self, budget_seconds: float) -> list[Job]:
        """Stop every run that has trained longer than `budget_seconds`, keeping its model like a Stop."""
        with self._lock:
            overdue = [job for job in self._jobs.values() if job.status == "running"
                       and job.progress.elapsed > budget_seconds]
            for job in overdue:
                job.note = (f"Stopped after {budget_seconds / 60:g} min, the time one run may train on this server "
                            "(S2S_MAX_RUN_MINUTES); the model trained so far is kept.")
        for job in overdue:
            self.stop(job.owner, job.id)
        return overdue

    def kill(self, job_id: int) -> None:
        """End a job's process at once (tests use it to check that a crash is reported)."""
        with self._lock:
            handle = self._jobs[job_id].handle
        if handle is not None:
            handle.kill()

    def schedule(self) -> None:
        """Start queued jobs while slots are free; drop those whose owner has gone; keep a spare process ready."""
        with self._lock:
            if self._closed:
                return
            for job in self._jobs.values():
                if job.status == "queued" and not self.owner_alive(job.owner):
                    job.status, job.note = "stopped", "Dropped from the queue: its browser session closed."
            running = sum(job.status in TRAINING for job in self._jobs.values())
            to_start = [job for job in self._jobs.values() if job.status == "queued"][:max(0, self.max_jobs - running)]
            for job in to_start:
                job.status = "starting"
            idle = running + len(to_start) == 0
        for job in to_start:
            self._start(job)
        if idle and self.can_prepare():
            # Warm the next job's process only while nothing trains: its TensorFlow import would slow a run down.
            self.runner.prepare()

    def _start(self, job: Job) -> None:
        job.run_directory = self.runs_dir / f"run-{job.id}"
        try:
            handle = self.runner.start(job.spec, lambda message: self._report(job, message))
        except (OSError, ServiceError) as error:
            with self._lock:
                job.status, job.error = "failed", f"The training process could not be started: {error}"
            return
        with self._lock:
            job.handle = handle
            stop_now = job.status == "stopping"
        if stop_now:  # Stop was pressed while the process was being handed the job
            handle.stop()

    def _report(self, job: Job, message) -> None:
        """A message from `job` (any thread): the table of handlers says what it changes."""
        handler = self._handlers.get(type(message))
        if handler is None:
            print(f"s2s: run {job.id} sent an unknown message {type(message).__name__}; ignored.", file=sys.stderr)
            return
        handler(job, message)
        if isinstance(message, (TrainingDone, TrainingFailed)):
            self.schedule()

    def _running_on(self, job: Job, message: RunningOn) -> None:
        with self._lock:
            job.node = message.node

    def _resumed(self, job: Job, message: Resumed) -> None:
        with self._lock:
            job.history.cut_at(message.samples)
            job.node, job.live = message.node, None
            job.note = (f"Resumed at {message.samples:,} samples on node {message.node}: node {message.lost_node} "
                        f"stopped answering ({message.reason}).")

    def _started(self, job: Job, message: TrainingStarted) -> None:
        with self._lock:
            if job.status == "starting":
                job.status = "running"
            job.progress = TrainingProgress(total_samples=message.total_samples)

    def _progress(self, job: Job, message: TrainingProgress) -> None:
        with self._lock:
            job.history.extend(message.increment)
            job.progress = message

    def _live(self, job: Job, message: LiveWeights) -> None:
        with self._lock:
            if job.active:  # weights that come after the end are of no use
                job.live = message

    def _done(self, job: Job, message: TrainingDone) -> None:
        directory = None
        with self._lock:
            if self._closed:  # the service is closing and its runs folder goes: nothing to write the model into
                return
        if message.model_files is not None:
            try:  # written before the status changes: a page that sees the run ended finds its model
                directory = write_model(message.model_files, job.run_directory)
            except (OSError, ValueError) as error:
                self._failed(job, TrainingFailed(f"The run's model could not be kept: {error}"))
                return
        with self._lock:
            job.history.extend(message.increment)
            job.done = replace(message, model_files=None)  # the bytes are on disk now
            job.directory, job.live, job.status = directory, None, message.reason
            if directory is None:
                job.note = "Stopped before its first batch finished: there was nothing to keep."
        if directory is not None:
            self.on_model(job)

    def _failed(self, job: Job, message: TrainingFailed) -> None:
        with self._lock:
            job.status, job.error, job.live = "failed", message.message, None

    def close(self) -> None:
        """Kill every active job and close the runner (its spare process)."""
        with self._lock:
            self._closed = True
            handles = [job.handle for job in self._jobs.values() if job.active and job.handle]
        for handle in handles:
            handle.kill()
        self.runner.close()
