"""Explore page: type a source and watch the decoder work, one step at a time, with a what-if override."""

from __future__ import annotations

import secrets
import time

import streamlit as st

from s2s import charts
from s2s.data import parse_sequence, random_sources, target_of
from s2s.decode import decode
from s2s.ui import state

TUTORIAL_EXAMPLE = "13 28 18 7 9 5"
FEEDS = {
    "argmax": "Greedy: feed back the chosen token",
    "softmax": "Classic tutorial loop: feed back the whole softmax",
}
FEED_NOTES = {
    "argmax": "Step 1 reads the start token 0, each later step the one-hot of the token just chosen: "
              "exactly the kind of input the model saw in training (teacher forcing), except that the "
              "tokens are its own choices instead of the true ones.",
    "softmax": "Step 1 reads an all-zero vector, which training never showed the model (it saw the start "
               "token's one-hot), and each later step reads the whole probability vector of the step before. "
               "A confident model barely notices; an unsure one can drift.",
}


def random_text(problem) -> str:
    return " ".join(str(v) for v in random_sources(problem, 1, secrets.randbits(32))[0])


def input_ui(key: str, problem):
    """The source text box with its random button; returns the last valid source for this model."""
    if st.session_state.get("explore_for_model") != key:
        st.session_state["explore_for_model"] = key
        fits = problem.n_in == 6 and problem.cardinality >= 28
        st.session_state["explore_text"] = TUTORIAL_EXAMPLE if fits else random_text(problem)
    if "explore_request" in st.session_state:  # sent by the Evaluate page's "open in Explore"
        st.session_state["explore_text"] = st.session_state.pop("explore_request")
    text_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    text = text_col.text_input(
        f"Source: {problem.n_in} values from 1 to {problem.cardinality}", key="explore_text",
        help="Spaces, commas or a Python list all work: 13 28 18 7 9 5, 13,28,18,7,9,5 or [13, 28, 18, 7, 9, 5].")
    button_col.button("Random example", key="explore_random", icon=":material/casino:",
                      on_click=lambda: st.session_state.update(explore_text=random_text(problem)))
    valid = st.session_state.setdefault("explore_valid", {})
    try:
        valid[key] = parse_sequence(text, problem)
    except ValueError as error:
        st.error(f"{error} The decoder below still shows the last valid source.", icon=":material/error:")
    return valid.get(key)


def controls_ui(n_out: int, signature: tuple) -> tuple[int, bool, float]:
    """Step / Play / Reset / Show all; returns (steps shown, play requested, seconds per step)."""
    if st.session_state.get("explore_signature") != signature:
        st.session_state["explore_signature"] = signature
        st.session_state["explore_shown"] = 0
    cols = st.columns([1, 1, 1, 1, 2.5], vertical_alignment="bottom")
    shown = st.session_state["explore_shown"]
    if cols[0].button("Step", key="explore_step", icon=":material/skip_next:", disabled=shown >= n_out):
        shown += 1
    play = cols[1].button("Play", key="explore_play", icon=":material/play_arrow:")
    if cols[2].button("Reset", key="explore_reset", icon=":material/replay:"):
        shown = 0
    if cols[3].button("Show all", key="explore_all", icon=":material/done_all:"):
        shown = n_out
    delay = cols[4].slider("Play speed (s per step)", 0.1, 2.0, 0.6, 0.1, key="explore_speed")
    st.session_state["explore_shown"] = shown
    return shown, play, delay


def output_row(trace, expected, shown: int) -> str:
    n_out = len(expected)
    head = "| | " + " | ".join(f"t = {t + 1}" for t in range(n_out)) + " |"
    cells = []
    for t in range(n_out):
        if t < shown:
            token = int(trace.tokens[0, t])
            mark = ":green[:material/check_circle:]" if token == expected[t] else ":red[:material/cancel:]"
            forced = " (forced)" if t in trace.forced else ""
            cells.append(f"**{token}** {mark}{forced}")
        else:
            cells.append("·")
    return "\n".join([head, "|---" * (n_out + 1) + "|", "| **predicted** | " + " | ".join(cells) + " |",
                      "| expected | " + " | ".join(str(v) for v in expected) + " |"])


def describe_input(trace, t: int) -> str:
    token = int(trace.input_tokens()[0, t])
    if token == 0:
        return "the start token **0** (one-hot)"
    if token > 0:
        return f"token **{token}** (one-hot)" + (" — forced by the what-if" if t - 1 in trace.forced else "")
    if not trace.inputs[0, t].any():
        return "an **all-zero vector** (the classic loop's first input)"
    return f"the **probability vector** of step {t} (its largest entry: {int(trace.inputs[0, t].argmax())})"


