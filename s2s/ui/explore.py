"""Explore page: type a source and watch the decoder work, one step at a time, with a what-if override; below,
other ways to decode it (beam search, sampling at a temperature) and where its context lies among others'.
Decoding happens in the model service; the stepping controls and the figure are a fragment, so a step redraws
only them, and Play animates on a timer without holding the page. Each strategy view is a fragment too."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import streamlit as st

from s2s import charts
from s2s.config import MAX_LENGTH
from s2s.data import aligned_positions, parse_sequence, random_sources, target_of
from s2s.decode import attention_alignment
from s2s.service import ServiceError
from s2s.strategies import CONTEXT_SEED, DEFAULT_CONTEXT_SOURCES
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


STRATEGY_VIEWS = {
    "curve": ":material/show_chart: Learning curve",
    "beam": ":material/account_tree: Beam search",
    "sample": ":material/casino: Sampling",
    "context": ":material/scatter_plot: Context space",
}
LIVE_REFRESH_SECONDS = 1.5  # how often a page watching a run still training looks for newer weights
LINK_KEYS = ("model", "source", "feed", "shown", "force", "snapshot")  # the URL parameters a shared view has
TEMPERATURES = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0]
DRAWS = [10, 20, 50, 100, 200, 500, 1000]


@dataclass
class View:
    """What Explore shows for one model: kept per model, so switching models and back restores it."""

    text: str
    source: list[int] | None = None
    forced: dict[int, int] = field(default_factory=dict)
    shown: int = 0            # decoder steps on screen
    steps: int = 0            # decoder steps of the source last decoded (reverse-all: its length)
    playing: bool = False
    fresh: bool = False       # set by a full page run, so the fragment's first run there is not a Play tick
    signature: tuple = ()     # what was decoded: a new source, feed or override restarts the stepping
    snapshot: int | None = None  # the training snapshot whose weights the view uses; None: the final weights
    replaying: bool = False      # Play through training: the snapshot advances on a timer
    replay_fresh: bool = False   # set by a full page run: the replay timer's first run there is not a tick


@dataclass
class ExploreState:
    views: dict[str, View] = field(default_factory=dict)
    current: str | None = None  # the model whose view the widgets hold
    link_read: bool = False     # this session's URL was read (once: later changes to it are the page's own)
    link_notes: list[str] = field(default_factory=list)  # what was wrong with the link that opened the page
    live_fresh: bool = False    # set by a full page run: the live timer's first run there is not a tick


def page_state() -> ExploreState:
    return st.session_state.setdefault("explore", ExploreState())


def random_text(problem) -> str:
    return " ".join(str(v) for v in random_sources(problem, 1, secrets.randbits(32))[0])


def new_view(problem) -> View:
    fits = problem.n_in == 6 and problem.cardinality >= 28
    # A first look shows the whole decode; Reset, Step and Play replay it one step at a time.
    return View(TUTORIAL_EXAMPLE if fits else random_text(problem), shown=problem.n_out)


def view_for(choice: state.ModelChoice) -> View:
    """This model's view, its widgets loaded when the model changed or another page sent a source."""
    ui = page_state()
    view = ui.views.get(choice.key)
    if view is None and choice.key.startswith("run:"):  # a run watched live has ended: keep watching its source
        view = ui.views.pop(state.live_key(int(choice.key.removeprefix("run:"))), None)
        if view is not None:
            ui.views[choice.key] = view
    if view is None:
        view = ui.views[choice.key] = new_view(choice.problem)
    request = state.take_explore_request(choice.key)
    if request is not None:
        view.text = " ".join(str(v) for v in request)
    if ui.current != choice.key or request is not None:
        ui.current = choice.key
        st.session_state.update(explore_text=view.text, whatif_step=1, whatif_token=1)
        st.session_state.pop("explore_snapshot", None)  # another model, other snapshots: training_ui sets it
    return view


# --- links: the view in the URL -------------------------------------------------------------------------------


