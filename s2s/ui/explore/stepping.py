"""Explore's decode and its stepping: one request decodes the view (and the other feedback loop, and the loop
left free of the what-if); Step, Play, Reset and Show all reveal it beside one figure (the context and every
step's softmax, with the attention heatmap for a model that has attention). The controls and the figure are a
fragment, so a step redraws only them, and Play animates on a timer without holding the page."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from s2s import charts
from s2s.data import aligned_positions, target_of
from s2s.decode import Trace, attention_alignment
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour import fit
from s2s.ui.explore.controls import feed_name
from s2s.ui.explore.live import follow_live
from s2s.ui.explore.session import ExploreState, View, page_state
from s2s.ui.explore.share import write_link

ATTENTION_PATTERNS = {
    "reverse-prefix": "an anti-diagonal over the first {n} source positions (step 1 reads position {n}, the last "
                      "step position 1)",
    "reverse-all": "an anti-diagonal over the whole source (step 1 reads the last position)",
    "copy-prefix": "a diagonal over the first {n} positions",
    "sort-prefix": "one ring per step among the first {n} positions, smallest value first",
}


@dataclass(frozen=True)
class Decoded:
    """The view's trace, the other feedback loop's, this loop free of the what-if, and the expected target."""

    trace: Trace
    other: Trace
    free: Trace
    expected: list[int]
    live_seen: int | None  # a run still training: the samples it had seen when it sent the weights used

    @property
    def greedy(self) -> Trace:
        """Greedy decoding without the what-if (the strategy views compare with it)."""
        return self.free if self.trace.feed == "argmax" else self.other


def decode(svc, choice: state.ModelChoice, source: list[int], feed: str, forced: dict[int, int],
           snapshot: int | None) -> Decoded:
    """The view, the other feedback loop, and (with a what-if) this loop left free, in one request to the worker;
    stops the page with a message when the model cannot decode."""
    variants = [(feed, forced), ("softmax" if feed == "argmax" else "argmax", None), (feed, None)]
    live_seen = None
    try:
        if choice.job is not None:  # a run still training: its newest weights
            live_seen, (trace, other, free) = svc.decode_live(choice.job, source, variants)
        else:
            trace, other, free = svc.decode_variants(choice.directory, source, variants, snapshot)
    except ValueError as error:
        if choice.job is not None:  # no weights yet, or the run has just ended: look again shortly
            st.info(str(error), icon=":material/hourglass_top:")
            follow_live(choice.job.id, 0)
            st.stop()
        st.error(f"This model cannot be used: {error}", icon=":material/broken_image:")
        st.stop()
    except ServiceError as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    return Decoded(trace, other, free, target_of(choice.problem, trace.source)[0].tolist(), live_seen)


def decode_notes(decoded: Decoded, choice: state.ModelChoice) -> None:
    """Where the two feedback loops disagree, and what the figure shows."""
    if (decoded.other.tokens != decoded.free.tokens).any():
        st.warning(f"On this input the two loops disagree: {feed_name(decoded.trace.feed).lower()} gives "
                   f"{decoded.free.tokens[0].tolist()}, the other gives {decoded.other.tokens[0].tolist()}.",
                   icon=":material/compare_arrows:")
    config, source = choice.config, decoded.trace.source[0].tolist()
    layers = config.layers
    st.caption(f"The encoder reads {' '.join(map(str, source))} and hands the decoder its final state (h, c), "
               f"{config.units} values each" + (f" for each of its {layers} layers, side by side" if layers > 1
                                                else "") + ": the strip on top of the figure. Below it, each "
               "decoder step's softmax" + ("; beside it, where each step's attention looked."
                                          if decoded.trace.attention is not None else "."))


def stepping_ui(ui: ExploreState, view: View, choice: state.ModelChoice, decoded: Decoded,
                link: dict[str, str]) -> None:
    """The stepping fragment, on Play's timer while it plays."""
    view.fresh = True
    st.fragment(decoder_ui, run_every=ui.speed if view.playing else None)(
        choice.key, decoded.trace, decoded.expected, link, choice.problem)


def decoder_ui(key: str, trace, expected: list[int], link: dict[str, str], problem) -> None:
    """Stepping controls, the output row and each shown step beside one figure (context and every step's
    softmax), and the verdict. A fragment: a step redraws only this."""
    ui = page_state()
    view, n_out = ui.views[key], len(expected)
    buttons_ui(ui, view, n_out)
    if view.playing and not view.fresh:  # a tick of Play's timer
        view.shown = min(view.shown + 1, n_out)
    view.fresh = False
    if view.playing and view.shown >= n_out:
        view.playing = False
        st.rerun()  # stop the timer
    if trace.attention is not None and state.presenting():
        # On a projector: the softmax and the attention heatmap side by side, the verdict and the steps below.
        figure, heat = st.columns(2)
        text = st.container()
    else:
        text, figure = st.columns([1, 1.5])
        heat = figure
    with text:
        st.markdown(output_row(trace, expected, view.shown))
        verdict_ui(trace, expected, view.shown)
        for t in range(view.shown):
            st.markdown(step_line(trace, expected, t))
    figure.plotly_chart(fit(charts.decode_figure(trace, expected, view.shown)), key=ui.key("decode_chart"),
                        config={"displayModeBar": False})
    if trace.attention is not None:
        with heat:
            attention_ui(ui, trace, view.shown, problem)
    if link:  # the address bar follows the steps shown
        write_link({**link, "shown": str(view.shown)})


