"""Sweeps: one run's settings, trained over a grid of one or two settings (up to MAX_CELLS runs). This module only
plans a sweep and tabulates its results, without TensorFlow: the CLI (`python -m s2s sweep`) trains the cells one
after the other, the app submits them as ordinary jobs. A cell trains exactly what a run started alone with its
settings trains."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import asdict, dataclass, replace

from s2s.config import TASKS, ModelConfig, ProblemConfig, TrainConfig, check_fits_memory
from s2s.messages import JobSettings

MAX_CELLS = 64
MAX_AXES = 2


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"“{text[:20]}” is not true or false")


def _task(text: str) -> str:
    if text not in TASKS:
        raise ValueError(f"“{text[:30]}” is not a task ({', '.join(TASKS)})")
    return text


def _int(text: str) -> int:
    if not text.strip().lstrip("-").isdecimal():
        raise ValueError(f"“{text[:20]}” is not a whole number")
    return int(text)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"“{text[:20]}” is not a number") from None


# The settings a sweep can vary: name -> (part of JobSettings, field, parser of one value).
SETTINGS = {
    "units": ("model", "units", _int),
    "layers": ("model", "layers", _int),
    "attention": ("model", "attention", _bool),
    "task": ("problem", "task", _task),
    "cardinality": ("problem", "cardinality", _int),
    "n_in": ("problem", "n_in", _int),
    "n_out": ("problem", "n_out", _int),
    "learning_rate": ("train", "learning_rate", _float),
    "batch_size": ("train", "batch_size", _int),
    "samples": ("train", "samples", _int),
    "seed": ("train", "seed", _int),
}
ALIASES = {"lr": "learning_rate", "n-in": "n_in", "n-out": "n_out", "batch-size": "batch_size",
           "source_length": "n_in", "target_length": "n_out"}


@dataclass(frozen=True)
class Axis:
    """One setting varied over listed values."""

    name: str
    values: tuple

    def label(self, value) -> str:
        return f"{self.name}={value}"


def parse_axis(text: str) -> Axis:
    """`units=16,32,64` -> Axis("units", (16, 32, 64)); ValueError naming what is wrong."""
    name, equals, listed = text.partition("=")
    name = ALIASES.get(name.strip(), name.strip())
    if not equals:
        raise ValueError(f"--vary takes SETTING=V1,V2,…, e.g. units=16,32,64; got “{text[:40]}”.")
    if name not in SETTINGS:
        raise ValueError(f"“{name[:30]}” cannot be varied; a sweep varies one of {', '.join(SETTINGS)}.")
    parse = SETTINGS[name][2]
    try:
        values = tuple(parse(part.strip()) for part in listed.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"--vary {name}: {error}.") from None
    if not values:
        raise ValueError(f"--vary {name}: no values listed.")
    if len(set(values)) != len(values):
        raise ValueError(f"--vary {name}: a value is listed twice.")
    return Axis(name, values)


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its place on the axes (one value per axis) and its settings."""

    index: int
    coords: tuple
    settings: JobSettings

    def label(self, axes: list[Axis]) -> str:
        return ", ".join(axis.label(value) for axis, value in zip(axes, self.coords))


def with_setting(settings: JobSettings, name: str, value) -> JobSettings:
    """`settings` with setting `name` set to `value` (the configs' own checks run: ValueError)."""
    part, field, _ = SETTINGS[name]
    changed = replace(getattr(settings, part), **{field: value})
    return replace(settings, **{part: changed})


def plan(base: JobSettings, axes: list[Axis]) -> list[Cell]:
    """The cells of a sweep over `axes` (one or two) around `base`, in row-major order. ValueError for a sweep
    that cannot run, naming the first impossible cell."""
    if not 1 <= len(axes) <= MAX_AXES:
        raise ValueError(f"A sweep varies one or two settings, not {len(axes)}.")
    if len({axis.name for axis in axes}) != len(axes):
        raise ValueError(f"{axes[0].name} is varied twice.")
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_CELLS:
        raise ValueError(f"A sweep has at most {MAX_CELLS} runs; this one would have {count:,}.")
    cells = []
    for index, coords in enumerate(itertools.product(*(axis.values for axis in axes))):
        settings = base
        try:
            for axis, value in zip(axes, coords):
                settings = with_setting(settings, axis.name, value)
            _check(settings)
        except ValueError as error:
            label = ", ".join(axis.label(value) for axis, value in zip(axes, coords))
            raise ValueError(f"The run {label} cannot train: {error}") from None
        cells.append(Cell(index, coords, settings))
    return cells


def _check(settings: JobSettings) -> None:
    """Run the configs' checks again on the combination (a replace() of one field checks its own part only), and
    the memory its training set needs."""
    problem = ProblemConfig(**asdict(settings.problem))
    ModelConfig(**asdict(settings.model))
    check_fits_memory(problem, TrainConfig(**asdict(settings.train)))


@dataclass(frozen=True)
class CellResult:
    """What one cell's run measured."""

    cell: Cell
    exact: float                      # held-out exact accuracy of its final model
    samples: int                      # samples it trained on
    seconds: float                    # its training time
    reason: str                       # "completed", "target reached" or "stopped"
    to_target: int | None = None      # samples where it reached the target and stopped (see samples_to)
    eval_samples: tuple[int, ...] = ()
    eval_exact: tuple[float, ...] = ()
    model: str = ""                   # where its model is: a folder, or the app's run


def samples_to(target: float | None, reason: str, samples: int) -> int | None:
    """Samples seen when the run reached `target` and stopped there (None without a target, or for a run that ended
    otherwise). A held-out figure at the target is not enough: the trainer stops once a larger pooled set confirms
    it (s2s/train.py, CONFIRM_FACTOR), and a run never confirmed never reached it."""
    if target is None or reason != "target reached":
        return None
    return int(samples)


def rows(axes: list[Axis], results: list[CellResult]) -> list[dict]:
    """The sweep as a table: one row per run, its varied settings first, then every setting and its figures."""
    table = []
    for result in results:
        settings = result.cell.settings
        row = {axis.name: value for axis, value in zip(axes, result.cell.coords)}
        row.update({"exact_accuracy": round(result.exact, 6), "samples_to_target": result.to_target,
                    "samples": result.samples, "seconds": round(result.seconds, 3), "reason": result.reason,
                    **{f"problem.{k}": v for k, v in asdict(settings.problem).items()},
                    **{f"model.{k}": v for k, v in asdict(settings.model).items()},
                    **{f"train.{k}": v for k, v in asdict(settings.train).items()},
                    "model": result.model})
        table.append(row)
    return table


def to_csv(table: list[dict]) -> str:
    if not table:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue()


def grid_of(axes: list[Axis], results: list[CellResult], figure: str = "exact") -> list[list[float | None]]:
    """A figure of every cell on the axes' grid (rows: the first axis; columns: the second, or one column), None
    where a cell has no result yet (or, for `to_target`, never reached it)."""
    shape = [len(axis.values) for axis in axes] + ([1] if len(axes) == 1 else [])
    grid: list[list[float | None]] = [[None] * shape[1] for _ in range(shape[0])]
    for result in results:
        i = axes[0].values.index(result.cell.coords[0])
        j = axes[1].values.index(result.cell.coords[1]) if len(axes) == 2 else 0
        grid[i][j] = getattr(result, figure)
    return grid