def read_link() -> None:
    """Once per session, set the view up from the URL's parameters (a shared link): model, source, feed, shown
    steps, what-if and training snapshot. A parameter that cannot be used is noted and left at its default."""
    ui = page_state()
    if ui.link_read:
        return
    ui.link_read = True
    # Cut at the parser's limit: a link this page writes stays whole (a source of 100 values up to 1000 is 499).
    params = {k: v[:2000] for k, v in st.query_params.to_dict().items()}
    if not params:
        return
    notes, options = ui.link_notes, state.model_options()
    unknown = [k for k in params if k not in LINK_KEYS]
    if unknown:
        notes.append("it has parameters this page does not have, which were ignored ("
                     + ", ".join(f"“{k[:20]}”" for k in unknown[:5]) + (", …" if len(unknown) > 5 else "") + ")")
    name = params.get("model")
    if name is not None:
        if state.saved_key(name) in options:
            state.set_active(state.saved_key(name))
        else:
            notes.append(f"there is no model named “{name[:64]}” here, so the active one is shown")
    key = state.active_key(options)
    if key is None:
        return
    choice = options[key]
    problem = choice.problem
    view = ui.views[key] = new_view(problem)
    ui.current = None  # view_for loads the widgets from this view
    if "source" in params:
        try:
            view.text = " ".join(map(str, parse_sequence(params["source"], problem, any_length=True)))
        except ValueError as error:
            notes.append(f"its source is not usable ({error})")
    if "feed" in params:
        if params["feed"] in FEEDS:
            st.session_state["explore_feed"] = params["feed"]
        else:
            notes.append(f"“{params['feed'][:20]}” is not a decoder feedback (use {' or '.join(FEEDS)})")
    steps = problem.steps_for(len(view.text.split()))  # of the source shown
    if "shown" in params:
        if params["shown"].isdecimal() and 0 <= int(params["shown"]) <= steps:
            view.shown = int(params["shown"])
        else:
            notes.append(f"“{params['shown'][:12]}” is not a number of steps from 0 to {steps}")
    if "force" in params:
        try:
            view.forced = parse_forced(params["force"], problem, steps)
        except ValueError as error:
            notes.append(f"its what-if is not usable ({error})")
    if "snapshot" in params:
        view.snapshot = link_snapshot(params["snapshot"], choice, notes)
    # What this view decodes, so that the page keeps the link's shown steps instead of starting the stepping anew.
    view.signature = (tuple(parse_sequence(view.text, problem, any_length=True).tolist()),
                      st.session_state.get("explore_feed", "argmax"), tuple(sorted(view.forced.items())))
    view.steps = steps


def parse_forced(text: str, problem, steps: int) -> dict[int, int]:
    """'1:20,3:5' (step:token, steps from 1) -> {0: 20, 2: 5}, or ValueError."""
    forced = {}
    for part in filter(None, text.split(",")):
        step, _, token = part.partition(":")
        if not (step.strip().isdecimal() and token.strip().isdecimal()):  # isdigit() passes '²': int() does not
            raise ValueError(f"“{part[:20]}” is not step:token")
        step, token = int(step), int(token)
        if not (1 <= step <= steps and 1 <= token <= problem.cardinality):
            raise ValueError(f"steps run from 1 to {steps}, tokens from 1 to {problem.cardinality}")
        forced[step - 1] = token
    return forced


def link_snapshot(text: str, choice: state.ModelChoice, notes: list[str]) -> int | None:
    try:
        samples = state.require_worker().timeline(choice.directory)
    except (ValueError, ServiceError):
        samples = None
    if not samples:
        notes.append("this model has no training timeline, so its final weights are shown")
    elif not (text.isdecimal() and int(text) < len(samples)):
        notes.append(f"it asks for snapshot {text[:12]}, which does not exist (this model has {len(samples)}, "
                     f"0 to {len(samples) - 1}), so the final weights are shown")
    elif int(text) < len(samples) - 1:
        return int(text)
    return None


