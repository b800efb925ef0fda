"""Explore following a run of this session that is still training: a timer that redraws the page when the run has
sent newer weights, or has ended (then its saved model takes the live one's place)."""

from __future__ import annotations

import streamlit as st

from s2s.ui import state
from s2s.ui.explore.session import page_state

LIVE_REFRESH_SECONDS = 1.5  # how often a page watching a run still training looks for newer weights


def live_note(job, seen: int) -> None:
    """Which weights the page shows, and the timer that follows newer ones."""
    total = job.progress.total_samples or job.spec.train.samples
    st.info(f"Live: run {job.id}'s newest weights, after **{seen:,}** of its {total:,} training samples. "
            "The view follows them as the run trains.", icon=":material/sensors:")
    follow_live(job.id, seen)


def follow_live(job_id: int, seen: int) -> None:
    page_state().live_fresh = True
    st.fragment(live_tick, run_every=LIVE_REFRESH_SECONDS)(job_id, seen)


def live_tick(job_id: int, seen: int) -> None:
    """While a run trains, redraw the page when it has sent newer weights (or ended: then its saved model
    takes over)."""
    ui = page_state()
    if ui.live_fresh:  # drawn by the page run this fragment belongs to: look again at the next tick
        ui.live_fresh = False
        return
    job = next((j for j in state.my_jobs() if j.id == job_id), None)
    if job is None or job.status != "running" or (job.progress.live_samples or 0) > seen:
        st.rerun(scope="app")
