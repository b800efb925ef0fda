"""Figures of how a model trained: loss and accuracy curves (live and compared), a source's learning curve
and held-out accuracy over a timeline's snapshots, and a sweep's grid of runs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def smooth(values, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with TensorBoard's bias correction."""
    out, last = np.empty(len(values)), 0.0
    for i, value in enumerate(values):
        last = weight * last + (1 - weight) * value
        out[i] = last / (1 - weight ** (i + 1))
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def training_figure(runs: list[tuple[str, dict]], log_loss: bool = False, height: int = 380) -> go.Figure:
    """Loss (left) and accuracies (right) against samples seen, for one run or several overlaid.

    `runs` holds (label, history) pairs, each history a `History.downsampled()` dict (a few hundred points).
    The two panels are laid out by hand: plotly's make_subplots costs more than the rest of a live redraw."""
    traces = []
    for i, (label, history) in enumerate(runs):
        if not history.get("loss"):
            continue
        color = COLORS[i % len(COLORS)]
        prefix = f"{label}: " if len(runs) > 1 else ""
        # numpy arrays: plotly passes them through as binary instead of validating every element of a list
        x, loss = np.asarray(history["samples"], float), np.asarray(history["loss"], float)
        common = dict(type="scatter", mode="lines", x=x, legendgroup=label)
        traces += [
            dict(common, y=loss, name=f"{prefix}loss (raw)", showlegend=len(runs) == 1,
                 line=dict(color=_rgba(color, 0.25), width=1)),
            dict(common, y=smooth(loss, 0.8), name=f"{prefix}loss (smoothed)",
                 line=dict(color=color, width=2)),
            dict(common, y=smooth(history["token_accuracy"], 0.8), name=f"{prefix}token accuracy",
                 xaxis="x2", yaxis="y2", line=dict(color=color, width=1.5, dash="dot")),
        ]
        if history.get("eval_exact"):
            traces.append(dict(common, x=np.asarray(history["eval_samples"], float),
                               y=np.asarray(history["eval_exact"], float), mode="lines+markers",
                               name=f"{prefix}held-out exact accuracy", xaxis="x2", yaxis="y2",
                               marker=dict(size=6), line=dict(color=color, width=2.5)))
    title = dict(xref="paper", yref="paper", y=1.0, yanchor="bottom", showarrow=False, font=dict(size=14))
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=40, b=10), uirevision="training", template="none",
        xaxis=dict(domain=[0, 0.46], title="samples seen"),
        yaxis=dict(type="log" if log_loss else "linear"),
        xaxis2=dict(domain=[0.54, 1], title="samples seen"),
        yaxis2=dict(anchor="x2", range=[0, 1.02], tickformat=".0%"),
        annotations=[dict(title, x=0.23, text="Loss per batch"), dict(title, x=0.77, text="Accuracy")],
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
    )
    return go.Figure(data=traces, layout=layout)


def learning_curve_figure(curve, selected: int | None = None, height: int = 320) -> go.Figure:
    """How one source was learned (an s2s.replay.LearningCurve): per output step, the probability of its expected
    token at each snapshot against samples seen (log axis). Snapshots where the whole output was right are
    marked along the top; a dotted line marks the first from which it stays right, a grey one the snapshot
    shown (index `selected`)."""
    samples = np.asarray(curve.samples, float)
    data = []
    for t in range(curve.expected_prob.shape[1]):
        data.append(dict(type="scatter", mode="lines+markers", x=samples, y=curve.expected_prob[:, t],
                         name=f"step {t + 1} (expects {int(curve.expected[t])})", marker=dict(size=5),
                         line=dict(color=COLORS[t % len(COLORS)], width=2),
                         hovertemplate=f"step {t + 1}: p({int(curve.expected[t])}) = %{{y:.3f}} after "
                                       "%{x:,} samples<extra></extra>"))
    right = np.flatnonzero(curve.correct)
    data.append(dict(type="scatter", mode="markers", x=samples[right], y=np.full(len(right), 1.06),
                     name="whole output right", marker=dict(symbol="square", size=7, color="#2ca02c"),
                     hovertemplate="right after %{x:,} samples<extra></extra>"))
    shapes, annotations = [], []
    if curve.learned_at is not None:
        x = samples[curve.learned_at]
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1.1, line=dict(color="#2ca02c", dash="dot")))
        annotations.append(dict(x=np.log10(x), y=1.1, yanchor="bottom", showarrow=False, font=dict(size=11),
                                text=f"right from {int(x):,} samples on"))
    if selected is not None:
        x = samples[selected]
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1.1, line=dict(color="#6b7280", width=3),
                           opacity=0.35))
    layout = dict(height=height, margin=dict(l=10, r=10, t=30, b=40), template="none", shapes=shapes,
                  annotations=annotations, legend=dict(orientation="h", x=0, y=-0.25),
                  xaxis=dict(type="log", title="samples seen"),
                  yaxis=dict(range=[0, 1.12], title="p(expected token)", tickformat=".0%"))
    return go.Figure(data=data, layout=layout)


