"""What Explore decodes: the decoder feedback, the source box (with its random example and the empty-box guard)
and the what-if that forces a token at a step."""

from __future__ import annotations

import streamlit as st

from s2s.config import MAX_LENGTH
from s2s.data import parse_sequence
from s2s.ui.explore.session import ExploreState, View, random_text

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


def feed_name(feed: str) -> str:
    """'Greedy' or 'Classic tutorial loop'."""
    return FEEDS[feed].split(":")[0]


def feed_ui(ui: ExploreState) -> str:
    """The decoder feedback for every model; kept in the state, so it outlives a visit to another page."""
    ui.restore("feed", ui.feed)
    ui.feed = st.radio("Decoder feedback", list(FEEDS), format_func=FEEDS.get, key=ui.key("feed"),
                       help="\n\n".join(f"**{feed_name(k)}.** {FEED_NOTES[k]}" for k in FEEDS))
    return ui.feed


def source_ui(ui: ExploreState, view: View, problem, compact: bool = False) -> list[int] | None:
    """The source text box with its random button; returns the last valid source for this model."""
    text_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    key = ui.key("text")
    if not st.session_state.get(key, "").strip() and view.text.strip():
        # An empty box is no new source: it shows the last text again. This also gives the box its text back after
        # a visit to another page (Streamlit forgot it), and covers Streamlit's browser side sending an empty value
        # for a box it shows filled when another widget changes just after a page switch (seen in the classroom
        # load test, where it showed the "Type 6 whole numbers" error to a user who typed nothing).
        st.session_state[key] = view.text
    view.text = text_col.text_input(
        f"Source: {problem.n_in} values from 1 to {problem.cardinality}", key=key,
        label_visibility="collapsed" if compact else "visible",
        help="Spaces, commas or a Python list all work: 13 28 18 7 9 5, 13,28,18,7,9,5 or [13, 28, 18, 7, 9, 5]. "
             f"Other lengths (from {problem.shortest_source} to {MAX_LENGTH}) decode too: they probe how far "
             "what the model learned generalizes.")
    button_col.button("Random example", key=ui.key("random"), icon=":material/casino:",
                      on_click=lambda: st.session_state.update({key: random_text(problem)}))
    try:
        view.source = parse_sequence(view.text, problem, any_length=True).tolist()
    except ValueError as error:
        st.error(f"{error} The decoder below still shows the last valid source.", icon=":material/error:")
    if view.source is not None and len(view.source) != problem.n_in:
        st.info(f"Outside training: this model only ever saw sources of {problem.n_in} values; this one has "
                f"{len(view.source)}. Whether it still gets it right shows how far it generalizes (Evaluate "
                "measures it over many lengths).", icon=":material/open_in_full:")
    return view.source


def what_if_ui(ui: ExploreState, view: View, problem, steps: int) -> dict[int, int]:
    """Force a token at a step; returns the view's forced tokens (step from 0 -> token)."""
    with st.expander("What if the decoder had chosen another token?", expanded=bool(view.forced)):
        st.caption("Force a token at one step and watch the remaining steps decode from there. "
                   "Forcing every step with the true tokens is teacher forcing; forcing none is free running.")
        cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        step = cols[0].selectbox("At step", list(range(1, steps + 1)), key=ui.key("whatif_step"))
        token = cols[1].number_input("Force token", 1, problem.cardinality, key=ui.key("whatif_token"))
        if cols[2].button("Apply", key=ui.key("whatif_apply")):
            view.forced[step - 1] = int(token)
        if cols[3].button("Clear", key=ui.key("whatif_clear"), disabled=not view.forced):
            view.forced.clear()
        forced_of(view, steps)
        if view.forced:
            st.info("Forced: " + ", ".join(f"step {s + 1} → {v}" for s, v in sorted(view.forced.items())))
    return dict(view.forced)


def forced_of(view: View, steps: int) -> dict[int, int]:
    """The view's forced tokens that fit a decode of `steps` steps (a shorter source has fewer)."""
    view.forced = {s: v for s, v in view.forced.items() if s < steps}
    return dict(view.forced)
