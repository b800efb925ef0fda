"""Pure pieces the UI process relies on: the decode figure, history increments across processes, and the card
commands of a published model. None of them needs TensorFlow."""

import json

import numpy as np
import pytest

from s2s import charts, store
from s2s.data import target_of
from s2s.decode import decode
from s2s.history import History


def test_decode_figure_draws_each_shown_step_with_its_choice(tiny_model):
    source = np.array([[3, 1, 4, 1]])
    trace = decode(tiny_model, source, forced={0: 9})  # step 1 forced to a wrong token
    expected = target_of(tiny_model.problem, source)[0].tolist()
    figure = charts.decode_figure(trace, expected, shown=2)
    bars = [t for t in figure.data if t.type == "bar"]
    assert len(bars) == 1 and [t.type for t in figure.data].count("heatmap") == 1
    bar = bars[0]  # every shown step's bars in one trace, the step in customdata
    assert bar.width is not None and 0 < bar.width <= 1  # one token wide, however far apart the drawn tokens are
    step_of, token_of = np.asarray(bar.customdata) - 1, np.asarray(bar.x)
    assert set(step_of) == {0, 1}
    visible_p = charts.VISIBLE_BAR_PX * 1.3 / 110  # the figure's lift and row height: half a pixel of bar
    for step in range(2):
        mine = step_of == step
        drawn = dict(zip(token_of[mine].tolist(), np.asarray(bar.y)[mine]))
        chosen, want = int(trace.tokens[0, step]), expected[step]
        # Drawn: every token tall enough to see, and the chosen and expected ones whatever their height.
        assert set(drawn) == set(np.flatnonzero(trace.probs[0, step] >= visible_p)) | {chosen, want}
        for token, p in drawn.items():
            assert p == pytest.approx(trace.probs[0, step, token])
        colors = dict(zip(token_of[mine].tolist(), np.asarray(bar.marker.color)[mine]))
        widths = dict(zip(token_of[mine].tolist(), np.asarray(bar.marker.line.width)[mine]))
        assert colors[chosen] == ("#2ca02c" if chosen == want else "#d62728")
        assert widths[want] > 0 and all(w == 0 for t, w in widths.items() if t != want)  # the expected outlined
    assert int(trace.tokens[0, 0]) == 9  # the forced wrong token, in red, with an arrow to the expected one
    assert any(a.text == f"expected {expected[0]}" for a in figure.layout.annotations)
    # The rows sit on one shared axis, lifted apart; fewer shown steps leave the later rows empty.
    bases = np.asarray(bar.base, float)
    assert bases[step_of == 0].min() > bases[step_of == 1].max()
    # Before the first step: no bar, but the rows and the token axis are there (a trace on them, empty).
    empty = charts.decode_figure(trace, expected, shown=0)
    assert [len(t.x) for t in empty.data if t.type == "bar"] == [0]
    assert list(empty.layout.yaxis.ticktext) == [f"step {t + 1}" for t in range(len(expected))]


