"""Explore's training timeline: the slider that picks which snapshot of the weights the whole view uses, and Play
through training, which advances it on a timer (each snapshot drawn by a whole-page rerun)."""

from __future__ import annotations

import streamlit as st

from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.explore.session import ExploreState, View, page_state


def timeline_of(svc, choice: state.ModelChoice) -> list[int] | None:
    """Samples seen at each snapshot of the model's training timeline; None (and a note if damaged) without."""
    try:
        return svc.timeline(choice.directory)
    except ValueError as error:
        st.warning(f"This model's training timeline cannot be used, so it is shown with its final weights only: "
                   f"{error}", icon=":material/history_toggle_off:")
    except ServiceError as error:
        st.error(str(error), icon=":material/error:")
    return None


def training_ui(ui: ExploreState, view: View, samples: list[int], compact: bool = False) -> int | None:
    """The training-progress slider (and Play through training); returns the snapshot to use, None for final."""
    last, key = len(samples) - 1, ui.key("snapshot")
    if view.snapshot is not None and not 0 <= view.snapshot < last:
        view.snapshot, view.replaying = None, False
    current = last if view.snapshot is None else view.snapshot
    if st.session_state.get(key) not in range(len(samples)) or view.replaying:
        st.session_state[key] = current

    def moved() -> None:
        k = st.session_state.get(key)  # gone when a model switch dropped the slider's value
        if k not in range(len(samples)):
            return
        view.snapshot, view.replaying = (None if k == last else k), False

    def replay() -> None:
        view.snapshot, view.replaying = 0, True

    slider_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    slider_col.select_slider(
        "Training progress: the weights after this many samples", options=list(range(len(samples))),
        format_func=lambda k: f"{samples[k]:,}" + (" (final)" if k == last else ""), key=key,
        label_visibility="collapsed" if compact else "visible",
        on_change=moved, help=f"{len(samples)} snapshots of this model's weights, log-spaced from its first batch "
                             "to the end of training. Every step, choice and verdict below uses the chosen one.")
    button_col.button("Stop replay" if view.replaying else "Play through training", key=ui.key("replay"),
                      icon=":material/stop:" if view.replaying else ":material/history:",
                      on_click=(lambda: setattr(view, "replaying", False)) if view.replaying else replay)
    return view.snapshot


def snapshot_note(samples: list[int] | None, snapshot: int | None) -> None:
    """Say so when the view uses weights from before the end of training."""
    if snapshot is not None:
        st.info(f"These are the model's weights after **{samples[snapshot]:,}** of its {samples[-1]:,} training "
                f"samples (snapshot {snapshot + 1} of {len(samples)}): every softmax, choice and verdict below is "
                "theirs.", icon=":material/history:")


def follow_replay(ui: ExploreState, view: View, key: str, samples: list[int] | None) -> None:
    """While Play through training runs, its timer: a fragment that moves to the next snapshot."""
    view.replay_fresh = True
    if view.replaying and samples:
        st.fragment(replay_tick, run_every=ui.speed)(key, len(samples))


def replay_tick(key: str, count: int) -> None:
    """Play through training's timer: the next snapshot, drawn by a whole-page rerun; stops at the final one."""
    view = page_state().views[key]
    if not view.replaying:
        return
    if view.replay_fresh:  # the run that drew this snapshot is this one: wait for the next tick
        view.replay_fresh = False
        return
    nxt = (view.snapshot or 0) + 1
    view.snapshot, view.replaying = (None, False) if nxt >= count - 1 else (nxt, True)
    st.rerun(scope="app")
