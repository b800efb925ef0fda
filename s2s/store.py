"""Save, load and list models as folders of `model.keras` plus a JSON model card; atomic writes, safe-mode loads.

A folder is `<root>/<name>/` with a name of letters, digits, '-' and '_'. A missing, corrupt or foreign
file raises ModelFileError naming the file and the problem; nothing here ever loads with safe_mode off.
Listing, reading and building cards, and publishing a saved folder under a new name, need no TensorFlow (the
web server's process does them); `load` and `save` import it when called.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import stat
import time
import uuid
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from s2s import snapshots
from s2s.config import EVAL_N, EVAL_SEED, ModelConfig, ProblemConfig, TrainConfig

if TYPE_CHECKING:
    from s2s.evaluate import Evaluation
    from s2s.model import Seq2Seq
    from s2s.train import TrainResult

CARD_FORMAT = "seq2seq-studio/1"
MODEL_FILE, CARD_FILE = "model.keras", "card.json"
SNAPSHOT_FILE = snapshots.SNAPSHOT_FILE
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = PROJECT / "pretrained"  # the shipped models: read-only to the app


def saved_root() -> Path:
    """Where the app saves models (never into pretrained/): S2S_MODELS_DIR, else the user's data folder,
    $XDG_DATA_HOME/seq2seq-studio/models (~/.local/share/seq2seq-studio/models), outside any git checkout."""
    configured = os.environ.get("S2S_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "seq2seq-studio" / "models"


class ModelFileError(ValueError):
    """A model folder that cannot be used, with the file and the reason in the message."""


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


def versions() -> dict:
    import keras
    import numpy as np
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def make_card(name: str, model: Seq2Seq, train_config: TrainConfig, *, history: dict | None = None,
              holdout: dict | None = None, evaluation: dict | None = None, training_seconds: float | None = None,
              reason: str | None = None, reproduce: str | None = None, notes: str | None = None) -> dict:
    """A complete model card: the settings to rebuild the model, what it measured, and how to reproduce it."""
    return {
        "format": CARD_FORMAT,
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "problem": asdict(model.problem),
        "model": asdict(model.config),
        "training": asdict(train_config),
        "parameters": model.count_params(),
        "evaluation": evaluation,      # exact / per-position accuracy with n, seed and the command that measured it
        "holdout": holdout,            # the training run's own held-out measurement
        "training_seconds": training_seconds,
        "stopped": reason,
        "history": history,
        "versions": versions(),
        "reproduce": reproduce,
        "notes": notes,
    }


def train_command(problem: ProblemConfig, model_config: ModelConfig, config: TrainConfig, out: str,
                  eval_n: int = EVAL_N, eval_seed: int = EVAL_SEED, notes: str | None = None) -> str:
    """The exact `python -m s2s train ...` line that reproduces a run (every setting spelled out)."""
    parts = ["python", "-m", "s2s", "train",
             "--cardinality", problem.cardinality, "--n-in", problem.n_in, "--n-out", problem.n_out]
    if problem.task != ProblemConfig().task:
        parts += ["--task", problem.task]
    parts += ["--units", model_config.units]
    if model_config.layers != 1:
        parts += ["--layers", model_config.layers]
    if model_config.attention:
        parts += ["--attention"]
    parts += ["--samples", config.samples, "--epochs", config.epochs,
             "--batch-size", config.batch_size, "--lr", config.learning_rate, "--schedule", config.schedule,
             "--seed", config.seed,
             "--eval-every", config.eval_every, "--eval-n", eval_n, "--eval-seed", eval_seed]
    if config.snapshots != TrainConfig().snapshots:
        parts += ["--snapshots", config.snapshots]
    if config.target_accuracy is not None:
        parts += ["--target-accuracy", config.target_accuracy]
    if notes:
        parts += ["--notes", notes]
    return shlex.join([str(p) for p in parts + ["--out", out]])


def evaluate_command(out: str, n: int, seed: int) -> str:
    return shlex.join(["python", "-m", "s2s", "evaluate", "--model", str(out), "--n", str(n), "--seed", str(seed)])


def command_path(directory: str | Path) -> str:
    """A model folder as a command run from the project folder names it: relative inside it, else absolute."""
    directory = Path(directory).absolute()
    try:
        return str(directory.relative_to(PROJECT))
    except ValueError:
        return str(directory)


def locate_card(card: dict, directory: str | Path) -> dict:
    """The card of a model that lives in `directory`: its name and the commands that reproduce and measure it
    name that folder. The one place those commands are written into a card."""
    out = command_path(directory)
    card = {**card, "name": Path(directory).name}
    training = TrainConfig(**card["training"])
    evaluation = card.get("evaluation")
    eval_n, eval_seed = (evaluation["n"], evaluation["seed"]) if evaluation else (EVAL_N, EVAL_SEED)
    card["reproduce"] = train_command(ProblemConfig(**card["problem"]), ModelConfig(**card["model"]), training,
                                      out, eval_n, eval_seed, card.get("notes"))
    if evaluation:
        card["evaluation"] = {**evaluation, "command": evaluate_command(out, eval_n, eval_seed)}
    return card


def run_card(directory: str | Path, result: TrainResult, evaluation: Evaluation, notes: str | None = None) -> dict:
    """The card of a finished (or stopped) training run saved to `directory`: the CLI and the app both call this."""
    card = make_card(
        Path(directory).name, result.model, result.config, history=result.history.downsampled(),
        holdout={"exact_accuracy": result.exact_accuracy, "token_accuracy": result.token_accuracy,
                 "n": result.config.eval_size, "seed": [result.config.seed, 1]},
        evaluation=evaluation.summary(), training_seconds=round(result.elapsed, 2), reason=result.reason,
        notes=notes,
    )
    return locate_card(card, directory)


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
        if directory.exists():
            directory.rename(retired)
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


def load_timeline(directory: str | Path) -> snapshots.Timeline | None:
    """The training timeline saved with a model, None when it has none; a damaged file raises ModelFileError
    (the model itself still loads: a timeline is an extra)."""
    path = Path(directory) / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        return snapshots.Timeline.load(path)
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


_cards: dict[Path, tuple[tuple[int, int, int], dict]] = {}  # card path -> (its file's stamp, the parsed card)
_CACHED_CARDS = 512


def read_card(directory: Path) -> dict:
    """A folder's model card, validated. Parsed once per version of the file (its inode, size and modification
    time): every page run lists every model's card. The card returned is shared: read it, never change it."""
    path = Path(directory) / CARD_FILE
    try:
        info = path.lstat()
    except OSError:
        info = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise ModelFileError(f"{path}: is a symbolic link; a model card must be a plain file.")
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: missing model card.")
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _cards.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    card = parse_card(path.read_bytes(), path)
    # A file changed twice within the clock's granularity (milliseconds) can keep its stamp: like git's "racily
    # clean" index entries, a card modified in the last 2 s is parsed again next time.
    if time.time_ns() - info.st_mtime_ns > 2_000_000_000:
        if len(_cards) >= _CACHED_CARDS:
            _cards.clear()
        _cards[path] = (stamp, card)
    return card


