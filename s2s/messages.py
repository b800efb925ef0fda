"""The messages that cross process boundaries, in one place: what the service sends its workers and what they send
back. Each is a plain dataclass of built-in types and NumPy arrays, so it pickles without TensorFlow and a runner
on another machine can carry it as it is.

Training (the service's runner <-> a training job):
- `JobSettings` in: the run's problem, model and training settings.
- `TrainingStarted`, then `TrainingProgress` (at most every progress interval; its `increment` extends the
  service's copy of the run's History), `LiveWeights` (the newest weights, every few seconds), and finally one
  `TrainingDone` (with the finished model's files) or `TrainingFailed`.
- "stop" (a str) from the service: end after the batch in progress and keep the model.

Inference (the service <-> the inference worker): `InferenceRequest` (an op name and its arguments) and
`InferenceReply` ("progress" | "ok" | "error" and its payload). The worker's op table (s2s/worker.py) lists the ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
