"""Explore page: type a source and watch the decoder work, one step at a time, with a what-if override; below,
other views of it (learning curve, beam search, sampling, context space). Decoding happens in the model service;
each part of the page is a module of s2s.ui.explore, its state one ExploreState."""

import streamlit as st

from s2s.ui import state
from s2s.ui.explore import controls, live, share, stepping, timeline, views
from s2s.ui.explore.session import page_state
from s2s.ui.tour import add_button

ui = page_state()
share.open_link(ui)
share.open_scene(ui)
presenting = state.presenting()  # presenter mode: no title, no Share (the tour's bar says what this is)
# A tour's scene in presenter mode shows what the scene needs: its source, its decode (or its strategy view), the
# training slider if it picks a snapshot. The model, feedback and what-if are the scene's.
scene = state.scene("explore")
staged = presenting and scene is not None
strategy = ui.scene_strategy if staged else None
if not presenting:
    title_col, add_col, share_col = st.columns([5, 1, 1], vertical_alignment="bottom")
    title_col.title("Explore")
    st.caption("Type a source and watch the encoder–decoder produce its target, one step at a time.")
share.link_warning(ui)
if staged:
    choice = state.active_choice(live=True)
    view = ui.view_for(choice)
    feed = ui.feed
else:
    model_col, feed_col = st.columns([1, 1], vertical_alignment="bottom")
    with model_col:
        choice = state.model_picker(ui.key("model"), live=True)
    view = ui.view_for(choice)
    with feed_col:
        feed = controls.feed_ui(ui)
source = controls.source_ui(ui, view, choice.problem, compact=staged)
if source is None:
    st.stop()
steps = choice.problem.steps_for(len(source))
forced = controls.forced_of(view, steps) if staged else controls.what_if_ui(ui, view, choice.problem, steps)

svc = state.require_worker()
samples = None if choice.job else timeline.timeline_of(svc, choice)
slider = samples and not (staged and "snapshot" not in scene["view"])
snapshot = timeline.training_ui(ui, view, samples, compact=staged) if slider else None
decoded = stepping.decode(svc, choice, source, feed, forced, snapshot)  # stops the page if the model cannot
view.follow((tuple(source), feed, tuple(sorted(forced.items()))), steps)
if not staged:
    stepping.decode_notes(decoded, choice)
if decoded.live_seen is not None:
    live.live_note(choice.job, decoded.live_seen)
if not staged:
    timeline.snapshot_note(samples, snapshot)
timeline.follow_replay(ui, view, choice.key, samples)
link = share.share_link(choice, view, feed)
if not presenting:
    share.share_ui_in(share_col, link)
    def current_view() -> dict[str, str]:  # at the click: Step and the views' picker rerun only their fragments
        return {**share.link_of(choice, view, ui.feed), "strategy": st.session_state.get(ui.key("strategy"))}

    add_button(add_col, "explore", current_view, "Explore: " + " ".join(map(str, source)), key=ui.key("add_to_tour"),
               possible=bool(link))
subject = views.Subject(choice, source, decoded.expected, decoded.greedy, samples, snapshot)
if staged and strategy:  # the scene is about the strategy view: it is the figure on screen
    st.fragment(views.strategies_ui)(subject, strategy)
    st.stop()
stepping.stepping_ui(ui, view, choice, decoded, link)
if not staged:
    st.divider()
    st.subheader("More views of this source")
    st.fragment(views.strategies_ui)(subject)
