"""Evaluate page: exact and per-position accuracy on N random sequences, spot check, confusion, failures; for a
model with a training timeline, its held-out accuracy per output step at every snapshot of training."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from s2s import charts
from s2s.evaluate import Evaluation
from s2s.replay import AccuracyOverTraining
from s2s.service import ServiceError
from s2s.ui import state

MAX_FAILURES = 20


FEEDS = {"argmax": "Greedy", "softmax": "Classic tutorial loop"}


@dataclass
class Result:
    """An evaluation, for the model it measured."""

    key: str
    evaluation: Evaluation
    seconds: float


@dataclass
class EvaluateState:
    """The Evaluate page's state: the last evaluation, and each model's last replay of its timeline."""

    result: Result | None = None
    over_training: dict[str, AccuracyOverTraining] = field(default_factory=dict)
    generalization: Generalization | None = None


@dataclass
class Generalization:
    """Exact accuracy per source length of some models on one task: (lengths, label -> accuracies, label -> the
    length it was trained on), with the models' keys and the settings it was measured with."""

    keys: tuple[str, ...]
    lengths: list[int]
    curves: dict[str, list[float]]
    trained_on: dict[str, int]
    n: int


def page_state() -> EvaluateState:
    return st.session_state.setdefault("evaluate", EvaluateState())


def run_ui(choice: state.ModelChoice) -> None:
    cols = st.columns([2, 1, 1], vertical_alignment="bottom")
    n = cols[0].number_input("Random sequences", 100, 100_000, 1000, step=1000, key="evaluate_n")
    seed = cols[1].number_input("Seed", 0, 2**31 - 1, 7, key="evaluate_seed")
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
    page_state().result = Result(choice.key, result, time.perf_counter() - started)


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
            st.switch_page("explore.py")  # relative to the pages' script, s2s/ui/studio.py
    if len(failing) > MAX_FAILURES:
        st.caption(f"Showing the first {MAX_FAILURES}.")


def over_training_ui(choice: state.ModelChoice) -> None:
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
    page = page_state()
    if cols[2].button("Replay training", key="over_training_button", icon=":material/history:"):
        bar = st.progress(0.0, text="Decoding at each snapshot…")
        try:
            page.over_training[choice.key] = svc.accuracy_over_training(
                choice.directory, int(n), 7, feed, on_progress=lambda done, total: bar.progress(
                    done / total, text=f"snapshot {done} of {total}"))
        except (ValueError, ServiceError) as error:
            st.error(str(error))
        bar.empty()
    accuracy = page.over_training.get(choice.key)
    if accuracy is None:
        st.caption(f"Decode held-out sequences with the weights of each of the {len(samples)} snapshots of this "
                   "model's training: when does each output step get learned?")
        return
    st.plotly_chart(charts.accuracy_over_training_figure(accuracy), key="over_training_chart")
    firsts = accuracy.first_above(0.9)
    st.markdown(f"{FEEDS[accuracy.feed]} decoding of {accuracy.n:,} held-out sequences (seed {accuracy.seed}). "
                "Each step first passes 90 % after: " + ", ".join(
                    f"step {t + 1} **{v:,}** samples" if v is not None else f"step {t + 1} never"
                    for t, v in enumerate(firsts)) + ".")


def comparable(choice: state.ModelChoice, options: dict[str, state.ModelChoice]) -> list[str]:
    """The models a length probe can set beside this one: same task, same values, same target length (a
    plain and an attention model of one problem)."""
    def problem_key(p):
        return p.task, p.cardinality, p.steps_for(p.n_in)
    return [key for key, other in options.items() if problem_key(other.problem) == problem_key(choice.problem)]


def short_label(choice: state.ModelChoice) -> str:
    config = choice.config
    shape = f"{config.units} units" + (f" × {config.layers}" if config.layers > 1 else "")
    return f"{choice.label.split(' — ')[0].split(' (')[0]} ({shape}{', attention' if config.attention else ''})"


def generalization_ui(choice: state.ModelChoice) -> None:
    """Exact accuracy per source length for this model and the comparable ones: where what it learned breaks."""
    st.subheader("Length generalization")
    problem = choice.problem
    options = state.model_options()
    candidates = comparable(choice, options)
    others = [k for k in candidates if k != choice.key]
    cols = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    chosen = cols[0].multiselect("Beside it", others, default=others[:3], format_func=lambda k: short_label(options[k]),
                                 key="generalization_models",
                                 help="Models of the same task and values (e.g. a plain and an attention model).")
    shortest = problem.shortest_source
    longest = min(100, max(30, problem.n_in + 20))
    low, high = cols[1].slider("Source lengths", shortest, longest, (max(shortest, problem.n_in - 2),
                                                                     min(longest, max(problem.n_in + 10, 16))),
                               key="generalization_lengths")
    n = cols[2].select_slider("Per length", [200, 500, 1000, 2000], value=500, key="generalization_n")
    page = page_state()
    keys = (choice.key, *chosen)
    if cols[3].button("Measure", key="generalization_button", icon=":material/straighten:"):
        svc = state.require_worker()
        lengths = list(range(low, high + 1))
        bar = st.progress(0.0, text="Decoding…")
        curves, trained_on = {}, {}
        try:
            for i, key in enumerate(keys):
                label = short_label(options[key])
                if label in curves:  # two models of one name (a saved one and its upload): tell them apart
                    label = f"{label} [{key}]"
                curves[label], trained_on[label] = [], options[key].problem.n_in
                for j, length in enumerate(lengths):
                    bar.progress((i * len(lengths) + j) / (len(keys) * len(lengths)),
                                 text=f"{label}: sources of {length} values")
                    curves[label].append(svc.evaluate(options[key].directory, int(n), 7, n_in=length).exact)
        except (ValueError, ServiceError) as error:
            st.error(str(error))
            return
        finally:
            bar.empty()
        page.generalization = Generalization(keys, lengths, curves, trained_on, int(n))
    result = page.generalization
    if result is None or result.keys[0] != choice.key:
        st.caption(f"A model trained on sources of {problem.n_in} values decodes other lengths too: measure exact "
                   "accuracy at each length, for this model and the ones beside it, and see where each one breaks.")
        return
    st.plotly_chart(charts.generalization_figure(result.lengths, result.curves, result.trained_on),
                    key="generalization_chart")
    rows = ["| source length | " + " | ".join(str(v) for v in result.lengths) + " |",
            "|---" * (len(result.lengths) + 1) + "|"]
    rows += [f"| {label} | " + " | ".join(f"{100 * v:.0f} %" for v in accuracy) + " |"
             for label, accuracy in result.curves.items()]
    st.markdown("\n".join(rows))
    st.caption(f"Exact accuracy on {result.n:,} random sources per length (seed 7).")


st.title("Evaluate")
st.caption("Exact-sequence accuracy of the active model on fresh random sequences, with where it fails.")
choice = state.model_picker("evaluate_model")
run_ui(choice)
stored = page_state().result
if stored and stored.key == choice.key:
    results_ui(choice, stored.evaluation, stored.seconds)
else:
    st.info("Choose how many sequences and press **Evaluate**.")
over_training_ui(choice)
generalization_ui(choice)
