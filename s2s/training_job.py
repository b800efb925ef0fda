"""Training jobs, the process `python -m s2s.worker train|spare FD` runs (s2s/worker.py is its entry): it waits for a
JobSettings, trains it while sending TrainingProgress and LiveWeights, then sends the saved model's files as bytes in
TrainingDone (or TrainingFailed), and takes the next job if the runner hands it one (up to JOBS_PER_PROCESS; then,
or after a failure, it exits and its memory returns to the operating system). A spare builds and primes the default
run while it waits, so that a click on Train with it starts at once."""

from __future__ import annotations

import gc
import os
import queue
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from s2s.messages import (
    JobSettings,
    LiveWeights,
    StopTraining,
    TrainingDone,
    TrainingFailed,
    TrainingProgress,
    TrainingStarted,
    WorkerReady,
)


def failure_message(error: BaseException) -> str:
    """What the service is told of an error: the message alone for bad settings (ValueError), else its type too
    (with the traceback on this process's stderr)."""
    from s2s.worker import failure

    return failure(0, error).payload


JOBS_PER_PROCESS = 8  # then the process exits and a fresh one takes its place: its memory returns to the system
# A spare that has trained a job and waits this long for the next primes the default run again (~2 s of its
# niced CPU): a queued job, handed over at once, does not wait for that.
PRIME_AFTER_IDLE_SECONDS = 0.5


class Inbox:
    """The one reader of the connection: JobSettings are queued for the job loop; a StopTraining stops the job in
    progress, or the job whose settings have come but whose run is still being built (as soon as it is), and is
    ignored between jobs (no stop is sent for a job that has ended); the app closing its end is remembered
    (`closed`) and ends any job in progress, whose run nobody will use."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.closed = threading.Event()
        self._settings: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._trainer = None
        self._job_open = self._stop_pending = False
        threading.Thread(target=self._read, daemon=True, name="inbox").start()

    def _read(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                if isinstance(message, StopTraining):
                    self._stop()
                else:
                    with self._lock:
                        self._job_open, self._stop_pending = True, False
                    self._settings.put(message)
        except (EOFError, OSError):
            self.closed.set()
            self._stop()
            self._settings.put(None)

    def _stop(self) -> None:
        with self._lock:
            if self._trainer is not None:
                self._trainer.stop()
            elif self._job_open:
                self._stop_pending = True

    def next_settings(self, timeout: float | None = None) -> JobSettings | None | bool:
        """The next job's settings, or None once the app has closed the connection; False if `timeout` seconds
        passed without either."""
        try:
            return self._settings.get(timeout=timeout)
        except queue.Empty:
            return False

    def training(self, trainer) -> None:
        """The job in progress (a Trainer) that a StopTraining stops, or None when it has ended."""
        with self._lock:
            self._trainer = trainer
            if trainer is None:
                self._job_open = self._stop_pending = False
            elif self._stop_pending or self.closed.is_set():
                trainer.stop()


def train_job(conn: Connection, prime_default: bool, jobs: int = JOBS_PER_PROCESS) -> None:
    """Take up to `jobs` JobSettings one after another: for each, say WorkerReady, train it while sending progress
    and live weights, then send the saved model's files (TrainingDone) or the failure (TrainingFailed). A process
    that has trained a job starts the next at once (TensorFlow is imported, its graphs' code warm): the runner
    hands it the next job or closes the connection, and it exits. A spare (`prime_default`) builds and primes the
    default run while it waits for its first job, and again when it idles after one (PRIME_AFTER_IDLE_SECONDS)."""
    from s2s.config import APP_TRAIN, ModelConfig, ProblemConfig
    from s2s.train import Trainer

    default = JobSettings(ProblemConfig(), ModelConfig(), APP_TRAIN)

    def primed_default() -> Trainer:
        trainer = Trainer(default.problem, default.model, default.train)
        trainer.prime()
        return trainer

    primed = primed_default() if prime_default else None
    inbox = Inbox(conn)
    for _ in range(jobs):
        conn.send(WorkerReady(os.getpid()))
        settings = inbox.next_settings(timeout=PRIME_AFTER_IDLE_SECONDS if prime_default else None)
        if settings is False:  # idle after a job: prime the default run again, for the next click on Train
            primed = primed or primed_default()
            settings = inbox.next_settings()
        if settings is None:  # the app went away before handing this process a(nother) job
            return
        try:
            trainer = primed if primed is not None and settings == default else Trainer(
                settings.problem, settings.model, settings.train)
            primed = None  # a job with other settings frees the primed run
        except Exception as error:
            conn.send(TrainingFailed(failure_message(error)))
            return
        conn.send(TrainingStarted(trainer.total_samples))
        inbox.training(trainer)
        try:
            done = train_and_save(conn, trainer, inbox.closed)
        except Exception as error:
            conn.send(TrainingFailed(failure_message(error)))
            return
        finally:
            inbox.training(None)
        if done is None:
            return
        conn.send(done)
        del trainer, done
        gc.collect()  # the finished run's model and graphs, before the next job (Trainer leaves this to its caller)


def train_and_save(conn: Connection, trainer, abandoned: threading.Event) -> TrainingDone | None:
    """Run the trainer, sending TrainingProgress and LiveWeights as it goes; the TrainingDone to send at the end,
    or None when the app has gone (nobody will use the run: neither measure nor save it)."""
    from s2s.config import EVAL_N, EVAL_SEED
    from s2s.evaluate import evaluate

    sent = [len(trainer.history.loss), len(trainer.history.eval_exact)]  # already sent (a resumed run's: before)

    def on_progress(p) -> None:
        increment = p.history.increment(*sent)
        sent[:] = [len(p.history.loss), len(p.history.eval_exact)]
        conn.send(TrainingProgress.of(p, increment))

    def on_live(seen: int, weights: list) -> None:
        conn.send(LiveWeights(seen, [np.asarray(w, np.float32) for w in weights]))

    result = trainer.run(on_progress, progress_every=0.25, on_live=on_live)
    if abandoned.is_set():
        return None
    evaluation = files = None
    if result.history.loss:
        evaluation = evaluate(result.model, EVAL_N, EVAL_SEED)
        files = saved_files(result, evaluation)
    return TrainingDone(result.reason, result.elapsed, result.history.increment(*sent), result.exact_accuracy,
                        result.token_accuracy, evaluation.summary() if evaluation else None, files)


def saved_files(result, evaluation) -> dict[str, bytes]:
    """The run's model folder (model, card, timeline), saved in a private temporary folder, as name -> bytes: the
    service writes them where it keeps runs, which need not be on this machine."""
    from s2s import store

    with tempfile.TemporaryDirectory(prefix="s2s-job-") as private:
        folder = Path(private) / "run"
        notes = f"Trained in the app; {result.reason} after {result.history.samples[-1]:,} samples."
        store.save(result.model, folder, store.run_card(folder, result, evaluation, notes), result.timeline)
        return {path.name: path.read_bytes() for path in folder.iterdir()}
