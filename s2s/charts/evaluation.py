"""Figures of an evaluation: the confusion matrix of one output position, error rate by source value,
accuracy per output position, and exact accuracy over source lengths."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

def confusion_figure(confusion, position: int, height: int = 480) -> go.Figure:
    """Expected vs predicted token counts at one output position (log color scale: errors are rare)."""
    matrix = np.asarray(confusion[position], float)
    figure = go.Figure(go.Heatmap(z=np.log10(matrix + 1), customdata=matrix, colorscale="Blues",
                                  colorbar=dict(title="log10(n+1)", thickness=10),
                                  hovertemplate="expected %{y}, predicted %{x}: %{customdata:.0f}<extra></extra>"))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                         xaxis=dict(title="predicted", constrain="domain"),
                         yaxis=dict(title="expected", autorange="reversed", scaleanchor="x"))
    return figure


def error_by_value_figure(error_rate, height: int = 260) -> go.Figure:
    """How often each expected value is predicted wrong (values never seen are left out)."""
    rate = np.asarray(error_rate, float)
    values = np.flatnonzero(~np.isnan(rate))
    figure = go.Figure(go.Bar(x=values, y=rate[values], marker_color="#d62728",
                              hovertemplate="value %{x}: %{y:.2%} wrong<extra></extra>"))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=30),
                         xaxis=dict(title="expected value"), yaxis=dict(title="error rate", tickformat=".1%"))
    return figure


def per_position_figure(per_position, height: int = 220) -> go.Figure:
    values = np.asarray(per_position, float)
    figure = go.Figure(go.Bar(x=[f"t = {i + 1}" for i in range(len(values))], y=values, marker_color="#1f77b4",
                              text=[f"{v:.2%}" for v in values], textposition="outside"))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=30),
                         yaxis=dict(range=[0, 1.1], tickformat=".0%", title="accuracy"))
    return figure


def generalization_figure(lengths, curves: dict[str, list[float]], trained_on: dict[str, int],
                          height: int = 360) -> go.Figure:
    """Exact accuracy per source length, one line per model (`curves`: label -> accuracy at each length), each
    model's training length marked on its line by a large ring."""
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    data = []
    for i, (label, accuracy) in enumerate(curves.items()):
        color = palette[i % len(palette)]
        data.append(dict(type="scatter", mode="lines+markers", x=list(lengths), y=list(accuracy), name=label,
                         line=dict(color=color, width=2), marker=dict(size=6, color=color),
                         hovertemplate=f"{label}<br>%{{x}} values: %{{y:.1%}} exact<extra></extra>"))
        if trained_on.get(label) in list(lengths):
            at = list(lengths).index(trained_on[label])
            data.append(dict(type="scatter", mode="markers", x=[trained_on[label]], y=[accuracy[at]],
                             showlegend=False, hoverinfo="skip",
                             marker=dict(symbol="circle-open", size=16, color=color, line=dict(width=2))))
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=40), template="none",
                  legend=dict(orientation="h", y=-0.25),
                  xaxis=dict(title=dict(text="source length (ringed: the length it was trained on)"), dtick=1),
                  yaxis=dict(title=dict(text="exact accuracy"), range=[-0.02, 1.05], tickformat=".0%"))
    return go.Figure(data=data, layout=layout)
