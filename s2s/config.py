"""Typed settings for the problem, the model and training, validated with messages a user understands.

Nothing here touches TensorFlow: the UI and the CLI validate a config before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

# Limits that keep a request sane on a laptop; they are checked, never silently clipped.
MAX_CARDINALITY = 1000
MAX_LENGTH = 100
MAX_UNITS = 1024
MAX_SAMPLES = 5_000_000
MAX_EPOCHS = 1000
# A training set (source + decoder input + target as int32) larger than this is refused.
MEMORY_BUDGET_BYTES = 512 * 1024 * 1024
SCHEDULES = ("constant", "cosine")
# What the target is, for a source x_1..x_n (n = n_in) and k = n_out. Every task's target is a function of the
# source alone; s2s.data.target_of computes it.
TASKS = {
    "reverse-prefix": "the first k values, reversed: x_k .. x_1 (the tutorial's problem)",
    "copy-prefix": "the first k values, in order: x_1 .. x_k",
    "reverse-all": "the whole source, reversed: x_n .. x_1 (k must equal n)",
    "sort-prefix": "the first k values, sorted ascending (ties kept)",
}
DEFAULT_TASK = "reverse-prefix"
# How a model's accuracy is reported unless asked otherwise: exact accuracy on this many seeded random sequences
# (the final evaluation of a run, the CLI's evaluate, the Evaluate page, the replay of a timeline).
EVAL_N = 1000
EVAL_SEED = 7


@dataclass(frozen=True)
class ProblemConfig:
    """The scalable integer sequence problem: n_in values from 1..cardinality; the target, n_out values, is set by
    the task (TASKS; by default the first n_out reversed)."""

    cardinality: int = 50
    n_in: int = 6
    n_out: int = 3
    task: str = DEFAULT_TASK

    def __post_init__(self):
        _check_int("cardinality", self.cardinality, 2, MAX_CARDINALITY,
                   "the number of distinct source values (token 0 is reserved for the start symbol)")
        _check_int("n_in", self.n_in, 1, MAX_LENGTH, "the source length")
        _check_int("n_out", self.n_out, 1, MAX_LENGTH, "the target length")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}.")
        if self.n_out > self.n_in:
            raise ValueError(
                f"n_out ({self.n_out}) cannot be larger than n_in ({self.n_in}): "
                "the target is made of the first n_out source values."
            )
        if self.task == "reverse-all" and self.n_out != self.n_in:
            raise ValueError(f"The task reverse-all outputs the whole source reversed: n_out must equal n_in "
                             f"({self.n_in}), got {self.n_out}.")

    @property
    def n_classes(self) -> int:
        """Output classes: the values 1..cardinality plus the reserved start token 0."""
        return self.cardinality + 1

    @property
    def shortest_source(self) -> int:
        """The fewest source values a model of this problem can decode: its output reads the first n_out of them
        (reverse-all reads them all, so any length from 1)."""
        return 1 if self.task == "reverse-all" else self.n_out

    def steps_for(self, length: int) -> int:
        """Decoder steps for a source of `length` values: n_out, or `length` itself for reverse-all."""
        return length if self.task == "reverse-all" else self.n_out

    def copied_position(self, step: int, length: int | None = None) -> int | None:
        """The source position (from 0) that output `step` copies under the task, for a source of `length`
        values (default n_in); None for sort-prefix, where it depends on the values."""
        length = self.n_in if length is None else length
        return {"reverse-prefix": self.n_out - 1 - step, "copy-prefix": step,
                "reverse-all": length - 1 - step}.get(self.task)

    def at_length(self, n_in: int | None) -> "ProblemConfig":
        """The same values and task on sources of `n_in` values (None: this problem), as a length-generalization
        probe reads them; ValueError for a length this problem's models cannot decode."""
        if n_in is None or n_in == self.n_in:
            return self
        if not self.shortest_source <= n_in <= MAX_LENGTH:
            raise ValueError(f"The source length must be between {self.shortest_source} and {MAX_LENGTH} for this "
                             f"model (its output reads the first {self.n_out} values), got {n_in}.")
        return dataclasses.replace(self, n_in=n_in, n_out=self.steps_for(n_in))


MAX_LAYERS = 4


