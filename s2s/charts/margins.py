"""Margins set before drawing, for the figures redrawn on every Enter.

Plotly grows a figure's margins to fit its tick labels, colour bar and axis titles (`automargin`, on by default)
by drawing the figure, measuring what sticks out and drawing it all again. Streamlit mounts a new plot for every
changed figure (a chart's element id hashes its spec), so each Enter paid that second drawing in full: on
reverse-all-attention, 847 of the 2,098 ms that Plotly spent over 10 Enters (a CPU profile of the page).

These figures set margins wide enough for their labels instead and switch the growing off. Presenter mode's larger
type switches it back on (s2s.ui.tour.fit): correct labels on a projector are worth one more drawing there.
"""

from __future__ import annotations

from collections.abc import Iterable

CHAR_PX = 7  # px: a generous width of one tick-label character at Streamlit's 12 px chart font


def label_px(labels: Iterable) -> int:
    """The width of the longest of `labels`, in px at the chart font."""
    return CHAR_PX * max((len(str(label)) for label in labels), default=0)


def fixed_margins(layout: dict, left: int, right: int = 10, top: int = 10, bottom: int = 40) -> dict:
    """`layout` with these margins, never grown: automargin off on each of its axes, and neither a colour bar nor a
    legend pushes them."""
    layout["margin"] = dict(l=left, r=right, t=top, b=bottom, autoexpand=False)
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            axis["automargin"] = False
    return layout
