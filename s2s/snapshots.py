"""A training run's timeline: the model's weights at log-spaced points of training, to replay how it learned.

A `Recorder` rides along a training run: it keeps a copy of the weights at about 40 log-spaced sample counts from
the first batch to the end (fewer when that would pass MAX_BYTES), plus the final weights. The `Timeline` it
gives is saved beside a model as `snapshots.npz`: plain NumPy arrays (float16 on disk unless asked otherwise),
read back with pickling off, so opening one never runs code. No TensorFlow here.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SNAPSHOT_FILE = "snapshots.npz"
FORMAT = "seq2seq-studio-snapshots/1"
DEFAULT_COUNT = 40
MAX_BYTES = 40 * 2**20  # the snapshots of one run, in memory (float32)
MAX_FILE_BYTES = 256 * 2**20  # a snapshots file larger than this is refused before it is read


class TimelineError(ValueError):
    """A snapshots file that cannot be used, with the file and the reason in the message."""


@dataclass
class Timeline:
    """Weights at K points of training: `samples[k]` samples seen, `weights[i][k]` the i-th weight array then."""

    samples: np.ndarray       # (K,) int64, strictly increasing
    weights: list[np.ndarray]  # one (K, *shape) array per weight of the model, in get_weights() order

    def __len__(self) -> int:
        return len(self.samples)

    def at(self, k: int) -> list[np.ndarray]:
        """The weights of snapshot k, as float32 arrays for set_weights()."""
        if not -len(self) <= k < len(self):
            raise ValueError(f"There is no snapshot {k}: this timeline has {len(self)} (0 to {len(self) - 1}).")
        return [np.asarray(w[k], np.float32) for w in self.weights]

    @property
    def nbytes(self) -> int:
        return int(sum(w.nbytes for w in self.weights) + self.samples.nbytes)

    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(w.shape[1:]) for w in self.weights]

    def check_fits(self, shapes: list[tuple[int, ...]], source: str = "the snapshots") -> None:
        """Raise TimelineError unless these are weights of a model with these weight shapes."""
        if self.shapes() != [tuple(s) for s in shapes]:
            raise TimelineError(f"{source}: the snapshots are of another model (weight shapes {self.shapes()}, "
                                f"the model's {[tuple(s) for s in shapes]}).")

    def save(self, path: str | Path, dtype=np.float16) -> Path:
        """Write the timeline to `path` (an .npz), on disk when this returns; float16 halves the size at ~3
        significant digits per weight."""
        arrays = {"format": np.array(FORMAT), "samples": self.samples.astype(np.int64)}
        arrays.update({f"w{i}": w.astype(dtype) for i, w in enumerate(self.weights)})
        path = Path(path)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        return path

    @classmethod
    def load(cls, path: str | Path, pause: Callable[[], None] | None = None) -> Timeline:
        """Read a snapshots file with pickling off; anything but a well-formed timeline raises TimelineError.
        `pause` is called after each weight array is read and checked (the model service answers the requests
        waiting there)."""
        path = Path(path)
        if not path.is_file():
            raise TimelineError(f"{path}: no such snapshots file.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TimelineError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_FILE_BYTES:,} a "
                                "snapshots file may have.")
        data_bytes = path.read_bytes()
        _check_members(path, data_bytes)
        try:
            with np.load(io.BytesIO(data_bytes), allow_pickle=False) as data:
                if "format" not in data or str(data["format"]) != FORMAT:
                    raise TimelineError(f"{path}: not a Seq2Seq Studio snapshots file (expected format {FORMAT!r}).")
                samples = data["samples"]
                names = sorted((k for k in data.files if k.startswith("w")), key=lambda k: int(k[1:]))
                weights = []
                for name in names:
                    weights.append(data[name])
                    if pause is not None:
                        pause()
        except TimelineError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
            raise TimelineError(f"{path}: not a readable snapshots file ({str(error)[:200] or type(error).__name__})."
                                ) from None
        count = len(samples) if samples.ndim == 1 else -1
        if count < 1 or not np.issubdtype(samples.dtype, np.integer) or (np.diff(samples) <= 0).any():
            raise TimelineError(f"{path}: the samples seen at each snapshot must be increasing whole numbers.")
        if not weights or names != [f"w{i}" for i in range(len(names))]:
            raise TimelineError(f"{path}: the weight arrays are missing or misnumbered.")
        for name, w in zip(names, weights):
            if w.ndim < 1 or w.shape[0] != count or not np.issubdtype(w.dtype, np.floating):
                raise TimelineError(f"{path}: {name} does not hold {count} snapshots of floating-point weights.")
            if not np.isfinite(w).all():
                raise TimelineError(f"{path}: {name} holds NaN or infinite weights.")
        return cls(samples.astype(np.int64), weights)


def _check_members(path: Path, data: bytes) -> None:
    """Refuse an npz whose arrays would take more memory than a timeline may (MAX_BYTES float32, plus room), from
    each array's header, before NumPy allocates what a header declares."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > 1000:
                raise TimelineError(f"{path}: {len(members):,} arrays, far more than a timeline holds.")
            total = 0
            for info in members:
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(f))
                total += int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1)
                if total > 2 * MAX_BYTES + 2**20:
                    raise TimelineError(f"{path}: its arrays declare more than the {2 * MAX_BYTES:,} bytes a "
                                        "timeline may hold; refused.")
    except TimelineError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise TimelineError(f"{path}: not a readable snapshots file ({str(error)[:200] or type(error).__name__}).") \
            from None


