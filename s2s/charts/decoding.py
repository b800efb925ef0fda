"""Figures of one decode: every step's softmax under the encoder's context, and the attention heatmap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from s2s.charts.margins import fixed_margins, label_px

VISIBLE_BAR_PX = 0.5  # a softmax bar shorter than this is not drawn (see decode_figure)


def decode_figure(trace, expected, shown: int, context_height: int = 70, row_height: int = 110) -> go.Figure:
    """One figure for a whole decode: the encoder's final (h, c) on top; below, one row per decoder step holding
    its softmax over all tokens as bars on a shared token axis (the first `shown` rows filled in). The chosen
    token is green when right and red when wrong, with its probability; the expected token is outlined and
    marked with an arrow when it was not chosen; a bar under VISIBLE_BAR_PX tall is left out (hover shows the
    others' probabilities). Rows share one pair of axes (bars lifted by `base`) and one bar trace: few axes and
    few elements are what a browser draws fastest (measured: 0.18 s p50 for a decode vs 0.24 s for four separate
    figures; on reverse-all-attention's 12 steps, Enter -> heatmap p50 0.397 s with a trace per step and every
    bar, 0.296 s with one trace of the visible bars)."""
    probs = np.asarray(trace.probs[0], float)
    tokens = np.asarray(trace.tokens[0])
    n_out, n_classes = probs.shape
    lift = 1.3  # a row's height in probability units: 1 for the bars, the rest for labels
    bases = (n_out - 1 - np.arange(shown)) * lift
    colors = np.full((shown, n_classes), "#b0b7c3", dtype=object)
    widths = np.zeros((shown, n_classes))
    annotations = []
    labels = {"x": [], "y": [], "text": [], "color": []}  # the chosen tokens' labels: one text trace, not annotations
    for t, base in enumerate(bases):
        chosen, want = int(tokens[t]), int(expected[t])
        colors[t, chosen] = "#2ca02c" if chosen == want else "#d62728"
        widths[t, want] = 2.5
        for name, value in zip(labels, (chosen, base + probs[t, chosen], f"{chosen} ({probs[t, chosen]:.1%})",
                                        colors[t, chosen])):
            labels[name].append(value)
        if chosen != want:  # right: the outlined green bar says it all; wrong: point at what was expected
            annotations.append(dict(x=want, y=base + probs[t, want], ax=0, ay=-24, arrowhead=2, arrowsize=0.8,
                                    text=f"expected {want}", font=dict(size=11, color="#1f2937")))
    # Every shown step's bars in one trace, and only those a viewer can see (at least VISIBLE_BAR_PX tall) besides
    # the chosen and expected tokens: a browser draws each bar as an element of its own, and a trained model's
    # softmax puts nearly all of its mass on a few tokens (12 steps x 51 tokens: 612 bars, of which ~30 visible).
    visible = probs[:shown] * row_height / lift >= VISIBLE_BAR_PX
    visible |= widths > 0
    visible[np.arange(shown), tokens[:shown]] = True
    steps, drawn = np.nonzero(visible)
    # Each bar one token wide (less the gap): Plotly would size them by the closest two tokens drawn, so 3 bars of a
    # confident decode came out 4 tokens wide.
    data = [dict(type="bar", x=drawn, y=probs[steps, drawn], base=bases[steps], customdata=steps + 1, width=0.85,
                 marker=dict(color=colors[steps, drawn], line=dict(width=widths[steps, drawn], color="#1f2937")),
                 hovertemplate="step %{customdata}, token %{x}: p = %{y:.4f}<extra></extra>"),
            dict(type="scatter", mode="text", x=labels["x"], y=labels["y"], text=labels["text"],
                 textposition="top center", textfont=dict(size=11, color=labels["color"]), hoverinfo="skip",
                 cliponaxis=False)]  # empty before the first step, which still draws the rows' axes
    context = np.stack([np.asarray(trace.context_h[0], float), np.asarray(trace.context_c[0], float)])
    data.append(dict(type="heatmap", z=context, y=["h", "c"], colorscale="RdBu", zmid=0, showscale=False,
                     xaxis="x2", yaxis="y2", hovertemplate="%{y}[%{x}] = %{z:.3f}<extra>context</extra>"))
    steps_height = n_out * row_height
    height = context_height + steps_height + 50
    split = steps_height / (steps_height + context_height)
    layout = dict(
        height=height, showlegend=False, template="none", barmode="overlay", bargap=0.15, annotations=annotations,
        xaxis=dict(domain=[0, 1], anchor="y", range=[-0.6, n_classes - 0.4], dtick=max(1, n_classes // 25),
                   title=dict(text="token (0 = start)", standoff=4)),
        yaxis=dict(domain=[0, split - 0.04], anchor="x", range=[0, n_out * lift], zeroline=False,
                   tickvals=[(n_out - 1 - t) * lift for t in range(n_out)],
                   ticktext=[f"step {t + 1}" for t in range(n_out)]),
        xaxis2=dict(domain=[0, 1], anchor="y2", showticklabels=False, ticks=""),
        yaxis2=dict(domain=[split + 0.02, 1], anchor="x2"),
    )
    # Right: room for half of a chosen token's label over the last token, or of that token's tick label.
    return go.Figure(data=data, layout=fixed_margins(layout, left=label_px(layout["yaxis"]["ticktext"]) + 10,
                                                      right=label_px([*labels["text"], n_classes - 1]) // 2 + 5))


def attention_figure(weights, source, tokens, aligned, shown: int, height: int | None = None) -> go.Figure:
    """A decode's attention as a heatmap: one row per output step (the first `shown` filled in), one column per
    source position, the weight the step gave it; a ring marks the position the task says each step should read
    (`aligned`), so a learned reversal shows its anti-diagonal inside the rings."""
    weights = np.asarray(weights, float)
    steps, length = weights.shape
    z = np.full((steps, length), np.nan)
    z[:shown] = weights[:shown]
    columns = [f"{j + 1}: {int(v)}" for j, v in enumerate(source)]
    rows = [f"step {t + 1} → {int(tokens[t])}" if t < shown else f"step {t + 1}" for t in range(steps)]
    data = [dict(type="heatmap", z=z, x=columns, y=rows, colorscale="Blues", zmin=0, zmax=1, xgap=2, ygap=2,
                 colorbar=dict(title=dict(text="weight"), thickness=10),
                 hovertemplate="%{y}, source %{x}: weight %{z:.3f}<extra></extra>"),
            dict(type="scatter", mode="markers", x=[columns[int(j)] for j in aligned], y=rows,
                 marker=dict(symbol="circle-open", size=16, color="#d62728", line=dict(width=2)),
                 name="where the task reads", hovertemplate="%{y}: the task reads source %{x}<extra></extra>")]
    layout = dict(height=height or 90 + 34 * steps, template="none", showlegend=False,
                  xaxis=dict(title=dict(text="source position: value", standoff=4), side="bottom"),
                  yaxis=dict(autorange="reversed"))
    # Below: the column labels, turned when they crowd (up to 90°), and the title; right: the colour bar.
    layout = fixed_margins(layout, left=label_px(rows) + 10, right=70, bottom=label_px(columns) + 30)
    return go.Figure(data=data, layout=layout)
