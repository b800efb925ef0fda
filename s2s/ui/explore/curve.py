"""The learning curve view: the probability the model gave each expected token at every snapshot of its training,
and the snapshot from which the whole output stays right (greedy or the tutorial's loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from s2s import charts
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour import fit
from s2s.ui.explore.controls import FEEDS, feed_name
from s2s.ui.explore.session import ExploreState

if TYPE_CHECKING:
    from s2s.ui.explore.views import Subject

LABEL = ":material/show_chart: Learning curve"
PITCH = "the **learning curve** replays how this source's answer formed during training"


def show(subject: Subject, ui: ExploreState) -> None:
    samples = subject.timeline
    if not samples:
        st.info("This model has no training timeline: it was saved without snapshots of its weights. Every run "
                "trained in this app or with `python -m s2s train` keeps one, and so do the shipped models.",
                icon=":material/history_toggle_off:")
        return
    feed = st.radio("Decoder feedback", list(FEEDS), format_func=feed_name, horizontal=True,
                    key=ui.key("curve_feed"), index=list(FEEDS).index(ui.feed))
    try:
        curve = state.service().learning_curve(subject.choice.directory, subject.source, feed)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    shown = len(samples) - 1 if subject.snapshot is None else subject.snapshot
    st.plotly_chart(fit(charts.learning_curve_figure(curve, shown)), key=ui.key("curve_chart"),
                    config={"displayModeBar": False})
    learned = curve.learned_at
    st.markdown(
        f"Each line is one output step: the probability the model gave its expected token, at each of the "
        f"{len(samples)} snapshots of training. "
        + (f"From **{samples[learned]:,} samples** on, the whole output is right at every snapshot."
           if learned is not None else "At no point of training did the whole output stay right.")
        + " The grey line is the snapshot the page shows.")
