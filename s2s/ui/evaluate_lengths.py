"""Evaluate's length generalization: exact accuracy per source length for the chosen model and the comparable ones
beside it (same task, values and target length), as a chart and a table: where what each model learned breaks."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from s2s import charts
from s2s.config import EVAL_SEED, MAX_LENGTH
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour import add_button, fit


@dataclass
class Generalization:
    """Exact accuracy per source length of some models on one task: (lengths, label -> accuracies, label -> the
    length it was trained on), with the models' keys and the settings it was measured with."""

    keys: tuple[str, ...]
    lengths: list[int]
    curves: dict[str, list[float]]
    trained_on: dict[str, int]
    n: int


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


def measure(options: dict[str, state.ModelChoice], keys: tuple[str, ...], lengths: list[int],
            n: int) -> Generalization:
    """Each model's exact accuracy on `n` seeded sources of every length, with a progress bar; ValueError or
    ServiceError from the worker."""
    svc = state.require_worker()
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
                curves[label].append(svc.evaluate(options[key].directory, n, EVAL_SEED, n_in=length).exact)
    finally:
        bar.empty()
    return Generalization(keys, lengths, curves, trained_on, n)


def generalization_ui(choice: state.ModelChoice, measured: Generalization | None) -> Generalization | None:
    """The probe's settings and its chart and table; returns what is measured now (or what was, unchanged)."""
    st.subheader("Length generalization")
    problem = choice.problem
    options = state.model_options()
    others = [key for key in comparable(choice, options) if key != choice.key]
    cols = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    chosen = cols[0].multiselect("Beside it", others, default=others[:3], format_func=lambda k: short_label(options[k]),
                                 key="generalization_models",
                                 help="Models of the same task and values (e.g. a plain and an attention model).")
    shortest, longest = problem.shortest_source, min(MAX_LENGTH, max(30, problem.n_in + 20))
    low, high = cols[1].slider("Source lengths", shortest, longest, (max(shortest, problem.n_in - 2),
                                                                     min(longest, max(problem.n_in + 10, 16))),
                               key="generalization_lengths")
    n = cols[2].select_slider("Per length", [200, 500, 1000, 2000], value=500, key="generalization_n")
    if cols[3].button("Measure", key="generalization_button", icon=":material/straighten:"):
        try:
            measured = measure(options, (choice.key, *chosen), list(range(low, high + 1)), int(n))
        except (ValueError, ServiceError) as error:
            st.error(str(error))
            return measured
    if measured is None or measured.keys[0] != choice.key:
        st.caption(f"A model trained on sources of {problem.n_in} values decodes other lengths too: measure exact "
                   "accuracy at each length, for this model and the ones beside it, and see where each one breaks.")
        return measured
    show_generalization(measured)
    if all(key.startswith("saved:") for key in measured.keys):
        names = [key.removeprefix("saved:") for key in measured.keys]
        add_button(st, "evaluate", {"model": names[0], "chart": "lengths", "beside": ",".join(names[1:]),
                                    "lengths": f"{measured.lengths[0]}-{measured.lengths[-1]}", "n": str(measured.n)},
                   "Length generalization", key="generalization_add")
    return measured


def show_generalization(measured: Generalization) -> None:
    """The chart and the table of a length probe."""
    st.plotly_chart(fit(charts.generalization_figure(measured.lengths, measured.curves, measured.trained_on)),
                    key="generalization_chart")
    rows = ["| source length | " + " | ".join(str(v) for v in measured.lengths) + " |",
            "|---" * (len(measured.lengths) + 1) + "|"]
    rows += [f"| {label} | " + " | ".join(f"{100 * v:.0f} %" for v in accuracy) + " |"
             for label, accuracy in measured.curves.items()]
    st.markdown("\n".join(rows))
    st.caption(f"Exact accuracy on {measured.n:,} random sources per length (seed {EVAL_SEED}).")
