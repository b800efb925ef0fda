"""Pure functions from data to Plotly figures: training curves, per-step softmax, context heatmap, confusion.

No Streamlit here: every figure can be built and inspected in a test without a browser.
"""

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
    data = [dict(type="bar", x=drawn, y=probs[steps, drawn], base=bases[steps], customdata=steps + 1,
                 marker=dict(color=colors[steps, drawn], line=dict(width=widths[steps, drawn], color="#1f2937")),
                 hovertemplate="step %{customdata}, token %{x}: p = %{y:.4f}<extra></extra>"),
            dict(type="scatter", mode="text", x=labels["x"], y=labels["y"], text=labels["text"],
                 textposition="top center", textfont=dict(size=11, color=labels["color"]), hoverinfo="skip",
                 cliponaxis=False)] if shown else []
    context = np.stack([np.asarray(trace.context_h[0], float), np.asarray(trace.context_c[0], float)])
    data.append(dict(type="heatmap", z=context, y=["h", "c"], colorscale="RdBu", zmid=0, showscale=False,
                     xaxis="x2", yaxis="y2", hovertemplate="%{y}[%{x}] = %{z:.3f}<extra>context</extra>"))
    steps_height = n_out * row_height
    height = context_height + steps_height + 50
    split = steps_height / (steps_height + context_height)
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=10, b=40), showlegend=False, template="none",
        barmode="overlay", bargap=0.15, annotations=annotations,
        xaxis=dict(domain=[0, 1], anchor="y", range=[-0.6, n_classes - 0.4], dtick=max(1, n_classes // 25),
                   title=dict(text="token (0 = start)", standoff=4)),
        yaxis=dict(domain=[0, split - 0.04], anchor="x", range=[0, n_out * lift], zeroline=False,
                   tickvals=[(n_out - 1 - t) * lift for t in range(n_out)],
                   ticktext=[f"step {t + 1}" for t in range(n_out)]),
        xaxis2=dict(domain=[0, 1], anchor="y2", showticklabels=False, ticks=""),
        yaxis2=dict(domain=[split + 0.02, 1], anchor="x2"),
    )
    return go.Figure(data=data, layout=layout)


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
    layout = dict(height=height or 90 + 34 * steps, margin=dict(l=10, r=10, t=10, b=40), template="none",
                  showlegend=False, xaxis=dict(title=dict(text="source position: value", standoff=4), side="bottom"),
                  yaxis=dict(autorange="reversed"))
    return go.Figure(data=data, layout=layout)


def beam_tree_figure(tree, expected, height: int = 420) -> go.Figure:
    """The beam tree of one source (a list of s2s.strategies.BeamNode): columns are output steps, each node an
    expanded token with its log-probability. Kept prefixes are blue and labelled, pruned ones small and grey,
    the final best path green (red where it differs from the expected token); hover shows every number.
    Within a column, nodes follow their parents' order, then their own probability."""
    n_out = max((node.step for node in tree), default=-1) + 1
    rank = {-1: 0.0}  # node -> its y in [0, 1] (top = 1); the start token is centred
    for t in range(n_out):
        column = sorted((i for i, node in enumerate(tree) if node.step == t),
                        key=lambda i: (-rank[tree[i].parent], -tree[i].logp))
        for position, i in enumerate(column):
            rank[i] = 1 - position / max(1, len(column) - 1) * 2 if len(column) > 1 else 0.0
    edges = {"pruned": ([], []), "kept": ([], []), "best": ([], [])}
    for i, node in enumerate(tree):
        kind = "best" if node.best else "kept" if node.kept else "pruned"
        xs, ys = edges[kind]
        xs += [node.step, node.step + 1, None]
        ys += [rank[node.parent], rank[i], None]
    style = {"pruned": ("#d1d5db", 1), "kept": ("#93c5fd", 2), "best": ("#2ca02c", 4)}
    data = [dict(type="scatter", mode="lines", x=xs, y=ys, hoverinfo="skip", name=f"{k} edges",
                 line=dict(color=style[k][0], width=style[k][1])) for k, (xs, ys) in edges.items()]
    for kind in ("pruned", "kept"):
        nodes = [i for i, node in enumerate(tree) if (node.kept or node.best) == (kind == "kept")]
        colors = ["#d62728" if tree[i].best and tree[i].token != expected[tree[i].step] else
                  "#2ca02c" if tree[i].best else "#1f77b4" if kind == "kept" else "#9ca3af" for i in nodes]
        data.append(dict(
            type="scatter", mode="markers+text" if kind == "kept" else "markers", name=kind,
            x=[tree[i].step + 1 for i in nodes], y=[rank[i] for i in nodes],
            text=[f"{tree[i].token} ({tree[i].logp:.2f})" for i in nodes], textposition="top center",
            textfont=dict(size=11, color=colors),
            marker=dict(size=13 if kind == "kept" else 6, color=colors, line=dict(width=1, color="white")),
            customdata=[[tree[i].token, tree[i].logp, np.exp(tree[i].logp), tree[i].total, kind] for i in nodes],
            hovertemplate="step %{x}: token %{customdata[0]}<br>log p = %{customdata[1]:.3f} "
                          "(p = %{customdata[2]:.2%})<br>prefix total %{customdata[3]:.3f}<br>%{customdata[4]}"
                          "<extra></extra>"))
    data.append(dict(type="scatter", mode="markers+text", x=[0], y=[0.0], text=["start (0)"], name="start",
                     textposition="middle left", marker=dict(size=13, color="#1f2937"), hoverinfo="skip"))
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=10, b=40), showlegend=False, template="none",
        xaxis=dict(range=[-0.6, n_out + 0.7], tickvals=list(range(n_out + 1)),
                   ticktext=["start"] + [f"step {t + 1}" for t in range(n_out)], showgrid=False, zeroline=False),
        yaxis=dict(range=[-1.1, 1.1], visible=False),
    )
    return go.Figure(data=data, layout=layout)