def link_params(choice: state.ModelChoice, view: View, feed: str) -> dict[str, str]:
    """The URL parameters that reopen this view (saved models only: a session's runs exist only here)."""
    if not choice.key.startswith("saved:") or view.source is None:
        return {}
    params = {"model": choice.key.removeprefix("saved:"), "source": " ".join(map(str, view.source)), "feed": feed,
              "shown": str(view.shown)}
    if view.forced:
        params["force"] = ",".join(f"{step + 1}:{token}" for step, token in sorted(view.forced.items()))
    if view.snapshot is not None:
        params["snapshot"] = str(view.snapshot)
    return params


def write_link(params: dict[str, str]) -> None:
    """Keep the browser's URL on the view shown, so that copying it from the address bar shares the view."""
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def share_ui(params: dict[str, str]) -> None:
    with st.popover("Share", icon=":material/link:", help="A link that reopens this view"):
        if not params:
            st.caption("A run of this session exists only here: save it on the Train page to share views of it.")
            return
        st.caption("This link reopens this model, source, feedback, steps shown, what-if and training snapshot "
                   "in any browser (copy it with the icon):")
        st.code(f"{st.context.url or ''}?{urlencode(params)}", language=None, wrap_lines=True)


def input_ui(view: View, problem) -> list[int] | None:
    """The source text box with its random button; returns the last valid source for this model."""
    text_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    if not st.session_state.get("explore_text", "").strip() and view.text.strip():
        # An empty box is no new source: it shows the last text again. (Streamlit's browser side also sends an
        # empty value for a box it shows filled when another widget changes just after a page switch: seen in
        # the classroom load test, where it showed the "Type 6 whole numbers" error to a user who typed nothing.)
        st.session_state["explore_text"] = view.text
    view.text = text_col.text_input(
        f"Source: {problem.n_in} values from 1 to {problem.cardinality}", key="explore_text",
        help="Spaces, commas or a Python list all work: 13 28 18 7 9 5, 13,28,18,7,9,5 or [13, 28, 18, 7, 9, 5]. "
             f"Other lengths (from {problem.shortest_source} to {MAX_LENGTH}) decode too: they probe how far "
             "what the model learned generalizes.")
    button_col.button("Random example", key="explore_random", icon=":material/casino:",
                      on_click=lambda: st.session_state.update(explore_text=random_text(problem)))
    try:
        view.source = parse_sequence(view.text, problem, any_length=True).tolist()
    except ValueError as error:
        st.error(f"{error} The decoder below still shows the last valid source.", icon=":material/error:")
    if view.source is not None and len(view.source) != problem.n_in:
        st.info(f"Outside training: this model only ever saw sources of {problem.n_in} values; this one has "
                f"{len(view.source)}. Whether it still gets it right shows how far it generalizes (Evaluate "
                "measures it over many lengths).", icon=":material/open_in_full:")
    return view.source


def what_if_ui(view: View, problem, steps: int) -> dict[int, int]:
    with st.expander("What if the decoder had chosen another token?", expanded=bool(view.forced)):
        st.caption("Force a token at one step and watch the remaining steps decode from there. "
                   "Forcing every step with the true tokens is teacher forcing; forcing none is free running.")
        cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        step = cols[0].selectbox("At step", list(range(1, steps + 1)), key="whatif_step")
        token = cols[1].number_input("Force token", 1, problem.cardinality, key="whatif_token")
        if cols[2].button("Apply", key="whatif_apply"):
            view.forced[step - 1] = int(token)
        if cols[3].button("Clear", key="whatif_clear", disabled=not view.forced):
            view.forced.clear()
        view.forced = {s: v for s, v in view.forced.items() if s < steps}  # a shorter source has fewer steps
        if view.forced:
            st.info("Forced: " + ", ".join(f"step {s + 1} → {v}" for s, v in sorted(view.forced.items())))
    return dict(view.forced)


def timeline_of(svc, choice: state.ModelChoice) -> list[int] | None:
    """Samples seen at each snapshot of the model's training timeline; None (and a note if damaged) without."""
    try:
        return svc.timeline(choice.directory)
    except ValueError as error:
        st.warning(f"This model's training timeline cannot be used, so it is shown with its final weights only: "
                   f"{error}", icon=":material/history_toggle_off:")
    except ServiceError as error:
        st.error(str(error), icon=":material/error:")
    return None