def parse_card(data: bytes, where: str | Path) -> dict:
    """A model card from its bytes, validated (format, settings); ModelFileError naming `where` otherwise."""
    try:
        card = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"{where}: not valid JSON ({error}).") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelFileError(f"{where}: not a Seq2Seq Studio model card (expected format {CARD_FORMAT!r}).")
    try:
        ProblemConfig(**card["problem"])
        ModelConfig(**card["model"])
        TrainConfig(**card["training"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{where}: invalid settings ({error}).") from None
    problem = _card_field_problem(card)
    if problem:
        raise ModelFileError(f"{where}: {problem}.")
    return card


def _is_number(value, integer: bool = False) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)


def _card_field_problem(card: dict) -> str | None:
    """What is wrong with the fields a page or command shows from a card (None: nothing); a card from a file is
    data from anyone, so every field read later is checked here once."""
    evaluation = card.get("evaluation")
    if evaluation is not None and not (
            isinstance(evaluation, dict) and _is_number(evaluation.get("exact_accuracy"))
            and 0 <= evaluation["exact_accuracy"] <= 1 and _is_number(evaluation.get("n"), True)
            and _is_number(evaluation.get("seed"), True)
            and all(_is_number(v) for v in evaluation.get("per_position_accuracy", []) or [])):
        return "its evaluation is not a measurement (exact_accuracy in 0..1, n and seed whole numbers)"
    if "parameters" in card and not _is_number(card["parameters"], True):
        return "its parameter count is not a whole number"
    if card.get("training_seconds") is not None and not _is_number(card["training_seconds"]):
        return "its training time is not a number"
    for key in ("name", "created", "notes", "reproduce", "recovered", "stopped"):
        if card.get(key) is not None and not (isinstance(card[key], str) and len(card[key]) <= 4000):
            return f"its {key!r} is not a short text"
    history = card.get("history")
    if history is not None:
        if not isinstance(history, dict) or not all(
                isinstance(v, list) and all(_is_number(x) for x in v) for v in history.values()
                if not isinstance(v, (int, float))):
            return "its training history is not lists of numbers"
    return None


# A .keras file is a zip of these three files; each may expand to at most this many bytes.
KERAS_MEMBERS = {"config.json": 1 << 20, "metadata.json": 1 << 16, "model.weights.h5": 256 << 20}
# The only classes a Seq2Seq Studio model's config names. Anything else (a Lambda layer's code, a custom
# object, a module outside Keras) is refused before Keras sees the file.
KERAS_CLASSES = frozenset({
    "Functional", "InputLayer", "CategoryEncoding", "Reshape", "LSTM", "Dense", "DTypePolicy", "GlorotUniform",
    "Orthogonal", "Zeros", "__keras_tensor__", "Dot", "Softmax", "Concatenate",
})


def _is_symlink_member(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def inspect_model_file(path: Path) -> dict:
    """Read a .keras file as data, never as code: a zip holding only Keras's three files within their sizes,
    whose config names only the layer classes this app builds. Returns the shapes the config declares
    (n_in, n_out, n_classes, units). Raises ModelFileError naming what is wrong."""
    if path.is_symlink():
        raise ModelFileError(f"{path}: is a symbolic link; a model file must be a plain file.")
    if not path.is_file():
        raise ModelFileError(f"{path}: missing model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras model file (a .keras file is a zip archive; this one is not).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = [info.filename for info in members]
            unexpected = sorted(set(names) - set(KERAS_MEMBERS))
            if unexpected or len(names) != len(set(names)):
                raise ModelFileError(f"{path}: unexpected member {(unexpected or names)[0]!r} (a Keras model file "
                                     f"holds {', '.join(KERAS_MEMBERS)}).")
            for info in members:
                if _is_symlink_member(info):
                    raise ModelFileError(f"{path}: member {info.filename!r} is a symbolic link; refused.")
                if info.file_size > KERAS_MEMBERS[info.filename]:
                    raise ModelFileError(f"{path}: member {info.filename!r} expands to {info.file_size:,} bytes, "
                                         f"over its limit of {KERAS_MEMBERS[info.filename]:,}; refused.")
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ModelFileError(f"{path}: not a Keras model file (no config.json or model.weights.h5 inside).")
            with archive.open("config.json") as f:  # read at most its limit, whatever its header claims
                raw = f.read(KERAS_MEMBERS["config.json"] + 1)
            if len(raw) > KERAS_MEMBERS["config.json"]:
                raise ModelFileError(f"{path}: config.json expands past its limit; refused.")
            config = json.loads(raw)
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError, RuntimeError,
            NotImplementedError, zlib.error) as error:
        raise ModelFileError(f"{path}: damaged Keras model file ({error}).") from None
    classes = set()  # the training settings (compile_config) are never read back, so only the network counts
    try:
        _collect_classes({k: v for k, v in config.items() if k != "compile_config"} if isinstance(config, dict)
                         else config, classes)
    except RecursionError:
        raise ModelFileError(f"{path}: its config is nested too deeply to be a model.") from None
    foreign = sorted(classes - KERAS_CLASSES)
    if foreign:
        what = "a Lambda layer, which carries code" if "Lambda" in foreign else f"class {foreign[0]!r}"
        raise ModelFileError(f"{path}: its config names {what}; only the layers this app builds are accepted.")
    try:
        layers = {layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]}
        declared = {"n_in": layers["source"]["batch_shape"][1], "n_out": layers["decoder_input"]["batch_shape"][1],
                    "n_classes": layers["decoder_dense"]["units"], "units": layers["encoder_lstm"]["units"],
                    "layers": sum(1 for name in layers if name == "encoder_lstm" or name.startswith("encoder_lstm_")),
                    "attention": "attention_combine" in layers}
        if not all(_is_number(declared[k], True) for k in ("n_in", "n_out", "n_classes", "units")):
            raise TypeError("shapes that are not whole numbers")
        return declared
    except (KeyError, TypeError, IndexError, AttributeError):
        raise ModelFileError(f"{path}: not a Seq2Seq Studio model (its config lacks the encoder-decoder's "
                             "layers).") from None


def _collect_classes(node, classes: set) -> None:
    if isinstance(node, dict):
        if "class_name" in node:
            classes.add(str(node["class_name"]))
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] != "keras":
            classes.add(f"{module}.{node.get('class_name')}")
        for value in node.values():
            _collect_classes(value, classes)
    elif isinstance(node, list):
        for value in node:
            _collect_classes(value, classes)


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


def summary(card: dict) -> str:
    """One line describing a model from its card."""
    p, m = card["problem"], card["model"]  # parse_card checked every field read here
    task = p.get("task", ProblemConfig().task)
    text = (f"{'' if task == ProblemConfig().task else task + ', '}cardinality {p['cardinality']}, "
            f"{p['n_in']} -> {p['n_out']}, {m['units']} units")
    if m.get("layers", 1) > 1:
        text += f" x {m['layers']} layers"
    if m.get("attention"):
        text += ", attention"
    ev = card.get("evaluation")
    if ev:
        text += f", exact accuracy {100 * ev['exact_accuracy']:.2f} % on {ev['n']:,} (seed {ev['seed']})"
    return text
