"""Evaluate as a tour's scene: the one chart the scene names (accuracy over training, or length generalization),
measured when the scene opens and kept in the page's state, so that going back to it costs nothing."""

from __future__ import annotations

import threading

import streamlit as st

from s2s import charts
from s2s.config import EVAL_SEED
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.evaluate_lengths import measure, show_generalization
from s2s.ui.tour import fit
from s2s.ui.tour_file import EvaluateScene, read_evaluate

FEEDS = {"argmax": "Greedy", "softmax": "Classic tutorial loop"}


def show_over_training(accuracy) -> None:
    """Held-out accuracy per output step at each snapshot, and when each step first passes 90 %."""
    st.plotly_chart(fit(charts.accuracy_over_training_figure(accuracy)), key="over_training_chart")
    firsts = accuracy.first_above(0.9)
    st.markdown(f"{FEEDS[accuracy.feed]} decoding of {accuracy.n:,} held-out sequences (seed {accuracy.seed}). "
                "Each step first passes 90 % after: " + ", ".join(
                    f"step {t + 1} **{v:,}** samples" if v is not None else f"step {t + 1} never"
                    for t, v in enumerate(firsts)) + ".")


def lengths_of(wanted: EvaluateScene, problem) -> list[int]:
    """The source lengths a lengths scene measures: its own, or a few either side of the training length."""
    low, high = wanted.lengths or (max(problem.shortest_source, problem.n_in - 2), problem.n_in + 6)
    return list(range(low, high + 1))


def measure_ahead(views: list[dict[str, str]]) -> None:
    """Measure these Evaluate scenes' charts now, in a thread of their own: the worker keeps the results, so that
    the scene, once shown, draws at once. The worker answers everyone's decodes between the parts of this work;
    a scene that cannot be measured is left to say why when it is shown."""
    svc = state.service()
    options = state.model_options()
    saved = state.saved_choices(options)
    work = []
    for view in views:
        wanted, _ = read_evaluate(view, {name: choice.problem for name, choice in saved.items()})
        if wanted is None:
            continue
        choice = saved[wanted.model]
        if wanted.chart == "training":
            work.append(lambda c=choice, w=wanted: svc.accuracy_over_training(c.directory, w.n, EVAL_SEED, w.feed))
            continue
        for name in (wanted.model, *wanted.beside):
            for length in lengths_of(wanted, choice.problem):
                work.append(lambda d=saved[name].directory, w=wanted, n_in=length: svc.evaluate(
                    d, w.n, EVAL_SEED, n_in=n_in))

    def run() -> None:
        for job in work:
            try:
                job()
            except (ValueError, ServiceError):
                pass  # the scene says what is wrong when it is shown

    if work:
        threading.Thread(target=run, name="tour-measure-ahead", daemon=True).start()


def scene_ui(scene: dict, page) -> None:
    """The scene's chart of its model; `page` is the Evaluate page's state (its measurements are kept there)."""
    options = state.model_options()
    saved = {name: choice.problem for name, choice in state.saved_choices(options).items()}
    wanted, notes = read_evaluate(scene["view"], saved)
    if wanted is None:
        st.warning("This scene cannot be shown here: " + "; ".join(notes) + ".", icon=":material/slideshow:")
        return
    choice = options[state.saved_key(wanted.model)]
    if not state.presenting():
        st.caption(f"A tour's scene of the Evaluate page, on **{wanted.model}**. Exit the tour for the whole page.")
    try:
        if wanted.chart == "training":
            accuracy = page.over_training.get(choice.key)
            if accuracy is None or (accuracy.n, accuracy.feed, accuracy.seed) != (wanted.n, wanted.feed, EVAL_SEED):
                bar = st.progress(0.0, text="Decoding at each snapshot…")
                accuracy = page.over_training[choice.key] = state.require_worker().accuracy_over_training(
                    choice.directory, wanted.n, EVAL_SEED, wanted.feed, on_progress=lambda done, total: bar.progress(
                        done / total, text=f"snapshot {done} of {total}"))
                bar.empty()
            show_over_training(accuracy)
            return
        keys = (choice.key, *(state.saved_key(name) for name in wanted.beside))
        lengths = lengths_of(wanted, choice.problem)
        measured = page.generalization
        if measured is None or (measured.keys, measured.lengths, measured.n) != (keys, lengths, wanted.n):
            measured = page.generalization = measure(options, keys, lengths, wanted.n)
        show_generalization(measured)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