LIVE_SECONDS = 1.0  # a training job sends its live weights this often (Trainer.run's on_live)


def planned_count(parameters: int, count: int = DEFAULT_COUNT) -> int:
    """How many snapshots a run of a model with this many parameters keeps: `count` (0: none), fewer when their
    float32 copies would pass MAX_BYTES (never fewer than 2 when any: the first batch and the end)."""
    if count <= 0:
        return 0
    return max(2, min(count, MAX_BYTES // (4 * max(1, parameters))))


def snapshot_bytes(parameters: int, count: int = DEFAULT_COUNT) -> int:
    """Memory of one run's snapshots (float32, including the final weights)."""
    planned = planned_count(parameters, count)
    return 4 * parameters * (planned + 1) if planned else 0


class Recorder:
    """Decides when a training run takes a snapshot and keeps them: at log-spaced sample counts from the first
    batch (`batch_size` samples) to `total_samples`, then the final weights (at whatever point the run ended)."""

    def __init__(self, total_samples: int, batch_size: int, parameters: int, count: int = DEFAULT_COUNT):
        self.enabled = count > 0
        planned = planned_count(parameters, count) if self.enabled else 1
        first = min(batch_size, total_samples)
        self.thresholds = np.unique(np.geomspace(first, max(first, total_samples), planned).round().astype(np.int64))
        self.next = 0
        self.samples: list[int] = []
        self.kept: list[list[np.ndarray]] = []

    def due(self, seen: int) -> bool:
        return self.enabled and self.next < len(self.thresholds) and seen >= self.thresholds[self.next]

    def record(self, seen: int, weights: list[np.ndarray]) -> None:
        """Keep a copy of `weights` as the snapshot at `seen` samples (at most one per sample count)."""
        if not self.enabled:
            return
        while self.next < len(self.thresholds) and seen >= self.thresholds[self.next]:
            self.next += 1
        if self.samples and self.samples[-1] == seen:
            return
        self.samples.append(int(seen))
        self.kept.append([np.array(w, np.float32, copy=True) for w in weights])

    def timeline(self) -> Timeline | None:
        if not self.samples:
            return None
        return Timeline(np.asarray(self.samples, np.int64),
                        [np.stack([snapshot[i] for snapshot in self.kept]) for i in range(len(self.kept[0]))])