def training_ui(view: View, samples: list[int]) -> int | None:
    """The training-progress slider (and Play through training); returns the snapshot to use, None for final."""
    last = len(samples) - 1
    if view.snapshot is not None and not 0 <= view.snapshot < last:
        view.snapshot, view.replaying = None, False
    current = last if view.snapshot is None else view.snapshot
    if st.session_state.get("explore_snapshot") not in range(len(samples)) or view.replaying:
        st.session_state["explore_snapshot"] = current

    def moved() -> None:
        k = st.session_state.get("explore_snapshot")  # gone when a model switch dropped the slider's value
        if k not in range(len(samples)):
            return
        view.snapshot, view.replaying = (None if k == last else k), False

    def replay() -> None:
        view.snapshot, view.replaying = 0, True

    slider_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    slider_col.select_slider(
        "Training progress: the weights after this many samples", options=list(range(len(samples))),
        format_func=lambda k: f"{samples[k]:,}" + (" (final)" if k == last else ""), key="explore_snapshot",
        on_change=moved, help=f"{len(samples)} snapshots of this model's weights, log-spaced from its first batch "
                             "to the end of training. Every step, choice and verdict below uses the chosen one.")
    button_col.button("Stop replay" if view.replaying else "Play through training", key="explore_replay",
                      icon=":material/stop:" if view.replaying else ":material/history:",
                      on_click=(lambda: setattr(view, "replaying", False)) if view.replaying else replay)
    return view.snapshot


def replay_tick(key: str, count: int) -> None:
    """Play through training's timer: the next snapshot, drawn by a whole-page rerun; stops at the final one."""
    view = page_state().views[key]
    if not view.replaying:
        return
    if view.replay_fresh:  # the run that drew this snapshot is this one: wait for the next tick
        view.replay_fresh = False
        return
    nxt = (view.snapshot or 0) + 1
    view.snapshot, view.replaying = (None, False) if nxt >= count - 1 else (nxt, True)
    st.rerun(scope="app")


def live_tick(job_id: int, seen: int) -> None:
    """While a run trains, redraw the page when it has written newer weights (or ended: then its saved model
    takes over)."""
    ui = page_state()
    if ui.live_fresh:  # drawn by the page run this fragment belongs to: look again at the next tick
        ui.live_fresh = False
        return
    job = next((j for j in state.my_jobs() if j.id == job_id), None)
    if job is None or job.status != "running" or (job.progress.live_samples or 0) > seen:
        st.rerun(scope="app")


def follow_live(job_id: int, seen: int) -> None:
    page_state().live_fresh = True
    st.fragment(live_tick, run_every=LIVE_REFRESH_SECONDS)(job_id, seen)


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


def decoder_ui(key: str, trace, expected: list[int], link: dict[str, str], problem) -> None:
    """Stepping controls, the output row and each shown step beside one figure (context and every step's
    softmax), and the verdict. A fragment: a step redraws only this."""
    view, n_out = page_state().views[key], len(expected)

    def show(steps: int, playing: bool = False) -> None:  # button callbacks: they run before the buttons draw
        view.shown, view.playing = steps, playing

    cols = st.columns([1, 1, 1, 1, 2.5], vertical_alignment="bottom")
    cols[0].button("Step", key="explore_step", icon=":material/skip_next:", disabled=view.shown >= n_out,
                   on_click=lambda: show(view.shown + 1))
    if cols[1].button("Play", key="explore_play", icon=":material/play_arrow:", on_click=show, args=(1, True)):
        st.rerun()  # the whole page, so that this fragment runs again with Play's timer
    cols[2].button("Reset", key="explore_reset", icon=":material/replay:", on_click=show, args=(0,))
    cols[3].button("Show all", key="explore_all", icon=":material/done_all:", on_click=show, args=(n_out,))
    cols[4].slider("Play speed (s per step)", 0.1, 2.0, 0.6, 0.1, key="explore_speed")
    if view.playing and not view.fresh:  # a tick of Play's timer
        view.shown = min(view.shown + 1, n_out)
    view.fresh = False
    if view.playing and view.shown >= n_out:
        view.playing = False
        st.rerun()  # stop the timer
    text, figure = st.columns([1, 1.5])
    with text:
        st.markdown(output_row(trace, expected, view.shown))
        if view.shown == n_out:
            right = trace.tokens[0].tolist() == expected
            (st.success if right else st.error)(
                f"Predicted {trace.tokens[0].tolist()}, expected {expected}: {'correct' if right else 'wrong'}.")
        elif view.shown == 0:
            st.info("Press **Step** to run the decoder's first step, **Play** to animate, or **Show all**.")
        for t in range(view.shown):
            st.markdown(step_line(trace, expected, t))
    figure.plotly_chart(charts.decode_figure(trace, expected, view.shown), key="decode_chart",
                        config={"displayModeBar": False})
    if trace.attention is not None:
        with figure:
            attention_ui(trace, view.shown, problem)
    if link:
        write_link({**link, "shown": str(view.shown)})


