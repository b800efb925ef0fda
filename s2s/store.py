"""Save, load and list models as folders of `model.keras` plus a JSON model card; atomic writes, safe-mode loads.

A folder is `<root>/<name>/` with a name of letters, digits, '-' and '_'. A missing, corrupt or foreign
file raises ModelFileError naming the file and the problem; nothing here ever loads with safe_mode off.
Listing, reading and building cards, and publishing a saved folder under a new name, need no TensorFlow (the
web server's process does them); `load` and `save` import it when called. The cards themselves are s2s/cards.py's,
the reading of a `model.keras` as data s2s/model_file.py's; their names are re-exported here (store.read_card...).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from s2s import snapshots
from s2s.cards import (  # noqa: F401 - the card functions, re-exported: callers use store.read_card etc.
    CARD_FILE, CARD_FORMAT, PROJECT, command_path, evaluate_command, locate_card, make_card, parse_card, read_card, run_card,
    summary, train_command, versions)
from s2s.config import ModelConfig, ProblemConfig
from s2s.model_file import KERAS_MEMBERS, ModelFileError, inspect_model_file  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from s2s.model import Seq2Seq

MODEL_FILE = "model.keras"
SNAPSHOT_FILE = snapshots.SNAPSHOT_FILE
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_ROOT = PROJECT / "pretrained"  # the shipped models: read-only to the app


def saved_root() -> Path:
    """Where the app saves models (never into pretrained/): S2S_MODELS_DIR, else the user's data folder,
    $XDG_DATA_HOME/seq2seq-studio/models (~/.local/share/seq2seq-studio/models), outside any git checkout."""
    configured = os.environ.get("S2S_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "seq2seq-studio" / "models"


@dataclass
class LoadedModel:
    name: str
    path: Path
    model: Seq2Seq
    card: dict


@dataclass
class Entry:
    """One folder of a model root, usable or not."""

    name: str
    path: Path
    card: dict | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"Invalid model name {name!r}: use 1 to 64 letters, digits, '-' or '_' (no spaces, dots or slashes)."
        )
    return name


def check_destination(directory: str | Path) -> None:
    """Raise ValueError (a bad name) or OSError (naming the problem) when a model could not be saved as the folder
    `directory`: checked before a long training run rather than after it."""
    directory = Path(directory)
    validate_name(directory.name)
    if directory.exists() and not directory.is_dir():
        raise OSError(f"{directory}: exists and is not a folder; a model is saved as a folder.")
    ancestor = directory.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OSError(f"{directory}: cannot be created, {ancestor} is a file, not a folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OSError(f"{directory}: cannot be created, {ancestor} is not writable.")


def write_atomically(directory: Path, write: Callable[[Path], None]) -> Path:
    """Let `write` fill a new folder aside, then rename it in: an interrupted save leaves the previous model
    (if any) untouched, and a reader never sees half a model. Of two saves of one name at the same moment, one
    ends as the folder and the other raises OSError: never a mix of both."""
    validate_name(directory.name)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    staging = directory.parent / f".{directory.name}.saving-{tag}"
    retired = directory.parent / f".{directory.name}.old-{tag}"
    staging.mkdir()
    try:
        write(staging)
        try:
            directory.rename(retired)
        except FileNotFoundError:  # none yet, or another save of this name moved it aside a moment ago
            pass
        try:
            staging.rename(directory)
        except OSError as error:
            if retired.exists() and not directory.exists():
                retired.rename(directory)  # put the previous version back
            raise OSError(f"{directory}: another save of this name finished at the same moment; "
                          "it is the one kept.") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return directory


def write_card(staging: Path, card: dict) -> None:
    with open(staging / CARD_FILE, "w") as f:
        json.dump(card, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def save(model: Seq2Seq, directory: str | Path, card: dict, timeline: snapshots.Timeline | None = None) -> Path:
    """Write model.keras, card.json and (given one) the training timeline to `directory`, atomically."""
    def write(staging: Path) -> None:
        _without_optimizer(model).save(staging / MODEL_FILE)
        if timeline is not None:
            timeline.save(staging / SNAPSHOT_FILE)
        write_card(staging, card)
    return write_atomically(Path(directory), write)


def _without_optimizer(model: Seq2Seq):
    """A new, uncompiled network of the model's settings with its weights: saved, it holds the weights alone (0.8 MB
    for classic instead of 2.3 MB with Adam's two moments, which nothing here ever reads back). Not
    keras.models.clone_model, which compiles its copy, optimizer and all, when the original was compiled."""
    from s2s.model import build_training_model

    copy = build_training_model(model.problem, model.config)
    copy.set_weights(model.training.get_weights())
    return copy


def load_timeline(directory: str | Path, pause=None) -> snapshots.Timeline | None:
    """The training timeline saved with a model, None when it has none; a damaged file raises ModelFileError
    (the model itself still loads: a timeline is an extra). `pause`: see snapshots.Timeline.load."""
    path = Path(directory) / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        return snapshots.Timeline.load(path, pause)
    except snapshots.TimelineError as error:
        raise ModelFileError(str(error)) from None


def publish(source: str | Path, directory: str | Path, extra: dict | None = None) -> Path:
    """Copy the model folder `source` to `directory` atomically, its card pointing at the new place
    (the Train page's "save": a run's model already sits in a folder of its own), with `extra` card fields."""
    source, directory = Path(source), Path(directory)
    card = locate_card({**read_card(source), **(extra or {})}, directory)

    def write(staging: Path) -> None:
        shutil.copyfile(source / MODEL_FILE, staging / MODEL_FILE)
        if (source / SNAPSHOT_FILE).is_file():
            shutil.copyfile(source / SNAPSHOT_FILE, staging / SNAPSHOT_FILE)
        write_card(staging, card)
    return write_atomically(directory, write)


def load(directory: str | Path, warm_up: bool = True) -> LoadedModel:
    """Load a model folder: the network is built by this app's code from the card's settings, and only the
    weights are read from model.keras (whose config is inspected as data and never deserialized: no code in a
    file runs). `warm_up` traces its decoding graph (the model service traces it when idle instead, after
    answering the first decode eagerly)."""
    directory = Path(directory)
    if directory.is_symlink():
        raise ModelFileError(f"{directory}: is a symbolic link; a model folder must be a plain folder.")
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: no such model folder.")
    card = read_card(directory)
    path = directory / MODEL_FILE
    declared = inspect_model_file(path)
    problem, config = ProblemConfig(**card["problem"]), ModelConfig(**card["model"])
    expected = {"n_in": problem.n_in, "n_out": problem.n_out, "n_classes": problem.n_classes, "units": config.units,
                "layers": config.layers, "attention": config.attention}
    if declared != expected:
        def shapes(d: dict) -> str:
            return (f"values 1..{d['n_classes'] - 1}, {d['n_in']} -> {d['n_out']}, {d['layers']} x {d['units']} "
                    f"units{', attention' if d['attention'] else ''}")
        raise ModelFileError(f"{directory}: the card does not match the weights (card: {shapes(expected)}; "
                             f"model file: {shapes(declared)}).")
    import keras
    import numpy as np

    from s2s.model import Seq2Seq, build_training_model

    training = build_training_model(problem, config)
    for variable in training.weights:  # anything the file leaves unset stays NaN and is caught below
        variable.assign(np.full(variable.shape, np.nan, dtype=variable.dtype))
    try:
        with warnings.catch_warnings():  # Keras notes graph containers it skips; the NaN check below decides
            warnings.simplefilter("ignore", UserWarning)
            training.load_weights(path)
    except Exception as error:  # Keras raises many types for a damaged or foreign file; all mean "unusable".
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: its weights cannot be loaded into the model its card describes "
                             f"({first_line[:200]}).") from None
    missing = [v.path for v in training.weights if not np.isfinite(keras.ops.convert_to_numpy(v)).all()]
    if missing:
        raise ModelFileError(f"{path}: the weights of {missing[0]} are missing or not finite.")
    model = Seq2Seq(training, problem, config)
    if warm_up:
        model.warm_up()
    return LoadedModel(directory.name, directory, model, card)


def check(directory: str | Path) -> LoadedModel:
    """Load a model folder as `load` does, and its training timeline if it has one, checked against the weights:
    what an imported model must pass before it is kept."""
    loaded = load(directory, warm_up=False)
    timeline = load_timeline(directory)
    if timeline is not None:
        try:
            timeline.check_fits([w.shape for w in loaded.model.training.weights], str(Path(directory) / SNAPSHOT_FILE))
        except snapshots.TimelineError as error:
            raise ModelFileError(str(error)) from None
    return loaded


def list_models(root: str | Path = DEFAULT_ROOT) -> list[Entry]:
    """Every model folder under root, sorted by name, each with its card or the reason it is unusable.
    Reads cards only; `load` checks the weights."""
    root = Path(root)
    if not root.is_dir():
        return []
    entries = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            validate_name(directory.name)
            card = read_card(directory)
            if not (directory / MODEL_FILE).is_file():
                raise ModelFileError(f"{directory / MODEL_FILE}: missing model file.")
            entries.append(Entry(directory.name, directory, card))
        except ValueError as error:
            entries.append(Entry(directory.name, directory, None, str(error)))
    return entries