def temperature_figure(probs, tempered, temperature: float, row_height: int = 110) -> go.Figure:
    """Each step's softmax along the greedy path (grey outline) and the same softmax at the temperature (bars):
    one row per step on a shared token axis, as in decode_figure."""
    probs, tempered = np.asarray(probs, float), np.asarray(tempered, float)
    n_out, n_classes = probs.shape
    lift, x = 1.3, np.arange(n_classes)
    data = []
    for t in range(n_out):
        base = (n_out - 1 - t) * lift
        data.append(dict(type="bar", x=x, y=tempered[t], base=base, marker=dict(color="#9467bd"),
                         name=f"T = {temperature:g}", showlegend=t == 0,
                         hovertemplate=f"step {t + 1}, token %{{x}}: p = %{{y:.4f}} at T = {temperature:g}"
                                       "<extra></extra>"))
        data.append(dict(type="scatter", mode="lines", x=x, y=probs[t] + base, line=dict(
            shape="hvh", color="#374151", width=1.2), name="T = 1 (the model)", showlegend=t == 0,
            hovertemplate=f"step {t + 1}, token %{{x}}: p = %{{customdata:.4f}} at T = 1<extra></extra>",
            customdata=probs[t]))
    layout = dict(
        height=n_out * row_height + 80, margin=dict(l=10, r=10, t=30, b=40), template="none", barmode="overlay",
        bargap=0.15, legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"),
        xaxis=dict(range=[-0.6, n_classes - 0.4], dtick=max(1, n_classes // 25), title="token"),
        yaxis=dict(range=[0, n_out * lift], zeroline=False, tickvals=[(n_out - 1 - t) * lift for t in range(n_out)],
                   ticktext=[f"step {t + 1}" for t in range(n_out)]),
    )
    return go.Figure(data=data, layout=layout)


def samples_figure(counts, expected, total_draws: int, top: int = 12, row_height: int = 26) -> go.Figure:
    """How often each distinct output was drawn (the `top` most frequent), labelled with its log-probability
    under the model; the expected output is green."""
    rows = list(counts)[:top][::-1]
    labels = [f"{' '.join(map(str, out))}  (log p {lp:.2f})" for out, _, lp in rows]
    colors = ["#2ca02c" if list(out) == list(expected) else "#9467bd" for out, _, _ in rows]
    data = [dict(type="bar", orientation="h", y=labels, x=[n / total_draws for _, n, _ in rows],
                 marker=dict(color=colors), text=[str(n) for _, n, _ in rows], textposition="outside",
                 cliponaxis=False,
                 hovertemplate="%{y}: %{x:.1%} of the draws<extra></extra>")]
    layout = dict(height=len(rows) * row_height + 70, margin=dict(l=10, r=40, t=10, b=40), template="none",
                  xaxis=dict(tickformat=".0%", title=f"share of {total_draws} draws", rangemode="tozero"),
                  yaxis=dict(automargin=True))
    return go.Figure(data=data, layout=layout)


def context_space_figure(space, colouring: str, label: str, height: int = 440) -> go.Figure:
    """The contexts of a ContextSpace in their first two principal components, coloured by `colouring` (see
    ContextSpace.labels); hover shows each point's source and target; the typed source is a star."""
    values = space.labels(colouring)
    # Each point's source and target as numbers (sent as a binary array), spelled out by the hover template.
    n_in, n_out = space.sources.shape[1], space.targets.shape[1]
    spelled = " ".join(f"%{{customdata[{i}]}}" for i in range(n_in)) + " → " + " ".join(
        f"%{{customdata[{n_in + j}]}}" for j in range(n_out))
    data = [dict(type="scattergl", mode="markers", x=space.coords[:, 0], y=space.coords[:, 1],
                 marker=dict(size=5, color=values, colorscale="Turbo",
                             colorbar=dict(title=dict(text=label, side="right"), thickness=12)),
                 customdata=np.concatenate([space.sources, space.targets, values[:, None]], axis=1),
                 name="random sources",
                 hovertemplate=spelled + f"<br>{label} = %{{customdata[{n_in + n_out}]}}<extra></extra>")]
    if space.point is not None:
        data.append(dict(type="scatter", mode="markers+text", x=[space.point[0]], y=[space.point[1]],
                         marker=dict(symbol="star", size=20, color="#111827", line=dict(width=1.5, color="white")),
                         text=["your source"], textposition="top center", name="your source",
                         hovertemplate="your source<extra></extra>"))
    explained = space.pca.explained
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=40), template="none", showlegend=False,
                  xaxis=dict(title=f"PC 1 ({explained[0]:.1%} of the variance)", zeroline=False),
                  yaxis=dict(title=f"PC 2 ({explained[1]:.1%})", zeroline=False))
    return go.Figure(data=data, layout=layout)


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