def step_ui(trace, expected, t: int, chart_key: str) -> None:
    probs = trace.probs[0, t]
    chosen = int(trace.tokens[0, t])
    top = probs.argsort()[::-1][:3]
    with st.container(border=True):
        info, chart = st.columns([1, 2.6])
        info.markdown(f"**Step {t + 1}**  \nInput: {describe_input(trace, t)}")
        info.markdown("Top 3: " + ", ".join(f"`{int(k)}` {probs[k]:.1%}" for k in top))
        verdict = ":green[right]" if chosen == expected[t] else f":red[wrong] (expected {expected[t]})"
        info.markdown(f"Chose **{chosen}**{' (forced)' if t in trace.forced else ''}: {verdict}")
        chart.plotly_chart(charts.step_probs_figure(probs, chosen, int(expected[t])), key=chart_key)


def what_if_ui(problem) -> dict[int, int]:
    forced = st.session_state.setdefault("explore_forced", {})
    with st.expander("What if the decoder had chosen another token?", expanded=bool(forced)):
        st.caption("Force a token at one step and watch the remaining steps decode from there. "
                   "Forcing every step with the true tokens is teacher forcing; forcing none is free running.")
        cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        step = cols[0].selectbox("At step", list(range(1, problem.n_out + 1)), key="whatif_step")
        token = cols[1].number_input("Force token", 1, problem.cardinality, 1, key="whatif_token")
        if cols[2].button("Apply", key="whatif_apply"):
            forced[step - 1] = int(token)
        if cols[3].button("Clear", key="whatif_clear", disabled=not forced):
            forced.clear()
        if forced:
            st.info("Forced: " + ", ".join(f"step {s + 1} → {v}" for s, v in sorted(forced.items())))
    return dict(forced)


st.title("Explore")
st.caption("Type a source and watch the encoder–decoder produce its reversed prefix, one step at a time.")
key, model, card = state.model_picker("explore_model")
problem = model.problem
feed = st.radio("Decoder feedback", list(FEEDS), format_func=FEEDS.get, horizontal=True, key="explore_feed")
st.caption(FEED_NOTES[feed])
source = input_ui(key, problem)
if source is None:
    st.stop()
forced = {s: v for s, v in what_if_ui(problem).items() if s < problem.n_out}

trace = decode(model, source, feed=feed, forced=forced)
expected = [int(v) for v in target_of(problem, source[None])[0]]
other = decode(model, source, feed="softmax" if feed == "argmax" else "argmax")
free = decode(model, source, feed=feed) if forced else trace

shown, play, delay = controls_ui(problem.n_out, (key, tuple(source), feed, tuple(sorted(forced.items()))))
if (other.tokens != free.tokens).any():
    st.warning(f"On this input the two loops disagree: {FEEDS[feed].split(':')[0].lower()} gives "
               f"{free.tokens[0].tolist()}, the other gives {other.tokens[0].tolist()}.", icon=":material/compare_arrows:")

encoder_col, output_col = st.columns([1.2, 1])
with encoder_col:
    st.markdown("**Encoder** reads " + " ".join(f"`{v}`" for v in source.tolist()) +
                f" and hands the decoder its final state (h, c), {model.config.units} values each:")
    st.plotly_chart(charts.context_figure(trace.context_h[0], trace.context_c[0]), key="context_chart")
with output_col:
    st.markdown("**Decoder output** beside the expected reversed target:")
    output = st.empty()

steps_area = st.container()
if play:
    for k in range(1, problem.n_out + 1):
        output.markdown(output_row(trace, expected, k))
        with steps_area:
            step_ui(trace, expected, k - 1, chart_key=f"play_probs_{k}")
        time.sleep(delay)
    st.session_state["explore_shown"] = problem.n_out
else:
    output.markdown(output_row(trace, expected, shown))
    with steps_area:
        for t in range(shown):
            step_ui(trace, expected, t, chart_key=f"probs_{t}")
        if shown == 0:
            st.info("Press **Step** to run the decoder's first step, **Play** to animate, or **Show all**.")
if shown == problem.n_out or play:
    right = (trace.tokens[0] == expected).all()
    (st.success if right else st.error)(
        f"Predicted {trace.tokens[0].tolist()}, expected {expected}: {'correct' if right else 'wrong'}.")