def test_explore_figures_set_margins_for_their_labels_and_presenter_mode_lets_them_grow(tiny_model):
    """The figures redrawn on every Enter are drawn once, not drawn, measured and drawn again (s2s.charts.margins):
    margins fixed and wide enough for their longest labels. A projector's larger type lets them grow again."""
    import streamlit as st

    from s2s.charts.margins import CHAR_PX
    from s2s.ui import tour

    source = np.array([[3, 1, 4, 1]])
    trace = decode(tiny_model, source)
    expected = target_of(tiny_model.problem, source)[0].tolist()
    steps = 12
    weights = np.full((steps, steps), 1 / steps)
    tokens, aligned = np.arange(steps, 0, -1) * 4, np.arange(steps)[::-1]
    figures = {"decode": charts.decode_figure(trace, expected, shown=2),
               "attention": charts.attention_figure(weights, np.arange(1, steps + 1) * 4, tokens, aligned, steps)}
    for name, figure in figures.items():
        layout = figure.layout
        assert layout.margin.autoexpand is False, name
        axes = [k for k in layout.to_plotly_json() if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(layout[k].automargin is False for k in axes), name
    decode_rows = figures["decode"].layout.yaxis.ticktext
    assert figures["decode"].layout.margin.l >= CHAR_PX * max(map(len, decode_rows))
    rows = figures["attention"].data[0].y  # "step 12 → 4": the longest row label
    assert rows[-1] == "step 12 → 4" and figures["attention"].layout.margin.l >= CHAR_PX * len(rows[-1])
    st.session_state["presenting"] = True  # Streamlit's bare mode: a session state of this process alone
    try:
        shown = tour.fit(figures["attention"])
    finally:
        del st.session_state["presenting"]
    assert shown.layout.margin.autoexpand is True and shown.layout.font.size == tour.FIGURE_FONT
    assert shown.layout.xaxis.automargin is True and shown.layout.yaxis.automargin is True


def test_history_increments_rebuild_the_same_history():
    source = History(batch_size=4)
    copy = History(batch_size=4)
    sent = (0, 0)
    for batch in range(1, 26):
        source.samples.append(4 * batch)
        source.loss.append(1 / batch)
        source.token_accuracy.append(batch / 25)
        source.seconds.append(0.1 * batch)
        if batch % 10 == 0:
            source.eval_samples.append(4 * batch)
            source.eval_exact.append(batch / 30)
            source.eval_token.append(batch / 28)
        if batch % 7 == 0 or batch == 25:
            copy.extend(json.loads(json.dumps(source.increment(*sent))))
            sent = (len(source.loss), len(source.eval_exact))
    assert copy == source
    assert copy.downsampled(10) == source.downsampled(10)


def test_downsampled_cuts_every_list_at_the_same_batch():
    history = History(batch_size=1, samples=[1, 2, 3], loss=[0.5, 0.4], token_accuracy=[0.1, 0.2, 0.3],
                      seconds=[0.1, 0.2, 0.3])  # as seen mid-extend by another thread: loss is extended last
    out = history.downsampled()
    assert len(out["samples"]) == len(out["loss"]) == len(out["token_accuracy"]) == len(out["seconds"]) == 2


def test_publish_copies_a_model_with_commands_naming_its_new_folder(tiny_saved, tmp_path):
    target = store.publish(tiny_saved, tmp_path / "elsewhere" / "copied")
    card = store.load(target).card
    assert card["name"] == "copied"
    assert card["reproduce"].endswith(f"--out {target}")
    assert (target / store.MODEL_FILE).read_bytes() == (tiny_saved / store.MODEL_FILE).read_bytes()
    with pytest.raises(ValueError, match="Invalid model name"):
        store.publish(tiny_saved, tmp_path / "bad name")
    assert store.command_path(store.DEFAULT_ROOT / "classic") == "pretrained/classic"


def test_beam_tree_figure_draws_every_node_and_the_best_path(tiny_model):
    from s2s.strategies import beam_search

    source = np.array([3, 1, 4, 1])
    beam = beam_search(tiny_model, source, 3, keep_tree=True)
    expected = target_of(tiny_model.problem, source[None])[0].tolist()
    figure = charts.beam_tree_figure(beam.tree, expected)
    by_name = {t.name: t for t in figure.data}
    assert len(by_name["kept"].x) + len(by_name["pruned"].x) == len(beam.tree)
    assert len(by_name["kept"].x) == sum(node.kept or node.best for node in beam.tree)
    # The best path: one green edge per step, ending at the best hypothesis's last token.
    assert list(by_name["best edges"].x).count(None) == tiny_model.problem.n_out
    labels = [text.split(" ")[0] for text in by_name["kept"].text]
    assert all(str(token) in labels for token in beam.best[0].tolist())
    # Labels above the nodes, but in the last column, where they sit to the right (no edge leaves there).
    kept = by_name["kept"]
    last = tiny_model.problem.n_out
    assert {(x == last, position) for x, position in zip(kept.x, kept.textposition)} == {
        (False, "top center"), (True, "middle right")}
    assert figure.layout.xaxis.range[1] >= last + 0.7  # room for them
    # A labelled node has more room than a pruned one: in the last column, every gap beside a kept node is at least
    # twice any gap between two pruned nodes.
    column = sorted([(y, True) for x, y in zip(kept.x, kept.y) if x == last] +
                    [(y, False) for x, y in zip(by_name["pruned"].x, by_name["pruned"].y) if x == last])
    gaps = [(b[0] - a[0], a[1] or b[1]) for a, b in zip(column, column[1:])]
    assert min(gap for gap, labelled in gaps if labelled) >= 2 * max(gap for gap, labelled in gaps if not labelled) - 1e-9


def test_temperature_and_samples_figures():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]])
    tempered = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    figure = charts.temperature_figure(probs, tempered, 0.05)
    bars = [t for t in figure.data if t.type == "bar"]
    lines = [t for t in figure.data if t.type == "scatter"]
    np.testing.assert_allclose(bars[0].y, tempered[0])
    np.testing.assert_allclose(np.asarray(lines[1].y) - bars[1].base, probs[1])
    counts = [((1, 2), 7, -0.1), ((2, 1), 3, -2.5)]
    bar = charts.samples_figure(counts, [1, 2], 10).data[0]
    assert list(bar.x) == [0.3, 0.7]  # most frequent on top (Plotly draws the first row at the bottom)
    assert list(bar.marker.color) == ["#9467bd", "#2ca02c"]  # the expected output is green


def test_context_space_figure_colours_points_and_marks_the_typed_source():
    from s2s.strategies import ContextSpace, pca

    rng = np.random.default_rng(0)
    sources = rng.integers(1, 10, size=(50, 4))
    states = rng.normal(size=(50, 8))
    fitted = pca(states)
    space = ContextSpace(sources, sources[:, :2][:, ::-1], fitted.project(states), fitted, 0, {},
                         point=np.array([0.5, -0.5]))
    figure = charts.context_space_figure(space, "in:1", "source value 2")
    points, star = figure.data
    assert len(points.x) == 50 and list(points.marker.color) == sources[:, 1].tolist()
    assert points.customdata[0].tolist() == [*sources[0], sources[0, 1], sources[0, 0], sources[0, 1]]
    assert points.hovertemplate.startswith("%{customdata[0]} %{customdata[1]} %{customdata[2]} %{customdata[3]} → "
                                           "%{customdata[4]} %{customdata[5]}<br>source value 2 = %{customdata[6]}")
    assert (star.x[0], star.y[0]) == (0.5, -0.5)
    assert f"{fitted.explained[0]:.1%}" in figure.layout.xaxis.title.text
