"""Figures of the decoding strategies and the context space: the beam tree, a temperature's effect on a
softmax, the outputs drawn by sampling, and the sources' contexts in their first two principal components."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

KEPT_ROOM = 3.0  # see beam_tree_figure


def beam_tree_figure(tree, expected, height: int = 420) -> go.Figure:
    """The beam tree of one source (a list of s2s.strategies.BeamNode): columns are output steps, each node an
    expanded token with its log-probability. Kept prefixes are blue and labelled, pruned ones small and grey,
    the final best path green (red where it differs from the expected token); hover shows every number.
    Within a column, nodes follow their parents' order, then their own probability; a kept node has KEPT_ROOM
    times a pruned one's room."""
    n_out = max((node.step for node in tree), default=-1) + 1
    rank = {-1: 0.0}  # node -> its y in [-1, 1] (top = 1); the start token is centred
    for t in range(n_out):
        column = sorted((i for i, node in enumerate(tree) if node.step == t),
                        key=lambda i: (-rank[tree[i].parent], -tree[i].logp))
        # A labelled (kept) node gets KEPT_ROOM times a pruned one's room: evenly spaced, kept siblings sat ~8 px
        # apart in a beam of 5 and their labels ran into each other.
        room = [KEPT_ROOM if tree[i].kept or tree[i].best else 1.0 for i in column]
        middles = np.cumsum(room) - np.asarray(room) / 2  # each node at the middle of its room
        span = middles[-1] - middles[0]
        for i, middle in zip(column, middles):
            rank[i] = 1 - 2 * (middle - middles[0]) / span if span else 0.0
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
            text=[f"{tree[i].token} ({tree[i].logp:.2f})" for i in nodes],
            # The last column's labels go to the right, where no edge leaves: above, two kept siblings' labels
            # (a column of width² nodes, ~13 px apart) overlapped.
            textposition=["middle right" if tree[i].step == n_out - 1 else "top center" for i in nodes],
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
        yaxis=dict(range=[-1.1, 1.22], visible=False),  # room above the top row for its labels
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
