"""Explore's strategy views of the source shown, below the stepping: the registry (a view is one module with a
LABEL, a PITCH and show(subject, ui); adding one is a new module and one line in VIEWS) and the fragment that
draws the one picked, so that picking a view or moving its settings redraws only that."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from s2s.decode import Trace
from s2s.ui import state
from s2s.ui.explore import beam, context, curve, sampling
from s2s.ui.explore.session import ExploreState, page_state

VIEWS = {"curve": curve, "beam": beam, "sample": sampling, "context": context}


@dataclass(frozen=True)
class Subject:
    """What every strategy view looks at: the source shown, with the weights the page shows (a training
    snapshot, or the final weights)."""

    choice: state.ModelChoice
    source: list[int]
    expected: list[int]
    greedy: Trace                 # greedy decoding without the what-if
    timeline: list[int] | None    # samples seen at each snapshot of the model's training; None without one
    snapshot: int | None          # the snapshot the page shows; None: the final weights


def strategies_ui(subject: Subject, fixed: str | None = None) -> None:
    """The strategy views: a fragment of its own (call it through st.fragment). With `fixed` (a tour's scene in
    presenter mode), that view alone, without the picker."""
    ui: ExploreState = page_state()
    if subject.choice.job is not None:
        st.caption("The learning curve, beam search, sampling and the context space open once this run has ended "
                   "and its model is saved.")
        return
    if fixed in VIEWS:
        VIEWS[fixed].show(subject, ui)
        return
    name = st.segmented_control("Strategy view", list(VIEWS), format_func=lambda k: VIEWS[k].LABEL,
                                key=ui.key("strategy"), label_visibility="collapsed")
    if name in VIEWS:
        VIEWS[name].show(subject, ui)
    else:
        st.caption("Pick a view: " + "; ".join(view.PITCH for view in VIEWS.values()) + ".")
