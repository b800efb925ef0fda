"""Replaying training: how a model's answers formed, from the snapshots of its timeline (s2s/snapshots.py).

Each function sets a model's weights to one snapshot after another, so it is given a scratch copy of the model
(the model service keeps one per model, apart from the copy that serves final-weight decodes). Only the model's
methods are called here, so the results unpickle without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from s2s.config import EVAL_N, EVAL_SEED
from s2s.data import random_sources, target_of
from s2s.decode import as_batch, decode, predict
from s2s.snapshots import Timeline

if TYPE_CHECKING:
    from s2s.model import Seq2Seq
    from s2s.numpy_model import NumpySeq2Seq


def use_snapshot(model: Seq2Seq | NumpySeq2Seq, timeline: Timeline, k: int) -> None:
    """Give `model` the weights of snapshot k."""
    model.set_weights(timeline.at(k))


@dataclass
class LearningCurve:
    """One source decoded at every snapshot: what the model gave its expected tokens as training went on."""

    feed: str
    source: np.ndarray         # (n_in,)
    expected: np.ndarray       # (n_out,)
    samples: np.ndarray        # (K,) samples seen at each snapshot
    expected_prob: np.ndarray  # (K, n_out): the probability of the expected token at each step
    tokens: np.ndarray         # (K, n_out): the token chosen at each step

    @property
    def correct(self) -> np.ndarray:
        """(K,): whether the whole output was right at each snapshot."""
        return (self.tokens == self.expected).all(axis=1)

    @property
    def learned_at(self) -> int | None:
        """The first snapshot from which the whole source decodes right at every later snapshot, or None."""
        wrong = np.flatnonzero(~self.correct)
        k = 0 if len(wrong) == 0 else int(wrong[-1]) + 1
        return k if k < len(self.samples) else None


Progress = Callable[[int, int], None] | None  # (snapshots done, snapshots in all), after each snapshot


def learning_curve(model: Seq2Seq, timeline: Timeline, source, feed: str = "argmax",
                   on_progress: Progress = None) -> LearningCurve:
    """Decode `source` at every snapshot of `timeline` (with the model's own choices fed back)."""
    source = as_batch(model, source)
    if source.shape[0] != 1:
        raise ValueError("A learning curve follows one source.")
    expected = target_of(model.problem, source)[0]
    probs, tokens = [], []
    for k in range(len(timeline)):
        use_snapshot(model, timeline, k)
        trace = decode(model, source, feed)
        probs.append(trace.probs[0, np.arange(len(expected)), expected])
        tokens.append(trace.tokens[0])
        if on_progress:
            on_progress(k + 1, len(timeline))
    return LearningCurve(feed, source[0], expected, timeline.samples.copy(), np.stack(probs), np.stack(tokens))


@dataclass
class AccuracyOverTraining:
    """Held-out accuracy at every snapshot: per output step and for the whole sequence."""

    feed: str
    n: int
    seed: int
    samples: np.ndarray       # (K,)
    per_position: np.ndarray  # (K, n_out)
    exact: np.ndarray         # (K,)

    def first_above(self, threshold: float) -> list[int | None]:
        """Per output step, the samples seen at the first snapshot whose accuracy exceeds `threshold`."""
        out = []
        for step in range(self.per_position.shape[1]):
            above = np.flatnonzero(self.per_position[:, step] > threshold)
            out.append(int(self.samples[above[0]]) if len(above) else None)
        return out


def accuracy_over_training(model: Seq2Seq, timeline: Timeline, n: int = EVAL_N, seed: int = EVAL_SEED,
                           feed: str = "argmax", on_progress: Progress = None) -> AccuracyOverTraining:
    """Decode n seeded random sequences at every snapshot and score each output step and the whole output."""
    if not 1 <= n <= 100_000:
        raise ValueError(f"The number of sequences must be between 1 and 100,000, got {n:,}.")
    source = random_sources(model.problem, n, seed)
    target = target_of(model.problem, source)
    per_position, exact = [], []
    for k in range(len(timeline)):
        use_snapshot(model, timeline, k)
        right = predict(model, source, feed) == target
        per_position.append(right.mean(axis=0))
        exact.append(right.all(axis=1).mean())
        if on_progress:
            on_progress(k + 1, len(timeline))
    return AccuracyOverTraining(feed, n, seed, timeline.samples.copy(), np.stack(per_position), np.asarray(exact))