@dataclass(frozen=True)
class ModelConfig:
    """The encoder-decoder LSTM: `layers` LSTMs of `units` stacked on each side (1: the classic recipe), with or
    without dot-product attention of the decoder over the encoder's outputs."""

    units: int = 128
    layers: int = 1
    attention: bool = False

    def __post_init__(self):
        _check_int("units", self.units, 1, MAX_UNITS, "the LSTM size")
        _check_int("layers", self.layers, 1, MAX_LAYERS, "the LSTM layers on each side")
        if not isinstance(self.attention, bool):
            raise ValueError(f"attention must be true or false, got {self.attention!r}.")


@dataclass(frozen=True)
class TrainConfig:
    """How to fit. The defaults are the fast settings measured by `python -m s2s bench`;
    `PRESETS["classic"]` is the tutorial's own (100,000 samples, one epoch, batch 32, Adam 0.001)."""

    samples: int = 100_000
    epochs: int = 1
    batch_size: int = 128
    learning_rate: float = 0.03
    seed: int = 1
    target_accuracy: float | None = None
    schedule: str = "cosine"  # decay the learning rate to 0 over all the samples, or "constant"
    eval_size: int = 1000
    eval_every: int = 5_000  # samples between two held-out exact-accuracy measurements (a target is seen there)
    snapshots: int = 40       # copies of the weights kept along the run (s2s/snapshots.py); 0: none

    def __post_init__(self):
        _check_int("samples", self.samples, 1, MAX_SAMPLES, "the number of training sequences")
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS, "the number of passes over the training set")
        _check_int("batch_size", self.batch_size, 1, 65536, "the batch size")
        _check_int("seed", self.seed, 0, 2**31 - 1, "the random seed")
        _check_int("eval_size", self.eval_size, 1, 100_000, "the held-out set size")
        _check_int("eval_every", self.eval_every, 1, MAX_SAMPLES, "the samples between evaluations")
        _check_int("snapshots", self.snapshots, 0, 200, "the number of training snapshots")
        if not isinstance(self.learning_rate, numbers.Real) or isinstance(self.learning_rate, bool) \
                or not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be a number in (0, 1], got {self.learning_rate!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")
        if self.target_accuracy is not None and (
            not isinstance(self.target_accuracy, numbers.Real) or not 0 < self.target_accuracy <= 1
        ):
            raise ValueError(
                f"target_accuracy must be a fraction in (0, 1] (e.g. 0.99 for 99 %), got {self.target_accuracy!r}."
            )

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def training_set_bytes(problem: ProblemConfig, samples: int) -> int:
    """Bytes of the int32 training arrays: source, decoder input and target."""
    return 4 * samples * (problem.n_in + 2 * problem.n_out)


def check_fits_memory(problem: ProblemConfig, train: TrainConfig) -> None:
    """Refuse a training set over MEMORY_BUDGET_BYTES before anything is allocated."""
    needed = training_set_bytes(problem, train.samples)
    if needed > MEMORY_BUDGET_BYTES:
        raise ValueError(
            f"The training set would take {needed / 2**20:,.0f} MiB, over the "
            f"{MEMORY_BUDGET_BYTES / 2**20:,.0f} MiB budget: use fewer samples."
        )


def count_parameters(problem: ProblemConfig, model: ModelConfig) -> int:
    """Trainable parameters, computed without building the model (same figure as Keras's count)."""
    c, u = problem.n_classes, model.units
    first, stacked = 4 * u * (c + u + 1), 4 * u * (2 * u + 1)  # an LSTM reading one-hots, and one above another
    attention = (2 * u * u + u) if model.attention else 0     # tanh(W [context; s]): 2u -> u
    return 2 * (first + (model.layers - 1) * stacked) + attention + u * c + c


def _check_int(name: str, value, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} ({what}) must be a whole number, got {value!r}.")
    if not low <= value <= high:
        raise ValueError(f"{name} ({what}) must be between {low:,} and {high:,}, got {value:,}.")


PRESETS: dict[str, TrainConfig] = {
    "classic": TrainConfig(samples=100_000, epochs=1, batch_size=32, learning_rate=0.001, schedule="constant"),
}
# The Train page's default run, the one a model service's spare training process primes ahead of a click: the fast
# settings, stopping as soon as the held-out exact accuracy reaches 99 % (a demo's Train button: seconds).
APP_TRAIN = TrainConfig(target_accuracy=0.99)
