"""What the pages share: saved models (loaded once per process), the session's training runs, the active model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from s2s import store
from s2s.model import Seq2Seq
from s2s.train import Trainer

DEFAULT_MODEL = "classic"


def models_root() -> Path:
    """Where saved models live: pretrained/ beside the code, or S2S_MODELS_ROOT (tests use a copy)."""
    return Path(os.environ.get("S2S_MODELS_ROOT", store.DEFAULT_ROOT))


@st.cache_resource(show_spinner="Loading model…", max_entries=32)
def _load_saved(path: str, stamp: tuple) -> tuple[store.LoadedModel | None, str | None]:
    # `stamp` (file sizes and times) makes a re-saved model load afresh instead of hitting the cache.
    try:
        return store.load(path), None
    except store.ModelFileError as error:
        return None, str(error)


def load_saved(path: Path) -> tuple[store.LoadedModel | None, str | None]:
    files = [path / store.MODEL_FILE, path / store.CARD_FILE]
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)
    return _load_saved(str(path), stamp)


@dataclass
class Run:
    """One training run of this session. The trainer (model + history) lives here from its first batch on."""

    id: int
    trainer: Trainer
    status: str = "running"

    @property
    def label(self) -> str:
        p, m, t = self.trainer.problem, self.trainer.model_config, self.trainer.config
        return (f"run {self.id}: {p.cardinality}/{p.n_in}→{p.n_out}, {m.units} units, "
                f"batch {t.batch_size}, lr {t.learning_rate:g}")


def runs() -> dict[int, Run]:
    return st.session_state.setdefault("runs", {})


def saved_key(name: str) -> str:
    return f"saved:{name}"


def run_key(run_id: int) -> str:
    return f"run:{run_id}"


def model_options() -> dict[str, str]:
    """Every model a page can use: key -> label (saved models with their card's one-line summary)."""
    options = {}
    for entry in store.list_models(models_root()):
        if entry.ok:
            options[saved_key(entry.name)] = f"{entry.name} — {store.summary(entry.card)}"
    for run in runs().values():
        if run.trainer.history.loss:
            options[run_key(run.id)] = f"{run.label} ({run.status}, this session)"
    return options


def active_key(options: dict[str, str] | None = None) -> str | None:
    """The active model's key; falls back to classic (or the first model) when it is unset or gone."""
    options = model_options() if options is None else options
    key = st.session_state.get("active_model")
    if key not in options:
        key = saved_key(DEFAULT_MODEL) if saved_key(DEFAULT_MODEL) in options else next(iter(options), None)
        st.session_state["active_model"] = key
    return key


def set_active(key: str) -> None:
    st.session_state["active_model"] = key


def get_model(key: str) -> tuple[Seq2Seq | None, dict | None, str | None]:
    """(model, card or None, error) for a key of model_options()."""
    kind, _, name = key.partition(":")
    if kind == "run":
        run = runs().get(int(name))
        return (run.trainer.model, None, None) if run else (None, None, f"No run {name} in this session.")
    path = models_root() / name
    if not path.is_dir():
        return None, None, f"No saved model named {name!r}."
    loaded, error = load_saved(path)
    return (loaded.model, loaded.card, None) if loaded else (None, None, error)


def model_picker(key: str) -> tuple[str, Seq2Seq, dict | None]:
    """A select box over all models, defaulting to (and setting) the active one; stops the page if none."""
    options = model_options()
    current = active_key(options)
    if current is None:
        st.info("No model yet: train one on the Train page, or restore the shipped models in pretrained/.")
        st.stop()
    if st.session_state.get(key) != current:
        st.session_state[key] = current  # follow the active model when another page changed it
    # on_change runs before the rerun, so the choice is already the active model when the sync above runs.
    choice = st.selectbox("Model", list(options), format_func=options.get, key=key,
                          on_change=lambda: set_active(st.session_state[key]))
    model, card, error = get_model(choice)
    if model is None:
        st.error(error)
        st.stop()
    return choice, model, card


# Streamlit forgets a widget's value when its page is not shown; these settings should survive a page switch.
PERSISTENT_KEYS = ("cardinality", "n_in", "n_out", "units", "mode", "samples", "epochs", "target", "cap",
                   "batch_size", "learning_rate", "schedule", "seed", "log_loss", "explore_feed", "evaluate_n", "evaluate_seed")


def keep_settings() -> None:
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
