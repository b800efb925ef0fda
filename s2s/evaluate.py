"""Batched evaluation: exact-sequence accuracy (all n_out tokens right), per-position and token accuracy,
confusion per output position, and the tutorial's spot check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from s2s.config import EVAL_N, EVAL_SEED
from s2s.data import random_sources, target_of
from s2s.decode import predict
from s2s.strategies import beam_search

if TYPE_CHECKING:  # only the model's methods are called here, so an Evaluation unpickles without TensorFlow
    from s2s.model import Seq2Seq


@dataclass
class Evaluation:
    n: int
    seed: int
    source: np.ndarray     # (n, n_in)
    target: np.ndarray     # (n, n_out)
    predicted: np.ndarray  # (n, n_out)

    @property
    def correct(self) -> np.ndarray:
        """(n,) True where the whole predicted sequence is right."""
        return (self.predicted == self.target).all(axis=1)

    @property
    def exact(self) -> float:
        return float(self.correct.mean()) if self.n else 0.0

    @property
    def per_position(self) -> np.ndarray:
        return (self.predicted == self.target).mean(axis=0)

    @property
    def token(self) -> float:
        return float((self.predicted == self.target).mean()) if self.n else 0.0

    def confusion(self, n_classes: int) -> np.ndarray:
        """(n_out, classes, classes): counts of [position, expected, predicted]."""
        n_out = self.target.shape[1]
        flat = (np.arange(n_out)[None, :] * n_classes + self.target) * n_classes + self.predicted
        return np.bincount(flat.ravel(), minlength=n_out * n_classes * n_classes).reshape(n_out, n_classes, n_classes)

    def error_rate_by_value(self, n_classes: int) -> np.ndarray:
        """(classes,): for each expected value, the fraction of its target positions predicted wrong (NaN if unseen)."""
        seen = np.bincount(self.target.ravel(), minlength=n_classes).astype(float)
        wrong = np.bincount(self.target[self.predicted != self.target], minlength=n_classes).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(seen > 0, wrong / seen, np.nan)

    def examples(self, k: int = 10) -> list[dict]:
        """The first k sequences as the tutorial's spot check prints them: source, expected, predicted, right."""
        return [{"source": s.tolist(), "expected": t.tolist(), "predicted": p.tolist(), "correct": bool(ok)}
                for s, t, p, ok in zip(self.source[:k], self.target[:k], self.predicted[:k], self.correct[:k])]

    def summary(self) -> dict:
        return {"n": self.n, "seed": self.seed, "exact_accuracy": self.exact, "token_accuracy": self.token,
                "per_position_accuracy": [float(v) for v in self.per_position]}


def evaluate(model: Seq2Seq, n: int = EVAL_N, seed: int = EVAL_SEED, feed: str = "argmax", batch_size: int = 8192,
             on_progress: Callable[[int, int], None] | None = None, beam_width: int | None = None,
             n_in: int | None = None) -> Evaluation:
    """Decode n seeded random sources in batches (greedily, or each one's best of a beam search of
    `beam_width`) and compare with their targets. `n_in` sets another source length than the training one."""
    if not 1 <= n <= 1_000_000:
        raise ValueError(f"The number of sequences to evaluate must be between 1 and 1,000,000, got {n:,}.")
    if beam_width is not None and feed != "argmax":
        raise ValueError("Beam search feeds back the tokens it chose: it has no softmax-feedback variant.")
    problem = model.problem.at_length(n_in)
    source = random_sources(problem, n, seed)
    predicted = np.empty((n, problem.n_out), np.int32)
    # A beam holds `beam_width` rows per source: smaller batches keep the memory of one step the same.
    step = batch_size if beam_width is None else max(1, batch_size // beam_width)
    for start in range(0, n, step):
        chunk = source[start:start + step]
        predicted[start:start + step] = (predict(model, chunk, feed, batch_size) if beam_width is None
                                         else beam_search(model, chunk, beam_width).best)
        if on_progress:
            on_progress(min(start + step, n), n)
    return Evaluation(n, seed, source, target_of(problem, source), predicted)


def spot_check(model: Seq2Seq, k: int = 10, seed: int = EVAL_SEED, feed: str = "argmax") -> list[dict]:
    """k examples as the tutorial prints them: source, expected, predicted, and whether it is right."""
    return evaluate(model, k, seed, feed).examples(k)
