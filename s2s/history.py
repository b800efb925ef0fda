"""What a training run measured, as plain lists: no TensorFlow here, so the web server's process can hold a
run's curves while the run itself trains in a worker process. Increments carry a live history across processes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PER_BATCH = ("samples", "loss", "token_accuracy", "seconds")
PER_EVALUATION = ("eval_samples", "eval_exact", "eval_token")


@dataclass
class History:
    """Everything a training run measured, appended as it happens."""

    batch_size: int
    samples: list[int] = field(default_factory=list)          # samples seen after each batch
    loss: list[float] = field(default_factory=list)           # that batch's loss
    token_accuracy: list[float] = field(default_factory=list)  # that batch's token accuracy
    seconds: list[float] = field(default_factory=list)        # wall time since the start, after each batch
    eval_samples: list[int] = field(default_factory=list)     # samples seen at each held-out evaluation
    eval_exact: list[float] = field(default_factory=list)     # held-out exact-sequence accuracy there
    eval_token: list[float] = field(default_factory=list)     # held-out token accuracy there

    def downsampled(self, max_points: int = 300) -> dict:
        """A JSON-ready copy with at most max_points per-batch points (bucket means), evaluations kept whole.
        Charts draw from this too, so a redraw costs the same after 3,000 batches as after 300."""
        # Lengths first: another thread may be appending, and every per-batch list must be cut at the same batch.
        n, m = len(self.loss), len(self.eval_exact)
        out = {"batch_size": self.batch_size}
        out.update({name: getattr(self, name)[:n] for name in PER_BATCH})
        out.update({name: getattr(self, name)[:m] for name in PER_EVALUATION})
        if n > max_points:
            edges = np.linspace(0, n, max_points + 1).astype(int)
            sizes, last = np.diff(edges), edges[1:] - 1
            for key in ("loss", "token_accuracy"):
                out[key] = (np.add.reduceat(np.asarray(out[key]), edges[:-1]) / sizes).tolist()
            out["samples"] = np.asarray(out["samples"])[last].tolist()
            out["seconds"] = np.round(np.asarray(out["seconds"])[last], 3).tolist()
        return out

    def increment(self, batches: int, evaluations: int) -> dict:
        """What was appended after the first `batches` batches and `evaluations` evaluations (see `extend`)."""
        out = {name: getattr(self, name)[batches:] for name in PER_BATCH}
        out.update({name: getattr(self, name)[evaluations:] for name in PER_EVALUATION})
        return out

    def up_to(self, samples: int) -> "History":
        """A copy of this history as it was when `samples` samples had been seen (a resumed run goes on from it)."""
        batches = sum(1 for seen in self.samples if seen <= samples)
        evaluations = sum(1 for seen in self.eval_samples if seen <= samples)
        copy = History(batch_size=self.batch_size)
        copy.extend({**{name: getattr(self, name)[:batches] for name in PER_BATCH},
                     **{name: getattr(self, name)[:evaluations] for name in PER_EVALUATION}})
        return copy

    def cut_at(self, samples: int) -> None:
        """Drop what was recorded after `samples` samples (in place: pages hold this object)."""
        batches = sum(1 for seen in self.samples if seen <= samples)
        evaluations = sum(1 for seen in self.eval_samples if seen <= samples)
        for name in PER_BATCH:
            del getattr(self, name)[batches:]
        for name in PER_EVALUATION:
            del getattr(self, name)[evaluations:]

    def extend(self, increment: dict) -> None:
        """Append an `increment()` of another copy of this history (the one training in a worker)."""
        # `downsampled` reads the lengths of eval_exact and loss, then cuts the other lists there: while another
        # thread reads, those two are extended last, so every list is at least as long as they say.
        for name in ("eval_samples", "eval_token", "eval_exact", "samples", "token_accuracy", "seconds", "loss"):
            getattr(self, name).extend(increment[name])


@dataclass
class Progress:
    """What subscribers receive, at most every `progress_every` seconds and at each evaluation."""

    samples_seen: int
    total_samples: int
    loss: float
    token_accuracy: float
    exact_accuracy: float | None  # the latest held-out measurement
    elapsed: float
    samples_per_second: float
    eta_seconds: float | None
    history: History
    done: bool = False
    live_samples: int | None = None  # samples seen at the newest live weights sent (Trainer.run's on_live)
