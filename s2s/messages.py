"""The messages that cross process boundaries, in one place: what the service sends its workers and what they send
back. Each is a plain dataclass of built-in types, NumPy arrays and the configs of s2s.config, so it pickles
without TensorFlow and a runner on another machine can carry it as it is. Nothing a worker sends goes through a
file: the service holds what it needs (the latest live weights of a run, its finished model's bytes).

Any worker, first: `WorkerReady` (TensorFlow imported; in a spare training process, the default run primed).

Training (the service's runner <-> a training job):
- in: `JobSettings` (the run's problem, model and training settings), then at most one `StopTraining`.
- out: `TrainingStarted`, then `TrainingProgress` (at most every progress interval; its `increment` extends the
  service's copy of the run's History) and `LiveWeights` (the newest weights, every snapshots.LIVE_SECONDS), and
  finally one `TrainingDone` (with the finished model's files as bytes) or `TrainingFailed`.

Inference (the service <-> the inference worker): `InferenceRequest` (an op name and its arguments; the worker's op
table in s2s/worker.py lists the ops) and `InferenceReply` ("progress", then one of "ok", "refused", "error").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from s2s.config import ModelConfig, ProblemConfig, TrainConfig


@dataclass(frozen=True)
class WorkerReady:
    """A worker's first message: it can take requests (or a job) now."""

    pid: int


# --- training --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningOn:
    """Where a job trains, when the runner is a cluster's (the Train page shows it)."""

    node: str


@dataclass(frozen=True)
class Resumed:
    """A run whose node died goes on from its latest weights (`samples` seen) on another node: what it recorded
    after that point is dropped, and the history says where it resumed."""

    node: str
    samples: int
    lost_node: str
    reason: str


@dataclass(frozen=True)
class JobSettings:
    """What a training job trains: the service hands it to the runner, the runner to the job."""

    problem: ProblemConfig
    model: ModelConfig
    train: TrainConfig


@dataclass(frozen=True)
class StopTraining:
    """End after the batch in progress, then measure and send the model trained so far."""


@dataclass(frozen=True)
class TrainingStarted:
    """The job has built its run and begins training."""

    total_samples: int


@dataclass(frozen=True)
class TrainingProgress:
    """A run's state at its latest report, as the pages read it; an empty one before its first batch."""

    samples_seen: int = 0
    total_samples: int = 0
    loss: float | None = None
    token_accuracy: float | None = None
    exact_accuracy: float | None = None   # the latest held-out measurement
    elapsed: float = 0.0
    samples_per_second: float | None = None
    eta_seconds: float | None = None
    live_samples: int | None = None       # samples seen at the newest live weights the run sent
    increment: dict = field(default_factory=dict, compare=False, repr=False)  # History.increment since the last

    @classmethod
    def of(cls, progress, increment: dict) -> "TrainingProgress":
        """From the trainer's in-process history.Progress and the history added since the last report."""
        return cls(progress.samples_seen, progress.total_samples, progress.loss, progress.token_accuracy,
                   progress.exact_accuracy, progress.elapsed, progress.samples_per_second, progress.eta_seconds,
                   progress.live_samples, increment)


@dataclass(frozen=True)
class LiveWeights:
    """A run's newest weights while it trains (the training network's arrays, in Keras's order), so a page can
    decode with them."""

    samples_seen: int
    weights: list[np.ndarray] = field(repr=False)

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.weights)


@dataclass(frozen=True)
class TrainingDone:
    """A run that ended with its measurements and, when it finished a batch, its saved model: the files of the
    model folder (store.MODEL_FILE, store.CARD_FILE and maybe store.SNAPSHOT_FILE) by name, as bytes."""

    reason: str               # "completed", "target reached" or "stopped"
    elapsed: float
    increment: dict           # History.increment since the last TrainingProgress
    exact_accuracy: float
    token_accuracy: float
    evaluation: dict | None   # Evaluation.summary() of the saved model; None without a model
    model_files: dict[str, bytes] | None = field(default=None, repr=False)  # None: stopped before its first batch


@dataclass(frozen=True)
class TrainingFailed:
    """A run that could not train (bad settings, an error while training); the message says why."""

    message: str


# --- inference -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InferenceRequest:
    """One request to the inference worker: `op` names an entry of its op table, `args` its keyword arguments."""

    id: int
    op: str
    args: dict


@dataclass(frozen=True)
class InferenceReply:
    """The worker's answer to request `id`: any number of "progress" (payload (done, total)), then one "ok"
    (payload: the result), "refused" (payload: a message for the user: bad input or an unusable model) or
    "error" (payload: a message: the worker failed)."""

    id: int
    kind: str
    payload: object = None