def attention_ui(trace, shown: int, problem) -> None:
    """The attention heatmap of the steps shown, and what a model that learned its task should show."""
    source = trace.source[0]
    aligned = aligned_positions(problem, source)
    st.plotly_chart(charts.attention_figure(trace.attention[0], source, trace.tokens[0], aligned, shown),
                    key="attention_chart", config={"displayModeBar": False})
    pattern = {"reverse-prefix": f"an anti-diagonal over the first {problem.n_out} source positions (step 1 reads "
                                 f"position {problem.n_out}, the last step position 1)",
               "reverse-all": "an anti-diagonal over the whole source (step 1 reads the last position)",
               "copy-prefix": f"a diagonal over the first {problem.n_out} positions",
               "sort-prefix": f"one ring per step among the first {problem.n_out} positions, smallest value first"}
    hits, mean = attention_alignment(trace.attention[0], aligned)
    verdict = ("it does" if hits == len(aligned) else "it does at some steps" if hits else "it does not")
    st.caption(f"Attention weights: each row sums to 1 over the source. For {problem.task}, a model that reads "
               f"the right value at each step shows {pattern[problem.task]}: the rings. This model puts its "
               f"largest weight inside the ring at **{hits} of {len(aligned)}** steps (mean weight there "
               f"{mean:.2f}): {verdict}.")


def spell(tokens) -> str:
    return "\u00a0".join(str(int(v)) for v in tokens)  # no-break spaces: an output never wraps in a table


def outcomes_table(greedy, beam, samples, expected: list[int]) -> str:
    """Greedy, the beam's hypotheses and the most frequent samples, each with its total log-probability."""
    def mark(tokens) -> str:
        return ":green[:material/check_circle:]" if [int(v) for v in tokens] == expected else ":red[:material/cancel:]"
    rows = ["| strategy | output | log p (total) | |", "|---|---|---|---|",
            f"| greedy | **{spell(greedy.tokens[0])}** | {greedy.total_logp[0]:.3f} | {mark(greedy.tokens[0])} |"]
    for k in range(min(5, beam.tokens.shape[1])):
        rows.append(f"| beam #{k + 1} | **{spell(beam.tokens[0, k])}** | {beam.total[0, k]:.3f} | "
                    f"{mark(beam.tokens[0, k])} |")
    for out, count, logp in samples.counts()[:3]:
        rows.append(f"| sampled {count}/{len(samples.tokens)} at T = {samples.temperature:g} | **{spell(out)}** | "
                    f"{logp:.3f} | {mark(out)} |")
    return "\n".join(rows)


def sampling_settings() -> tuple[float, int, int]:
    return (st.session_state.get("sample_temperature", 1.0), st.session_state.get("sample_draws", 100),
            st.session_state.get("sample_seed", 1))


