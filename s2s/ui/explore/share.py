"""Explore's links on the page: the URL that opened the session sets the view up (once; what it ignored is said in
one warning), the address bar follows the view shown, and *Share* gives the link that reopens it. What a link
means is s2s.ui.explore.links; this module only applies it with st.query_params."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.explore import links
from s2s.ui.explore.session import ExploreState, View, new_view
from s2s.ui.tour_file import plain_markdown


def open_link(ui: ExploreState) -> None:
    """Once per session, set the view up from the URL's parameters (a shared link): model, source, feed, shown
    steps, what-if and training snapshot. What cannot be used is noted for `link_warning`."""
    if ui.link_read:
        return
    ui.link_read = True
    params = st.query_params.to_dict()
    if params:
        _open(ui, params)


def open_scene(ui: ExploreState) -> None:
    """A tour's new scene on this page (s2s/ui/tour.py): its view as a link would set it up, and the strategy view
    it opens below (none when it names none). Applied once per scene; after that the view is the presenter's."""
    scene = state.scene("explore")
    if scene is None or scene["serial"] == ui.scene_serial:
        return
    ui.scene_serial = scene["serial"]
    params = dict(scene["view"])
    ui.scene_strategy = params.pop("strategy", None)
    st.session_state[ui.key("strategy")] = ui.scene_strategy  # the picker shows it, outside presenter mode
    _open(ui, params)


def _open(ui: ExploreState, params: dict[str, str]) -> None:
    options = state.model_options()
    saved = state.saved_choices(options)
    name = params.get("model")
    if name in saved:
        state.set_active(state.saved_key(name))
    key = state.active_key(options)

    def snapshots(_model: str | None) -> int:  # asked only of the model the link opens: the active one by now
        try:
            return len(state.require_worker().timeline(options[key].directory) or ())
        except (ValueError, ServiceError):
            return 0

    linked = links.read(params, {name: choice.problem for name, choice in saved.items()},
                        options[key].problem if key else None, snapshots)
    ui.link_notes.extend(linked.notes)
    if key is not None:
        apply(ui, linked, key, options[key].problem)


def apply(ui: ExploreState, linked: links.LinkedView, key: str, problem) -> None:
    """Make the view of model `key` the one the link asks for (the rest of it as a first visit shows it)."""
    view = ui.views[key] = new_view(problem)
    ui.current = None  # view_for loads the widgets from this view
    if linked.source is not None:
        view.text = " ".join(map(str, linked.source))
    if linked.feed is not None:
        ui.feed = st.session_state[ui.key("feed")] = linked.feed
    if linked.shown is not None:
        view.shown = linked.shown
    view.forced, view.snapshot = dict(linked.forced), linked.snapshot
    source = [int(v) for v in view.text.split()]
    # What this view decodes, so that the page keeps the link's shown steps instead of starting the stepping anew.
    view.signature = (tuple(source), ui.feed, tuple(sorted(view.forced.items())))
    view.steps = problem.steps_for(len(source))


def link_warning(ui: ExploreState) -> None:
    """What the link that opened the page asked for and could not have, in one warning, once."""
    if ui.link_notes:  # they quote the link: shown as typed, never as Markdown
        st.warning(plain_markdown("The link that opened this page could not be followed in full: "
                                  + "; ".join(ui.link_notes) + "."), icon=":material/link_off:")
        ui.link_notes.clear()


def link_of(choice: state.ModelChoice, view: View, feed: str) -> dict[str, str]:
    """The URL parameters that reopen this view (saved models only: a session's runs exist only here)."""
    if not choice.key.startswith("saved:") or view.source is None:
        return {}
    return links.write(links.LinkedView(model=choice.key.removeprefix("saved:"), source=tuple(view.source),
                                        feed=feed, shown=view.shown, forced=view.forced, snapshot=view.snapshot))


def write_link(params: dict[str, str]) -> None:
    """Keep the browser's URL on the view shown, so that copying it from the address bar shares the view (and the
    tour being played, and presenter mode)."""
    params = {**params, **state.tour_params()}
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


def share_link(choice: state.ModelChoice, view: View, feed: str) -> dict[str, str]:
    """The address bar on this view; returns its link (empty for a view a link cannot hold)."""
    link = link_of(choice, view, feed)
    write_link(link)
    return link


def share_ui_in(slot, link: dict[str, str]) -> None:
    """The Share popover, in `slot` (beside the title)."""
    with slot:
        share_ui(link)
