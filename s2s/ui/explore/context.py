"""The context space view: the encoder's final (h, c) of thousands of random sources in their first two principal
components, coloured by an output or source position, the source shown starred, and how well the colouring
separates the points (nearest-neighbour agreement vs chance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from s2s import charts
from s2s.service import ServiceError
from s2s.strategies import CONTEXT_SEED, DEFAULT_CONTEXT_SOURCES
from s2s.ui import state
from s2s.ui.tour import fit
from s2s.ui.explore.session import ExploreState

if TYPE_CHECKING:
    from s2s.ui.explore.views import Subject

LABEL = ":material/scatter_plot: Context space"
PITCH = "**context space** places this source's encoder state among thousands of others"


def colouring_label(name: str, problem) -> str:
    """A colouring's name, with the output step or source position it equals under the task (sorting has none)."""
    kind, _, index = name.partition(":")
    j = int(index)
    copies = None if problem.task == "sort-prefix" else problem.copied_position  # output i copies source copies(i)
    if kind == "out":
        return f"expected output {j + 1}" + (f" (= source value {copies(j) + 1})" if copies else "")
    outputs = [i for i in range(problem.n_out) if copies and copies(i) == j]
    if outputs:
        return f"source value {j + 1} (= expected output {outputs[0] + 1})"
    return f"source value {j + 1}" + (" (not in the target)" if j >= problem.n_out else "")


def show(subject: Subject, ui: ExploreState) -> None:
    problem, config = subject.choice.problem, subject.choice.config
    cols = st.columns([2, 1], vertical_alignment="bottom")
    n = cols[1].select_slider("Random sources", [500, 1000, 2000, 5000], value=DEFAULT_CONTEXT_SOURCES,
                              key=ui.key("context_n"))
    try:
        space = state.service().context_space(subject.choice.directory, int(n), CONTEXT_SEED, subject.source,
                                              subject.snapshot)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    names = space.colourings()
    colouring = cols[0].selectbox("Colour by", names, format_func=lambda k: colouring_label(k, problem),
                                  key=ui.key("context_colouring"))
    label = colouring_label(colouring, problem)
    st.plotly_chart(fit(charts.context_space_figure(space, colouring, label.split(" (")[0])),
                    key=ui.key("context_chart"), config={"displayModeBar": False})
    agree, chance = space.separation[colouring]
    best = max(names, key=lambda k: space.separation[k][0] - space.separation[k][1])
    best_agree, best_chance = space.separation[best]
    explained = space.pca.explained
    st.markdown(
        f"Each point is one random source's context: the encoder's final h and c ({2 * config.layers * config.units} "
        f"numbers{'; attention also reads the encoder outputs, not shown here' if config.attention else ''}), "
        "projected "
        f"on the two directions along which the {n:,} contexts vary most. They hold {explained[0]:.1%} and "
        f"{explained[1]:.1%} of the variance, so this plane is a thin slice of the context. Coloured by "
        f"{label}, a point's nearest neighbour in the plane has the same colour for **{agree:.1%}** of the points "
        f"(chance: {chance:.1%}). Of all the colourings, **{colouring_label(best, problem)}** separates best "
        f"({best_agree:.1%} vs {best_chance:.1%} by chance)"
        + (": the value the decoder must write first is what the context's main directions carry most."
           if best == "out:0" else ".") + " The star is your source.")
