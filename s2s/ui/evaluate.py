"""Evaluate page: exact and per-position accuracy on N random sequences, spot check, confusion, failures; for a
model with a training timeline, its held-out accuracy per output step at every snapshot of training; and how its
accuracy holds at other source lengths (s2s/ui/evaluate_lengths.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from s2s import charts
from s2s.config import EVAL_N, EVAL_SEED
from s2s.evaluate import Evaluation
from s2s.replay import AccuracyOverTraining
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.evaluate_lengths import Generalization, generalization_ui
from s2s.ui.evaluate_scene import FEEDS, scene_ui, show_over_training
from s2s.ui.tour import add_button
from s2s.ui.page_settings import PageSettings

MAX_FAILURES = 20


@dataclass
class EvaluateSettings(PageSettings):
    """What an evaluation measures: how many random sequences, from which seed (widgets evaluate_n, evaluate_seed)."""

    prefix = "evaluate_"
    n: int = EVAL_N
    seed: int = EVAL_SEED


@dataclass
class Result:
    """An evaluation, for the model it measured."""

    key: str
    evaluation: Evaluation
    seconds: float


@dataclass
class EvaluateState:
    """The Evaluate page's state: its settings, the last evaluation, each model's last replay of its timeline, and
    the last length generalization."""

    settings: EvaluateSettings = field(default_factory=EvaluateSettings)
    result: Result | None = None
    over_training: dict[str, AccuracyOverTraining] = field(default_factory=dict)
    generalization: Generalization | None = None


def page_state() -> EvaluateState:
    return st.session_state.setdefault("evaluate", EvaluateState())


def run_ui(choice: state.ModelChoice, page: EvaluateState) -> None:
    cols = st.columns([2, 1, 1], vertical_alignment="bottom")
    settings = page.settings
    n = cols[0].number_input("Random sequences", 100, 100_000, step=1000, **settings.widget("n"))
    seed = cols[1].number_input("Seed", 0, 2**31 - 1, **settings.widget("seed"))
    if not cols[2].button("Evaluate", type="primary", key="evaluate_button", icon=":material/play_arrow:"):
        return
    svc = state.require_worker()
    bar = st.progress(0.0, text="Decoding…")
    started = time.perf_counter()
    try:
        result = svc.evaluate(choice.directory, int(n), int(seed), on_progress=lambda done, total: bar.progress(
            done / total, text=f"{done:,} / {total:,} decoded"))
    except (ValueError, ServiceError) as error:  # an unusable model, or a worker that failed
        bar.empty()
        st.error(str(error))
        return
    bar.empty()
    page.result = Result(choice.key, result, time.perf_counter() - started)


def results_ui(choice: state.ModelChoice, result: Evaluation, seconds: float) -> None:
    problem, key = choice.problem, choice.key
    cols = st.columns(4)
    cols[0].metric("Exact-sequence accuracy", f"{100 * result.exact:.2f} %",
                   help="A sequence counts only if every target token is right.")
    cols[1].metric("Token accuracy", f"{100 * result.token:.2f} %")
    cols[2].metric("Sequences", f"{result.n:,}", help=f"Seed {result.seed}.")
    cols[3].metric("Time", f"{seconds:.2f} s", help="Batched greedy decoding.")
    left, right = st.columns(2)
    with left:
        st.markdown("**Accuracy per output position**")
        st.plotly_chart(charts.per_position_figure(result.per_position), key="per_position_chart")
        st.markdown("**Which expected values go wrong most often**")
        error_rate = result.error_rate_by_value(problem.n_classes)
        if np.nansum(error_rate) > 0:
            st.plotly_chart(charts.error_by_value_figure(error_rate), key="error_value_chart")
        else:
            st.success("No expected value was ever predicted wrong.")
    with right:
        position = st.selectbox("Confusion at output position", list(range(1, problem.n_out + 1)),
                                key="confusion_position")
        st.plotly_chart(charts.confusion_figure(result.confusion(problem.n_classes), position - 1),
                        key="confusion_chart")
    spot_ui(result)
    failures_ui(key, result)


def spot_ui(result) -> None:
    st.markdown("**Spot check** — the tutorial's ten examples")
    rows = [{"source": str(row["source"]), "expected": str(row["expected"]), "predicted": str(row["predicted"]),
             "right": "yes" if row["correct"] else "NO"} for row in result.examples(10)]
    st.dataframe(rows, hide_index=True, key="spot_table")


def failures_ui(key: str, result) -> None:
    failing = (~result.correct).nonzero()[0]
    st.markdown(f"**Failing examples** — {len(failing):,} of {result.n:,}")
    if not len(failing):
        st.success("Every sequence decoded right.")
        return
    for i in failing[:MAX_FAILURES]:
        cols = st.columns([3, 2, 2, 1], vertical_alignment="center")
        cols[0].markdown(f"`{result.source[i].tolist()}`")
        cols[1].markdown(f"expected `{result.target[i].tolist()}`")
        cols[2].markdown(f"predicted `{result.predicted[i].tolist()}`")
        if cols[3].button("Explore", key=f"open_{i}", on_click=state.open_in_explore, args=(key, result.source[i])):
            st.switch_page("explore/page.py")  # relative to the pages' script, s2s/ui/studio.py
    if len(failing) > MAX_FAILURES:
        st.caption(f"Showing the first {MAX_FAILURES}.")


def over_training_ui(choice: state.ModelChoice, page: EvaluateState) -> None:
    """Held-out accuracy per output step at every snapshot of the model's training timeline, if it has one."""
    svc = state.require_worker()
    try:
        samples = svc.timeline(choice.directory)
    except (ValueError, ServiceError) as error:
        st.warning(f"This model's training timeline cannot be used: {error}", icon=":material/history_toggle_off:")
        return
    st.subheader("Accuracy over training")
    if not samples:
        st.caption("This model was saved without snapshots of its weights, so its training cannot be replayed. "
                   "Every run trained in this app or with `python -m s2s train` keeps them.")
        return
    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
    n = cols[0].select_slider("Held-out sequences", [500, 1000, 2000, 5000], value=1000, key="over_training_n")
    feed = cols[1].radio("Decoder feedback", list(FEEDS), format_func=FEEDS.get, horizontal=True,
                         key="over_training_feed")
    if cols[2].button("Replay training", key="over_training_button", icon=":material/history:"):
        bar = st.progress(0.0, text="Decoding at each snapshot…")
        try:
            page.over_training[choice.key] = svc.accuracy_over_training(
                choice.directory, int(n), EVAL_SEED, feed, on_progress=lambda done, total: bar.progress(
                    done / total, text=f"snapshot {done} of {total}"))
        except (ValueError, ServiceError) as error:
            st.error(str(error))
        bar.empty()
    accuracy = page.over_training.get(choice.key)
    if accuracy is None:
        st.caption(f"Decode held-out sequences with the weights of each of the {len(samples)} snapshots of this "
                   "model's training: when does each output step get learned?")
        return
    show_over_training(accuracy)
    if choice.key.startswith("saved:"):
        add_button(st, "evaluate", {"model": choice.key.removeprefix("saved:"), "chart": "training",
                                    "n": str(accuracy.n), "feed": accuracy.feed},
                   "Accuracy over training", key="over_training_add")


page = page_state()
scene = state.scene("evaluate")
if scene is not None:  # a tour's scene: its one chart
    scene_ui(scene, page)
    st.stop()
st.title("Evaluate")
st.caption("Exact-sequence accuracy of the active model on fresh random sequences, with where it fails.")
page.settings.sync()
choice = state.model_picker("evaluate_model")
run_ui(choice, page)
if page.result and page.result.key == choice.key:
    results_ui(choice, page.result.evaluation, page.result.seconds)
else:
    st.info("Choose how many sequences and press **Evaluate**.")
over_training_ui(choice, page)
page.generalization = generalization_ui(choice, page.generalization)