def beam_ui(directory, source: list[int], expected: list[int], greedy, snapshot: int | None) -> None:
    width = st.slider("Beam width", 1, 10, 5, key="beam_width",
                      help="How many partial outputs survive each step. Width 1 is greedy decoding.")
    svc = state.service()
    try:
        beam = svc.beam(directory, source, width, snapshot)
        samples = svc.sample(directory, source, *sampling_settings(), snapshot)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    tree_col, table_col = st.columns([1.6, 1])
    tree_col.plotly_chart(charts.beam_tree_figure(beam.tree, expected), key="beam_chart",
                          config={"displayModeBar": False})
    with table_col:
        st.markdown(outcomes_table(greedy, beam, samples, expected))
        best, found = beam.tokens[0, 0].tolist(), beam.tokens[0].tolist()
        if best != greedy.tokens[0].tolist():
            st.info(f"The search found a more probable output than greedy: {spell(best)} "
                    f"(log p {beam.total[0, 0]:.3f} vs {greedy.total_logp[0]:.3f}).", icon=":material/search:")
        elif expected in found and best != expected:
            st.info(f"The expected output is hypothesis #{found.index(expected) + 1}: the model prefers another.",
                    icon=":material/search:")
    st.caption(f"Each column is a decoder step. From every kept prefix (blue) the search expands its {width} most "
               "probable next tokens, labelled with their log-probability; only the "
               f"{width} most probable prefixes overall are kept, the rest (grey) are pruned. Green: the best "
               "output's path, red where it departs from the expected token.")


def sampling_ui(directory, source: list[int], expected: list[int], snapshot: int | None) -> None:
    cols = st.columns([2, 1.4, 1], vertical_alignment="bottom")
    temperature = cols[0].select_slider("Temperature T", TEMPERATURES, value=1.0, key="sample_temperature",
                                        help="Each step draws a token with probability ∝ p^(1/T): T < 1 sharpens the "
                                             "softmax towards greedy, T > 1 flattens it towards uniform.")
    draws = cols[1].select_slider("Draws", DRAWS, value=100, key="sample_draws")
    seed = cols[2].number_input("Seed", 0, 2**31 - 1, 1, key="sample_seed")
    try:
        samples = state.service().sample(directory, source, float(temperature), int(draws), int(seed), snapshot)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    counts = samples.counts()
    right = sum(n for out, n, _ in counts if list(out) == expected)
    figure_col, counts_col = st.columns([1.4, 1])
    with figure_col:
        st.markdown(f"**Each step's softmax along the greedy path**, at T = 1 (outline) and T = {temperature:g} (bars)")
        st.plotly_chart(charts.temperature_figure(samples.greedy_probs, samples.greedy_tempered, temperature),
                        key="temperature_chart", config={"displayModeBar": False})
    with counts_col:
        distinct = len(counts)
        st.markdown(f"**{draws} draws**: {distinct} distinct output{'s' if distinct > 1 else ''}; the expected one, "
                    f"{spell(expected)}, came {right} time{'' if right == 1 else 's'} ({right / draws:.0%}).")
        st.plotly_chart(charts.samples_figure(counts, expected, draws), key="samples_chart",
                        config={"displayModeBar": False})


def colouring_label(name: str, problem) -> str:
    """A colouring's name, with the output step or source position it equals under the task (sorting has none)."""
    kind, _, index = name.partition(":")
    j = int(index)
    copies = None if problem.task == "sort-prefix" else problem.copied_position  # output i copies source copies(i)
    if kind == "out":
        return f"expected output {j + 1}" + (f" (= source value {copies(j) + 1})" if copies else "")
    outputs = [i for i in range(problem.n_out) if copies and copies(i) == j]
    if outputs:
        return f"source value {j + 1} (= expected output {outputs[0] + 1})"
    return f"source value {j + 1}" + (" (not in the target)" if j >= problem.n_out else "")


