"""The sampling view: outputs drawn from the softmax at a temperature (seeded), each step's softmax at T beside the
model's own, and how often each output was drawn. Its settings live in the page's state: the beam view's table
samples with them too."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from s2s import charts
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour import fit
from s2s.ui.explore.session import ExploreState

if TYPE_CHECKING:
    from s2s.ui.explore.views import Subject

LABEL = ":material/casino: Sampling"
PITCH = "**sampling** draws tokens from the softmax at a temperature"
TEMPERATURES = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0]
DRAWS = [10, 20, 50, 100, 200, 500, 1000]


def spell(tokens) -> str:
    return "\u00a0".join(str(int(v)) for v in tokens)  # no-break spaces: an output never wraps in a table


def draw(ui: ExploreState, subject: Subject):
    """s2s.strategies.Samples of the source with the page's sampling settings."""
    settings = ui.sampling
    return state.service().sample(subject.choice.directory, subject.source, float(settings.temperature),
                                  int(settings.draws), int(settings.seed), subject.snapshot)


def settings_ui(ui: ExploreState) -> None:
    """Temperature, draws and seed, kept in the state (given back to the widgets when Streamlit forgot them)."""
    settings = ui.sampling
    for name, value in (("temperature", settings.temperature), ("draws", settings.draws), ("seed", settings.seed)):
        ui.restore(f"sample_{name}", value)
    cols = st.columns([2, 1.4, 1], vertical_alignment="bottom")
    settings.temperature = cols[0].select_slider(
        "Temperature T", TEMPERATURES, key=ui.key("sample_temperature"),
        help="Each step draws a token with probability ∝ p^(1/T): T < 1 sharpens the softmax towards greedy, "
             "T > 1 flattens it towards uniform.")
    settings.draws = cols[1].select_slider("Draws", DRAWS, key=ui.key("sample_draws"))
    settings.seed = cols[2].number_input("Seed", 0, 2**31 - 1, key=ui.key("sample_seed"))


def show(subject: Subject, ui: ExploreState) -> None:
    settings_ui(ui)
    try:
        samples = draw(ui, subject)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    temperature, draws, expected = ui.sampling.temperature, ui.sampling.draws, subject.expected
    counts = samples.counts()
    right = sum(n for out, n, _ in counts if list(out) == expected)
    figure_col, counts_col = st.columns([1.4, 1])
    with figure_col:
        st.markdown(f"**Each step's softmax along the greedy path**, at T = 1 (outline) and T = {temperature:g} (bars)")
        st.plotly_chart(fit(charts.temperature_figure(samples.greedy_probs, samples.greedy_tempered, temperature)),
                        key=ui.key("temperature_chart"), config={"displayModeBar": False})
    with counts_col:
        distinct = len(counts)
        st.markdown(f"**{draws} draws**: {distinct} distinct output{'s' if distinct > 1 else ''}; the expected one, "
                    f"{spell(expected)}, came {right} time{'' if right == 1 else 's'} ({right / draws:.0%}).")
        st.plotly_chart(fit(charts.samples_figure(counts, expected, draws)), key=ui.key("samples_chart"),
                        config={"displayModeBar": False})
