"""Training jobs on a Ray cluster: the JobRunner the service uses when S2S_RAY_ADDRESS is set (`auto`, or
`ray://head:10001`). Each job is a Ray actor of S2S_RAY_CPUS CPUs (default 1) that trains with the same code as a
local job (s2s.training_job.train_and_save); everything travels through Ray, nothing through a shared folder:
the settings go in as the actor's call, and its messages (progress, live weights, the finished model as bytes)
come back through `poll`, which the runner calls every POLL_SECONDS and hands to the service's report. The code
reaches the nodes through Ray's runtime environment (this checkout as the `working_dir`, without the models,
tests and docs).

A node that dies mid-run ends its actor: the run is reported failed with the reason (the node and Ray's
message), and the other runs train on. A cluster that has gone refuses new runs with a message naming its
address; the app and its saved models keep working.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from s2s.messages import JobSettings, Resumed, RunningOn, TrainingDone, TrainingFailed, TrainingStarted
from s2s.service.processes import ServiceError

ADDRESS_ENV, CPUS_ENV = "S2S_RAY_ADDRESS", "S2S_RAY_CPUS"
POLL_SECONDS = 0.25
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_EXCLUDES = ["pretrained/", "tests/", "bench/", "docs/", "test-artifacts/"]  # .git: Ray leaves it out


class _Outbox:
    """Where an actor's job sends its messages (the `conn` of train_and_save) until the runner polls them. Of the
    live weights only the newest is kept: a page decodes with the newest."""

    def __init__(self):
        self._lock = threading.Lock()
        self._messages: list = []

    def send(self, message) -> None:
        from s2s.messages import LiveWeights

        with self._lock:
            if isinstance(message, LiveWeights):
                self._messages = [m for m in self._messages if not isinstance(m, LiveWeights)]
            self._messages.append(message)

    def take(self) -> list:
        with self._lock:
            messages, self._messages = self._messages, []
        return messages


class TrainingActor:
    """One job on a node (made a Ray actor by RayRunner). `start` returns at once; the job trains in a thread of
    the actor while `poll` and `stop` are served beside it."""

    def __init__(self):
        self.outbox = _Outbox()
        self.trainer = None
        self.stop_asked = threading.Event()
        self.abandoned = threading.Event()

    def node(self) -> str:
        import ray

        return f"{socket.gethostname()} ({ray.get_runtime_context().get_node_id()[:8]})"

    def warm(self) -> None:
        """Import TensorFlow and the trainer now, while no job waits for them (seconds, once per actor)."""
        import s2s.train  # noqa: F401

    def start(self, settings: JobSettings, resume=None) -> None:
        """Train `settings` (this actor's next job: the last one has sent its TrainingDone or TrainingFailed); with
        `resume` (samples seen, weights, history), go on with a run whose node died."""
        self.outbox, self.trainer = _Outbox(), None
        self.stop_asked, self.abandoned = threading.Event(), threading.Event()
        threading.Thread(target=self._train, args=(settings, resume), daemon=True, name="s2s-ray-job").start()

    def _train(self, settings: JobSettings, resume) -> None:
        from s2s.training_job import failure_message, train_and_save
        from s2s.train import Trainer

        try:
            self.trainer = Trainer(settings.problem, settings.model, settings.train, resume=resume)
            if self.stop_asked.is_set():
                self.trainer.stop()
            self.outbox.send(TrainingStarted(self.trainer.total_samples))
            done = train_and_save(self.outbox, self.trainer, self.abandoned)
        except Exception as error:  # noqa: BLE001 - reported to the service, which shows it
            self.outbox.send(TrainingFailed(failure_message(error)))
            return
        if done is not None:
            self.outbox.send(done)

    def poll(self) -> list:
        return self.outbox.take()

    def stop(self) -> None:
        self.stop_asked.set()
        if self.trainer is not None:
            self.trainer.stop()


class _Lost(Exception):
    """The actor of a run stopped answering; `live`: the latest weights it sent (None if none)."""

    def __init__(self, reason: str, live):
        super().__init__(reason)
        self.reason, self.live = reason, live


class _RayJob:
    def __init__(self, actor, runner: RayRunner, number: int):
        self.actor, self.runner = actor, runner
        self.number = number  # the how-manieth job of its actor
        self.ended = threading.Event()

    def stop(self) -> None:
        if not self.ended.is_set():
            self.actor.stop.remote()

    def kill(self) -> None:
        if not self.ended.is_set():
            self.runner.ray.kill(self.actor)


class RayRunner:
    """Runs each job as a TrainingActor on the cluster at `address` (`cpus` CPUs per run)."""

    def __init__(self, address: str, cpus: float = 1.0, ship_code: bool = True, node_ip: str | None = None):
        import ray

        self.ray, self.address, self.cpus = ray, address, cpus
        runtime_env = {"working_dir": str(ROOT), "excludes": SHIPPED_EXCLUDES} if ship_code else None
        extra = {"_node_ip_address": node_ip} if node_ip else {}  # tests: a cluster on 127.0.0.1 alone
        try:
            ray.init(address=address, runtime_env=runtime_env, ignore_reinit_error=True, log_to_driver=False,
                     logging_level="ERROR", configure_logging=False, **extra)
        except Exception as error:  # noqa: BLE001 - any failure to connect: the app runs on without the cluster
            raise ServiceError(f"The Ray cluster at {address} cannot be reached: {error}") from None
        self.actor_class = ray.remote(num_cpus=cpus, max_concurrency=4, max_restarts=0)(TrainingActor)
        # Actors that have TensorFlow imported and no job, as (actor, jobs it has run): the next run starts at once,
        # as a local run starts in the spare process. Up to one per slot, each for up to JOBS_PER_PROCESS jobs.
        self._idle: list[tuple[object, int]] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_env(cls) -> RayRunner | None:
        """The runner S2S_RAY_ADDRESS asks for; None when it is unset (every run stays local)."""
        address = os.environ.get(ADDRESS_ENV, "").strip()
        if not address:
            return None
        text = os.environ.get(CPUS_ENV, "1").strip() or "1"
        try:
            cpus = float(text)
        except ValueError:
            cpus = 0.0
        if not 0 < cpus <= 1024:
            raise ServiceError(f"{CPUS_ENV} must be a number of CPUs per run above 0, got {text[:20]!r}.")
        return cls(address, cpus)

    def slots(self) -> int:
        """Runs that can train at once: the cluster's CPUs over the CPUs of one run (at least 1)."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 0) // self.cpus))

    def prepare(self) -> None:
        """While nothing trains: an actor per slot, TensorFlow imported on its node, waiting for a run."""
        with self._lock:
            missing = 0 if self._closed else self.slots() - len(self._idle)
            for _ in range(max(0, missing)):
                actor = self.actor_class.remote()
                actor.warm.remote()
                self._idle.append((actor, 0))

    def _take_actor(self, wait: float = 120):
        """An idle actor that still answers (its node may have gone meanwhile), else a new one (placed within
        `wait` seconds)."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                actor, done = self._idle.pop(0)
            try:
                return actor, self.ray.get(actor.node.remote(), timeout=30), done
            except Exception:  # noqa: BLE001 - its node has gone: forget it
                self.ray.kill(actor)
        actor = self.actor_class.remote()
        try:
            return actor, self.ray.get(actor.node.remote(), timeout=wait), 0
        except Exception:
            self.ray.kill(actor)  # not placed: it must not take a CPU later, unasked
            raise

    def _release(self, job: _RayJob) -> None:
        """After its job: the actor waits for the next run, if a slot's actor is missing and it has room for one."""
        from s2s.training_job import JOBS_PER_PROCESS

        with self._lock:
            if not self._closed and len(self._idle) < self.slots() and job.number < JOBS_PER_PROCESS:
                self._idle.append((job.actor, job.number))
                return
        self.ray.kill(job.actor)

    def start(self, settings: JobSettings, report) -> _RayJob:
        if not self.ray.is_initialized():
            raise ServiceError(f"The Ray cluster at {self.address} is not connected.")
        try:
            actor, node, done = self._take_actor()
            actor.start.remote(settings)
        except Exception as error:  # noqa: BLE001 - no node could take it, or the cluster has gone
            raise ServiceError(f"The Ray cluster at {self.address} could not start the run: {error}") from None
        job = _RayJob(actor, self, done + 1)
        report(RunningOn(node))
        threading.Thread(target=self._follow, args=(job, node, settings, report), daemon=True,
                         name="s2s-ray-follow").start()
        return job

    def _follow(self, job: _RayJob, node: str, settings: JobSettings, report) -> None:
        """Poll the actor's messages until its last one. An actor whose node dies: the run goes on from its latest
        weights on another node if one is free, else it ends as failed with the reason."""
        from s2s.history import History

        history, live = History(batch_size=settings.train.batch_size), None  # what the run sent, to resume it
        while True:
            try:
                self._poll(job, report, history)
                return
            except _Lost as lost:
                live = lost.live or live
                reason = lost.reason
            if job.ended.is_set():
                return
            try:  # an actor that only stopped answering for a moment would train on, holding its CPU
                self.ray.kill(job.actor)
            except Exception:  # noqa: BLE001 - gone with its node
                pass
            resumed = self._resume(job, node, settings, history, live, reason, report)
            if resumed is None:
                job.ended.set()
                report(TrainingFailed(f"The run's node {node} stopped answering ({reason}). No other node was free "
                                      "to take it on, so the run was lost; the other runs train on."))
                return
            node = resumed

    def _poll(self, job: _RayJob, report, history) -> None:
        from s2s.messages import LiveWeights, TrainingProgress

        # The latest live weights whose batches the history already holds: a job sends its live weights before the
        # progress report that covers them, and a run resumed from weights the history has not reached would miss
        # those batches in its history.
        live = candidate = None
        try:
            while True:
                for message in self.ray.get(job.actor.poll.remote()):
                    if isinstance(message, (TrainingDone, TrainingFailed)):
                        job.ended.set()
                    if isinstance(message, (TrainingProgress, TrainingDone)):
                        history.extend(message.increment)
                    elif isinstance(message, LiveWeights):
                        candidate = message
                    if candidate is not None and history.samples and history.samples[-1] >= candidate.samples_seen:
                        live, candidate = candidate, None
                    if isinstance(message, TrainingDone):
                        self._release(job)  # before the report, whose scheduling may start the next run here
                    elif job.ended.is_set():
                        self.ray.kill(job.actor)  # a failed job's actor is not used again
                    report(message)
                    if job.ended.is_set():
                        return
                time.sleep(POLL_SECONDS)
        except Exception as error:  # noqa: BLE001 - RayActorError, ActorUnavailableError, a lost connection
            raise _Lost(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}", live) from None

    def _resume(self, job: _RayJob, lost_node: str, settings: JobSettings, history, live, reason: str,
                report) -> str | None:
        """Start the run again from its latest live weights on a free node; its node's name, or None."""
        if live is None or not self._free():
            return None
        try:
            actor, node, done = self._take_actor(wait=30)
            actor.start.remote(settings, (live.samples_seen, live.weights, history.up_to(live.samples_seen)))
        except Exception:  # noqa: BLE001 - no node could take it after all
            return None
        history.cut_at(live.samples_seen)
        job.actor, job.number = actor, done + 1  # Stop and kill now reach the new actor
        report(Resumed(node, live.samples_seen, lost_node, reason))
        return node

    def _free(self) -> bool:
        """Whether a run could start now: a warm actor waits, or the cluster has a run's CPUs free."""
        with self._lock:
            if self._idle:
                return True
        return self.ray.available_resources().get("CPU", 0) >= self.cpus

    def release_idle(self) -> None:
        """End the warm actors waiting for a run: their CPUs go back to the cluster (another app, a CLI sweep)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for actor, _ in idle:
            self.ray.kill(actor)

    def close(self) -> None:
        """The cluster stays up for others: this app's actors and its connection end."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        try:
            for actor, _ in idle:
                self.ray.kill(actor)
            self.ray.shutdown()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