def context_ui(directory, source: list[int], problem, config, snapshot: int | None) -> None:
    cols = st.columns([2, 1], vertical_alignment="bottom")
    n = cols[1].select_slider("Random sources", [500, 1000, 2000, 5000], value=DEFAULT_CONTEXT_SOURCES, key="context_n")
    try:
        space = state.service().context_space(directory, int(n), CONTEXT_SEED, source, snapshot)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    names = space.colourings()
    colouring = cols[0].selectbox("Colour by", names, format_func=lambda k: colouring_label(k, problem),
                                  key="context_colouring")
    label = colouring_label(colouring, problem)
    st.plotly_chart(charts.context_space_figure(space, colouring, label.split(" (")[0]), key="context_chart",
                    config={"displayModeBar": False})
    agree, chance = space.separation[colouring]
    best = max(names, key=lambda k: space.separation[k][0] - space.separation[k][1])
    best_agree, best_chance = space.separation[best]
    explained = space.pca.explained
    st.markdown(
        f"Each point is one random source's context: the encoder's final h and c ({2 * config.layers * config.units} "
        f"numbers{'; attention also reads the encoder outputs, not shown here' if config.attention else ''}), "
        "projected "
        f"on the two directions along which the {n:,} contexts vary most. They hold {explained[0]:.1%} and "
        f"{explained[1]:.1%} of the variance, so this plane is a thin slice of the context. Coloured by "
        f"{label}, a point's nearest neighbour in the plane has the same colour for **{agree:.1%}** of the points "
        f"(chance: {chance:.1%}). Of all the colourings, **{colouring_label(best, problem)}** separates best "
        f"({best_agree:.1%} vs {best_chance:.1%} by chance)"
        + (": the value the decoder must write first is what the context's main directions carry most."
           if best == "out:0" else ".") + " The star is your source.")


def curve_ui(directory, source: list[int], samples: list[int] | None, snapshot: int | None) -> None:
    if not samples:
        st.info("This model has no training timeline: it was saved without snapshots of its weights. Every run "
                "trained in this app or with `python -m s2s train` keeps one, and so do the shipped models.",
                icon=":material/history_toggle_off:")
        return
    feed = st.radio("Decoder feedback", list(FEEDS), format_func=lambda k: FEEDS[k].split(":")[0], horizontal=True,
                    key="curve_feed", index=list(FEEDS).index(st.session_state.get("explore_feed", "argmax")))
    try:
        curve = state.service().learning_curve(directory, source, feed)
    except (ValueError, ServiceError) as error:
        st.error(str(error), icon=":material/error:")
        return
    shown = len(samples) - 1 if snapshot is None else snapshot
    st.plotly_chart(charts.learning_curve_figure(curve, shown), key="curve_chart", config={"displayModeBar": False})
    learned = curve.learned_at
    st.markdown(
        f"Each line is one output step: the probability the model gave its expected token, at each of the "
        f"{len(samples)} snapshots of training. "
        + (f"From **{samples[learned]:,} samples** on, the whole output is right at every snapshot."
           if learned is not None else "At no point of training did the whole output stay right.")
        + " The grey line is the snapshot the page shows.")


def strategies_ui(choice: state.ModelChoice, source: list[int], expected: list[int], greedy,
                  samples: list[int] | None, snapshot: int | None) -> None:
    """The strategy views: a fragment of its own, so picking a view or moving its settings redraws only this.
    Each uses the weights the page shows (a training snapshot, or the final weights)."""
    if choice.job is not None:
        st.caption("The learning curve, beam search, sampling and the context space open once this run has ended "
                   "and its model is saved.")
        return
    strategy = st.segmented_control("Strategy view", list(STRATEGY_VIEWS), format_func=STRATEGY_VIEWS.get,
                                    key="explore_strategy", label_visibility="collapsed")
    if strategy == "curve":
        curve_ui(choice.directory, source, samples, snapshot)
    elif strategy == "beam":
        beam_ui(choice.directory, source, expected, greedy, snapshot)
    elif strategy == "sample":
        sampling_ui(choice.directory, source, expected, snapshot)
    elif strategy == "context":
        context_ui(choice.directory, source, choice.problem, choice.config, snapshot)
    else:
        st.caption("Pick a view: the **learning curve** replays how this source's answer formed during training; "
                   "**beam search** keeps the most probable partial outputs at every step and shows "
                   "the tree it explored; **sampling** draws tokens from the softmax at a temperature; **context "
                   "space** places this source's encoder state among thousands of others.")



