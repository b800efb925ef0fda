"""One training job, the process `python -m s2s.worker train|spare FD` runs (s2s/worker.py is its entry): it waits for
one JobSettings, trains it while sending TrainingProgress and LiveWeights, then sends the saved model's files as bytes
in TrainingDone (or TrainingFailed) and returns, so that its process exits and its memory returns to the operating
system. A spare builds and primes the default run while it waits, so that a click on Train with it starts at once."""

from __future__ import annotations

import os
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


def train_job(conn: Connection, prime_default: bool) -> None:
    """Wait for one JobSettings, train it while sending progress and live weights, then send the saved model's
    files and return (and exit). A spare (`prime_default`) builds and primes the default run while it waits."""
    from s2s.config import ModelConfig, ProblemConfig, TrainConfig
    from s2s.train import Trainer

    default = JobSettings(ProblemConfig(), ModelConfig(), TrainConfig())
    primed = None
    if prime_default:
        primed = Trainer(default.problem, default.model, default.train)
        primed.prime()
    conn.send(WorkerReady(os.getpid()))
    try:
        settings: JobSettings = conn.recv()
    except EOFError:  # the app went away before handing this process a job
        return
    try:
        same = primed is not None and settings == default
        trainer = primed if same else Trainer(settings.problem, settings.model, settings.train)
        del primed  # a job with other settings frees the primed run
    except Exception as error:
        conn.send(TrainingFailed(failure_message(error)))
        return
    conn.send(TrainingStarted(trainer.total_samples))
    abandoned = listen_for_stop(conn, trainer)
    try:
        done = train_and_save(conn, trainer, abandoned)
    except Exception as error:
        conn.send(TrainingFailed(failure_message(error)))
        return
    if done is not None:
        conn.send(done)


def listen_for_stop(conn: Connection, trainer) -> threading.Event:
    """Stop the trainer at a StopTraining, or when the app closes the connection (then the returned event is
    set: nobody will use the run)."""
    abandoned = threading.Event()

    def listen() -> None:
        try:
            while not isinstance(conn.recv(), StopTraining):
                pass
        except (EOFError, OSError):
            abandoned.set()
        trainer.stop()
    threading.Thread(target=listen, daemon=True, name="stop-listener").start()
    return abandoned


def train_and_save(conn: Connection, trainer, abandoned: threading.Event) -> TrainingDone | None:
    """Run the trainer, sending TrainingProgress and LiveWeights as it goes; the TrainingDone to send at the end,
    or None when the app has gone (nobody will use the run: neither measure nor save it)."""
    from s2s.config import EVAL_N, EVAL_SEED
    from s2s.evaluate import evaluate

    sent = [0, 0]  # batches and evaluations already sent

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
