"""Model cards: the JSON beside each `model.keras` that says how the model was made and what it measured.
Building a card (`make_card`, `run_card`), the commands that reproduce and measure a model (`locate_card` writes
them for the folder a model lives in), reading and checking one (`read_card`, `parse_card`: a card is data from
anyone, so every field a page shows is checked once) and its one-line `summary`. No TensorFlow needed."""

from __future__ import annotations

import datetime
import json
import platform
import shlex
import stat
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from s2s.config import EVAL_N, EVAL_SEED, ModelConfig, ProblemConfig, TrainConfig
from s2s.model_file import ModelFileError, _is_number

if TYPE_CHECKING:
    from s2s.evaluate import Evaluation
    from s2s.model import Seq2Seq
    from s2s.train import TrainResult

CARD_FORMAT = "seq2seq-studio/1"
PROJECT = Path(__file__).resolve().parent.parent  # commands name folders inside it relative to it
CARD_FILE = "card.json"


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