# --- the page ---------------------------------------------------------------------------------------------

read_link()
title_col, share_col = st.columns([5, 1], vertical_alignment="bottom")
title_col.title("Explore")
share_slot = share_col.empty()  # filled once the view is known
st.caption("Type a source and watch the encoder–decoder produce its target, one step at a time.")
if page_state().link_notes:
    st.warning("The link that opened this page could not be followed in full: "
               + "; ".join(page_state().link_notes) + ".", icon=":material/link_off:")
    page_state().link_notes.clear()
model_col, feed_col = st.columns([1, 1], vertical_alignment="bottom")
with model_col:
    choice = state.model_picker("explore_model", live=True)
problem = choice.problem
view = view_for(choice)
feed = feed_col.radio("Decoder feedback", list(FEEDS), format_func=FEEDS.get, key="explore_feed",
                      help="\n\n".join(f"**{FEEDS[k].split(':')[0]}.** {FEED_NOTES[k]}" for k in FEEDS))
source = input_ui(view, problem)
if source is None:
    st.stop()
steps = problem.steps_for(len(source))
forced = what_if_ui(view, problem, steps)

svc = state.require_worker()
samples = None if choice.job else timeline_of(svc, choice)
snapshot = training_ui(view, samples) if samples else None
live_seen = None
try:
    # The view, the other feedback loop, and (with a what-if) this loop left free: one request to the worker.
    variants = [(feed, forced), ("softmax" if feed == "argmax" else "argmax", None), (feed, None)]
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
expected = target_of(problem, trace.source)[0].tolist()

signature = (tuple(source), feed, tuple(sorted(forced.items())))
if view.signature != signature:
    view.signature = signature
    if view.shown < view.steps:  # mid-way through stepping: start again; after Show all, show all again
        view.shown, view.playing = 0, False
    else:
        view.shown = steps
view.steps = steps
view.shown = min(view.shown, steps)
if (other.tokens != free.tokens).any():
    st.warning(f"On this input the two loops disagree: {FEEDS[feed].split(':')[0].lower()} gives "
               f"{free.tokens[0].tolist()}, the other gives {other.tokens[0].tolist()}.", icon=":material/compare_arrows:")
layers = choice.config.layers
st.caption(f"The encoder reads {' '.join(map(str, source))} and hands the decoder its final state (h, c), "
           f"{choice.config.units} values each" + (f" for each of its {layers} layers, side by side" if layers > 1
                                                   else "") + ": the strip on top of the figure. Below it, each "
           "decoder step's softmax" + ("; beside it, where each step's attention looked." if trace.attention
                                      is not None else "."))
if live_seen is not None:
    total = choice.job.progress.total_samples or choice.job.spec.train.samples
    st.info(f"Live: run {choice.job.id}'s newest weights, after **{live_seen:,}** of its {total:,} training samples. "
            "The view follows them as the run trains.", icon=":material/sensors:")
    follow_live(choice.job.id, live_seen)
if snapshot is not None:
    st.info(f"These are the model's weights after **{samples[snapshot]:,}** of its {samples[-1]:,} training samples "
            f"(snapshot {snapshot + 1} of {len(samples)}): every softmax, choice and verdict below is theirs.",
            icon=":material/history:")
view.fresh = view.replay_fresh = True
if view.replaying and samples:
    st.fragment(replay_tick, run_every=st.session_state.get("explore_speed", 0.6))(choice.key, len(samples))
link = link_params(choice, view, feed)
write_link(link)
with share_slot:
    share_ui(link)
st.fragment(decoder_ui, run_every=st.session_state.get("explore_speed", 0.6) if view.playing else None)(
    choice.key, trace, expected, link, problem)

st.divider()
st.subheader("More views of this source")
st.fragment(strategies_ui)(choice, source, expected, free if feed == "argmax" else other,  # greedy, no what-if
                           samples, snapshot)
