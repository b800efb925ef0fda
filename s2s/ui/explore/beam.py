"""The beam search view: the tree the search expanded (kept prefixes, the best path), beside greedy vs beam vs
sampled outputs (sampled with the sampling view's settings) with each output's total log-probability."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from s2s import charts
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour import fit
from s2s.ui.explore import sampling
from s2s.ui.explore.sampling import spell
from s2s.ui.explore.session import ExploreState

if TYPE_CHECKING:
    from s2s.ui.explore.views import Subject

LABEL = ":material/account_tree: Beam search"
PITCH = "**beam search** keeps the most probable partial outputs at every step and shows the tree it explored"


def outcomes_table(greedy, beam, samples, expected: list[int]) -> str:
    """Greedy, the beam's hypotheses and the most frequent samples, each with its total log-probability."""
    def mark(tokens) -> str:
        return ":green[:material/check_circle:]" if [int(v) for v in tokens] == expected else ":red[:material/cancel:]"
    rows = ["| strategy | output | log p (total) | |", "|---|---|---|---|",
            f"| greedy | **{spell(greedy.tokens[0])}** | {greedy.total_logp[0]:.3f} | {mark(greedy.tokens[0])} |"]
    for k in range(min(5, beam.tokens.shape[1])):
        rows.append(f"| beam #{k + 1} | **{spell(beam.tokens[0, k])}** | {beam.total[0, k]:.3f} | "
                    f"{mark(beam.tokens[0, k])} |")
    for out, count, logp in samples.counts()[:3]:
        rows.append(f"| sampled {count}/{len(samples.tokens)} at T = {samples.temperature:g} | **{spell(out)}** | "
                    f"{logp:.3f} | {mark(out)} |")
    return "\n".join(rows)


def show(subject: Subject, ui: ExploreState) -> None:
    width = st.slider("Beam width", 1, 10, 5, key=ui.key("beam_width"),
                      help="How many partial outputs survive each step. Width 1 is greedy decoding.")
    expected, greedy = subject.expected, subject.greedy
    try:
        beam = state.service().beam(subject.choice.directory, subject.source, width, subject.snapshot)
        samples = sampling.draw(ui, subject)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    tree_col, table_col = st.columns([1.6, 1])
    tree_col.plotly_chart(fit(charts.beam_tree_figure(beam.tree, expected)), key=ui.key("beam_chart"),
                          config={"displayModeBar": False})
    with table_col:
        st.markdown(outcomes_table(greedy, beam, samples, expected))
        best, found = beam.tokens[0, 0].tolist(), beam.tokens[0].tolist()
        if best != greedy.tokens[0].tolist():
            st.info(f"The search found a more probable output than greedy: {spell(best)} "
                    f"(log p {beam.total[0, 0]:.3f} vs {greedy.total_logp[0]:.3f}).", icon=":material/search:")
        elif expected in found and best != expected:
            st.info(f"The expected output is hypothesis #{found.index(expected) + 1}: the model prefers another.",
                    icon=":material/search:")
    st.caption(f"Each column is a decoder step. From every kept prefix (blue) the search expands its {width} most "
               "probable next tokens, labelled with their log-probability; only the "
               f"{width} most probable prefixes overall are kept, the rest (grey) are pruned. Green: the best "
               "output's path, red where it departs from the expected token.")