def accuracy_over_training_figure(accuracy, height: int = 320) -> go.Figure:
    """Held-out accuracy of each output step and of the whole output at every snapshot (an
    s2s.replay.AccuracyOverTraining), against samples seen (log axis)."""
    samples = np.asarray(accuracy.samples, float)
    data = [dict(type="scatter", mode="lines+markers", x=samples, y=accuracy.per_position[:, t],
                 name=f"step {t + 1}", marker=dict(size=5), line=dict(color=COLORS[t % len(COLORS)], width=2),
                 hovertemplate=f"step {t + 1}: %{{y:.1%}} after %{{x:,}} samples<extra></extra>")
            for t in range(accuracy.per_position.shape[1])]
    data.append(dict(type="scatter", mode="lines", x=samples, y=accuracy.exact, name="whole output (exact)",
                     line=dict(color="#111827", width=3, dash="dash"),
                     hovertemplate="exact: %{y:.1%} after %{x:,} samples<extra></extra>"))
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=40), template="none",
                  legend=dict(orientation="h", x=0, y=-0.25), xaxis=dict(type="log", title="samples seen"),
                  yaxis=dict(range=[0, 1.02], title=f"accuracy on {accuracy.n:,} sequences", tickformat=".0%"))
    return go.Figure(data=data, layout=layout)


def sweep_figure(axes: list[tuple[str, list]], grid: list[list[float | None]], label: str, percent: bool,
                 hover: list[list[str]], height: int = 340) -> go.Figure:
    """A sweep's figure of every run: a heatmap over two varied settings (`axes`: (name, values) each; `grid`
    rows follow the first, columns the second), or one line over one setting (`grid` a column). None: no result
    yet. `hover`: each cell's text (its settings and held-out curve), shaped like `grid`."""
    def shown(v):
        return "…" if v is None else (f"{100 * v:.1f} %" if percent else f"{v:,.0f}")
    tickformat = ".0%" if percent else ",d"
    if len(axes) == 2:
        (row_name, rows), (col_name, cols) = axes
        z = [[np.nan if v is None else v for v in row] for row in grid]
        data = [dict(type="heatmap", z=z, x=[str(c) for c in cols], y=[str(r) for r in rows],
                     colorscale="Viridis", zmin=0 if percent else None, zmax=1 if percent else None,
                     text=[[shown(v) for v in row] for row in grid], texttemplate="%{text}",
                     customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                     colorbar=dict(title=dict(text=label), tickformat=tickformat))]
        layout = dict(xaxis=dict(title=dict(text=col_name), type="category"),
                      yaxis=dict(title=dict(text=row_name), type="category"))
    else:
        (name, values), = axes
        ys = [row[0] for row in grid]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = list(values) if numeric else [str(v) for v in values]
        data = [dict(type="scatter", mode="lines+markers+text", x=xs, y=ys, text=[shown(v) for v in ys],
                     textposition="top center", customdata=[row[0] for row in hover], line=dict(color=COLORS[0]),
                     marker=dict(size=9), hovertemplate="%{customdata}<extra></extra>", name=label)]
        layout = dict(xaxis=dict(title=dict(text=name), type="log" if numeric and min(values) > 0
                                 and max(values) / min(values) >= 8 else "linear" if numeric else "category"),
                      yaxis=dict(title=dict(text=label), tickformat=tickformat,
                                 range=[-0.02, 1.08] if percent else None))
    layout.update(height=height, margin=dict(l=10, r=10, t=10, b=40), template="none")
    return go.Figure(data=data, layout=layout)