def verdict_ui(trace, expected: list[int], shown: int) -> None:
    """Right or wrong once every step is shown; how to start before the first."""
    if shown == len(expected):
        right = trace.tokens[0].tolist() == expected
        (st.success if right else st.error)(
            f"Predicted {trace.tokens[0].tolist()}, expected {expected}: {'correct' if right else 'wrong'}.")
    elif shown == 0:
        st.info("Press **Step** to run the decoder's first step, **Play** to animate, or **Show all**.")


def buttons_ui(ui: ExploreState, view: View, n_out: int) -> None:
    """Step, Play, Reset, Show all and Play's speed (kept in the state, so it outlives a visit elsewhere)."""
    def show(steps: int, playing: bool = False) -> None:  # button callbacks: they run before the buttons draw
        view.shown, view.playing = steps, playing

    # One row container, not five columns: a column is a message of its own in every answer the page gets.
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.button("Step", key=ui.key("step"), icon=":material/skip_next:", disabled=view.shown >= n_out,
               on_click=lambda: show(view.shown + 1))
    if row.button("Play", key=ui.key("play"), icon=":material/play_arrow:", on_click=show, args=(1, True)):
        st.rerun()  # the whole page, so that this fragment runs again with Play's timer
    row.button("Reset", key=ui.key("reset"), icon=":material/replay:", on_click=show, args=(0,))
    row.button("Show all", key=ui.key("all"), icon=":material/done_all:", on_click=show, args=(n_out,))
    if state.presenting():  # a presenter plays at the pace they talk
        return
    ui.restore("speed", ui.speed)
    ui.speed = row.slider("Play speed (s per step)", 0.1, 2.0, step=0.1, key=ui.key("speed"))


def output_row(trace, expected, shown: int) -> str:
    n_out = len(expected)
    head = "| | " + " | ".join(f"t = {t + 1}" for t in range(n_out)) + " |"
    cells = []
    for t in range(n_out):
        if t < shown:
            token = int(trace.tokens[0, t])
            mark = ":green[:material/check_circle:]" if token == expected[t] else ":red[:material/cancel:]"
            cells.append(f"**{token}** {mark}{' (forced)' if t in trace.forced else ''}")
        else:
            cells.append("·")
    return "\n".join([head, "|---" * (n_out + 1) + "|", "| **predicted** | " + " | ".join(cells) + " |",
                      "| expected | " + " | ".join(str(v) for v in expected) + " |"])


def describe_input(trace, t: int) -> str:
    kind, value = trace.input_kind(t)
    if kind == "token":
        return f"token **{value}** (one-hot)" + (" — forced by the what-if" if t - 1 in trace.forced else "")
    return {"start": "the start token **0** (one-hot)", "zeros": "an **all-zero vector** (the classic loop's first input)",
            "probs": f"the **probability vector** of step {t} (its largest entry: {value})"}[kind]


def step_line(trace, expected, t: int) -> str:
    probs, chosen = trace.probs[0, t], int(trace.tokens[0, t])
    top = ", ".join(f"`{int(k)}` {probs[k]:.1%}" for k in probs.argsort()[::-1][:3])
    verdict = ":green[right]" if chosen == expected[t] else f":red[wrong] (expected {expected[t]})"
    return (f"**Step {t + 1}** reads {describe_input(trace, t)} · top 3: {top} · chose **{chosen}**"
            f"{' (forced)' if t in trace.forced else ''}: {verdict}")


def attention_ui(ui: ExploreState, trace, shown: int, problem) -> None:
    """The attention heatmap of the steps shown, and what a model that learned its task should show."""
    source = trace.source[0]
    aligned = aligned_positions(problem, source)
    st.plotly_chart(fit(charts.attention_figure(trace.attention[0], source, trace.tokens[0], aligned, shown)),
                    key=ui.key("attention_chart"), config={"displayModeBar": False})
    pattern = ATTENTION_PATTERNS[problem.task].format(n=problem.n_out)
    hits, mean = attention_alignment(trace.attention[0], aligned)
    verdict = ("it does" if hits == len(aligned) else "it does at some steps" if hits else "it does not")
    st.caption(f"Attention weights: each row sums to 1 over the source. For {problem.task}, a model that reads "
               f"the right value at each step shows {pattern}: the rings. This model puts its "
               f"largest weight inside the ring at **{hits} of {len(aligned)}** steps (mean weight there "
               f"{mean:.2f}): {verdict}.")
