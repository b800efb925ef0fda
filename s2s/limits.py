"""What one browser session may hold on a shared server, each limit with the setting (an environment variable)
that changes it. The defaults are sized for a class of ~30 on one 2-core server: one run trains at a time there
(S2S_MAX_JOBS), so a session that queues more than a couple of runs only makes everyone else wait.

A refusal is a `LimitError` (a ValueError) whose message names the limit and its setting."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from s2s.config import ModelConfig, ProblemConfig, TrainConfig, count_parameters

class LimitError(ValueError):
    """A refusal by a per-session limit: its message names the limit and the setting that changes it."""


@dataclass(frozen=True)
class Limits:
    """Per-session limits; `from_env()` reads each from its S2S_* variable (the field's metadata)."""

    runs: int = 2                  # runs active or queued at once
    uploads: int = 5               # uploaded models held (until saved or the session closes)
    upload_mib: int = 20           # their total size, MiB
    saved: int = 10                # models saved to the store
    run_work: float = 1.2e11       # samples x parameters of one run (classic's recipe, 5.7e10, trains in ~26 s here)
    run_minutes: float = 10.0      # a run training longer is stopped and kept, like a Stop
    upload_parameters: int = 2_000_000  # parameters an uploaded model's card may declare (classic: 190,899)

    SETTINGS = {"runs": "S2S_MAX_RUNS", "uploads": "S2S_MAX_UPLOADS", "upload_mib": "S2S_MAX_UPLOAD_MIB",
                "saved": "S2S_MAX_SAVED", "run_work": "S2S_MAX_RUN_WORK", "run_minutes": "S2S_MAX_RUN_MINUTES",
                "upload_parameters": "S2S_MAX_UPLOAD_PARAMETERS"}

    UNITS = {"upload_mib": " MiB", "run_work": " sample-parameters", "run_minutes": " min",
             "upload_parameters": " parameters"}

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        """The limits, each from its variable when set (a positive number), else the default; ValueError naming the
        variable for a value that is not one."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            text = environ.get(cls.SETTINGS[f.name])
            if text is None or not text.strip():
                continue
            kind = int if f.type in ("int", int) else float
            try:
                value = kind(float(text)) if kind is int and "e" in text.lower() else kind(text)
            except ValueError:
                value = None
            if value is None or not value > 0 or value != value:
                raise ValueError(f"{cls.SETTINGS[f.name]}={text!r}: must be a positive number.")
            values[f.name] = value
        return cls(**values)

    def refuse(self, name: str, what: str) -> LimitError:
        """The refusal for limit `name`: `what` (the attempt, counted), then the limit and its setting."""
        return LimitError(f"{what}: the limit per session is {_show(getattr(self, name))}{self.UNITS.get(name, '')} "
                          f"(set {self.SETTINGS[name]} on the server to change it).")


def _show(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"


def run_work(problem: ProblemConfig, model: ModelConfig, train: TrainConfig) -> float:
    """The size of a run: samples seen (samples x epochs) x trainable parameters."""
    return float(train.samples * train.epochs) * count_parameters(problem, model)

