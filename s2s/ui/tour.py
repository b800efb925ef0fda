"""Tours on the pages: the tour being played and the one being written (TourState, one object in st.session_state),
the bar above a scene (scene k of n, its narration, Previous / Next by button and by keyboard, a jump list), "Add
to tour", the tour a link opens, and presenter mode (larger type, the sidebar collapsed, fewer controls, figures
that fit a projector). A scene is the real page: the bar hands it the scene's view (state.show_scene) and the page
applies it as it applies a link. The tour file format and its checks are s2s/ui/tour_file.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.tour_file import BUILTIN_NAME, Scene, Tour, TourError, check, pack, plain_markdown, unpack

PRESENTER_CSS = """<style>
html { font-size: 140%; }
[data-testid="stMainBlockContainer"] { padding-top: 0.6rem; padding-bottom: 1rem; max-width: 100%; }
[data-testid="stHeader"] { background: transparent; height: 0; }
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none; }
.st-key-tour_bar { padding: 0.5rem 0.9rem; gap: 0.3rem; }
.st-key-tour_bar [data-testid="stMarkdownContainer"] p { font-size: 0.82rem; margin-bottom: 0.2rem; }
/* A 1920 x 1080 projector: type larger again (CSS zoom would cut Plotly's figures, drawn at their own size). */
@media (min-width: 1800px) and (min-height: 1000px) { html { font-size: 170%; } }
</style>"""
HIDDEN_KEYS_CSS = "<style>.st-key-tour_pagedown, .st-key-tour_pageup { display: none; }</style>"
FIGURE_FONT = 17     # px: Plotly's 12 px default, 1.4× and a little more for a projector
FIGURE_HEIGHT = 280  # px: a scene's main figure below the bar fits a 1280 × 720 projector


@dataclass
class TourState:
    """The tour played (its scenes, the scene shown, where it came from) and the tour being written."""

    tour: Tour | None = None
    source: str = ""            # how a link names the tour played: "builtin" or its packed text
    index: int = 0
    playing: bool = False
    switch: bool = False        # a scene was just chosen: go to its page once
    draft: list[Scene] = field(default_factory=list)  # the tour being written ("Add to tour")
    draft_title: str = "My tour"
    draft_version: int = 0      # bumped when scenes move or go: the editor's widgets start afresh
    link_read: bool = False
    notes: list[str] = field(default_factory=list)    # scenes left out of the tour opened, and why

    @staticmethod
    def key(name: str) -> str:
        return f"tour_{name}"

    @property
    def scene(self) -> Scene | None:
        return self.tour.scenes[self.index] if self.playing and self.tour else None


def page_state() -> TourState:
    return st.session_state.setdefault("tour", TourState())


def usable(tour: Tour) -> Tour:
    """`tour` without the scenes the models here cannot show; each left out is named in its `skipped`."""
    options = state.model_options()
    saved = state.saved_choices(options)

    def snapshots(name: str | None) -> int:
        try:
            return len(state.require_worker().timeline(saved[name].directory) or ())
        except (KeyError, ValueError, ServiceError):
            return 0

    kept, skipped = [], list(tour.skipped)
    for number, scene in enumerate(tour.scenes, 1):
        notes = check(scene, {name: choice.problem for name, choice in saved.items()}, snapshots)
        if notes:
            skipped.append(f"scene {number} (“{scene.title[:40]}”): {'; '.join(notes)}")
        else:
            kept.append(scene)
    return Tour(tour.title, tuple(kept), tuple(skipped))


def play(tour: Tour, source: str, index: int = 0) -> bool:
    """Start playing `tour` (named `source` in links) at scene `index`; False, with the reasons noted, when none of
    its scenes can be shown here."""
    ui = page_state()
    checked = usable(tour)
    ui.notes = list(checked.skipped)
    if not checked.scenes:
        return False
    ui.tour, ui.source, ui.playing = checked, source, True
    go(min(max(index, 0), len(checked.scenes) - 1))
    from s2s.ui.evaluate_scene import measure_ahead  # it draws with fit(), from here

    measure_ahead([scene.view for scene in checked.scenes if scene.page == "evaluate"])
    return True


def go(index: int) -> None:
    """Show scene `index` of the tour played (a button's callback, or the jump list's)."""
    ui = page_state()
    if not ui.playing or not ui.tour:
        return
    ui.index = min(max(index, 0), len(ui.tour.scenes) - 1)
    scene = ui.tour.scenes[ui.index]
    state.show_scene(scene.page, scene.view)
    ui.switch = True
    _publish_params(ui)


def stop() -> None:
    ui = page_state()
    ui.playing, ui.switch = False, False
    state.end_scene()
    _publish_params(ui)


def set_presenting(on: bool) -> None:
    state.set_presenting(on)
    _publish_params(page_state())


def _publish_params(ui: TourState) -> None:
    params = {"tour": ui.source, "scene": str(ui.index + 1)} if ui.playing else {}
    if state.presenting():
        params["present"] = "1"
    state.set_tour_params(params)


def open_link() -> None:
    """Once per session: `?present=1` turns presenter mode on; `?tour=…&scene=k` plays a tour from scene k (the
    built-in one, or one packed into the link by the Tour page)."""
    ui = page_state()
    if ui.link_read:
        return
    ui.link_read = True
    params = st.query_params.to_dict()
    if params.get("present") == "1":
        set_presenting(True)
    if "tour" not in params:
        return
    try:
        tour = unpack(params["tour"])
    except TourError as error:
        ui.notes = [f"The link's tour cannot be played: {error}"]
        return
    scene = params.get("scene", "1")
    if not play(tour, params["tour"] if params["tour"] == BUILTIN_NAME else pack(tour),
                int(scene) - 1 if scene.isdecimal() and len(scene) <= 3 else 0):
        ui.notes.insert(0, "None of the link's tour's scenes can be shown here.")


def style() -> None:
    """Presenter mode's type and spacing, and the keyboard-only buttons kept out of sight."""
    st.html(HIDDEN_KEYS_CSS + (PRESENTER_CSS if state.presenting() else ""))


def fit(figure):
    """A scene's figure in presenter mode: larger type, and a height that leaves room for the bar on a 1280 × 720
    projector, with the margins free to grow around the larger labels (s2s.charts.margins). Unchanged otherwise."""
    if state.presenting():
        figure.update_layout(font_size=FIGURE_FONT, height=min(figure.layout.height or FIGURE_HEIGHT, FIGURE_HEIGHT),
                             legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),  # clear of the axis
                             margin_autoexpand=True)
        figure.update_xaxes(automargin=True)
        figure.update_yaxes(automargin=True)
    return figure


def bar(pages: dict[str, st.Page], current: st.Page) -> None:
    """Above every page while a tour plays: scene k of n, its title and narration, Previous / Next (also ← / → and
    PageUp / PageDown, what presentation clickers send), the jump list, presenter mode and Exit. A scene just
    chosen on another page than this one switches to it."""
    ui = page_state()
    for note in ui.notes:  # they quote the tour's own text: shown as typed
        st.warning(plain_markdown(note), icon=":material/slideshow:")
    ui.notes.clear()
    if not ui.playing or not ui.tour:
        return
    scene, count = ui.tour.scenes[ui.index], len(ui.tour.scenes)
    if ui.switch:
        ui.switch = False
        if pages[scene.page].url_path != current.url_path:
            st.switch_page(pages[scene.page])
    with st.container(border=True, key=ui.key("bar")):
        head, jump, buttons = st.columns([3.4, 2, 3.6], vertical_alignment="center")
        head.markdown(f"**{plain_markdown(scene.title)}** · scene {ui.index + 1} of {count}")
        st.session_state[ui.key("jump")] = ui.index
        jump.selectbox("Jump to scene", range(count), key=ui.key("jump"), label_visibility="collapsed",
                       format_func=lambda k: f"{k + 1}. {ui.tour.scenes[k].title}",
                       on_change=lambda: go(st.session_state[ui.key("jump")]))
        left, right, leave = buttons.columns(3)
        left.button("Back", key=ui.key("previous"), shortcut="Left",
                    disabled=ui.index == 0, on_click=go, args=(ui.index - 1,), width="stretch")
        right.button("Next", key=ui.key("next"), shortcut="Right", type="primary",
                     disabled=ui.index == count - 1, on_click=go, args=(ui.index + 1,), width="stretch")
        leave.button("Exit", key=ui.key("exit"), icon=":material/close:", on_click=stop, width="stretch",
                     help="Leave the tour: the pages show your own views again.")
        st.button("Previous scene", key=ui.key("pageup"), shortcut="PageUp", disabled=ui.index == 0,
                  on_click=go, args=(ui.index - 1,))
        st.button("Next scene", key=ui.key("pagedown"), shortcut="PageDown", disabled=ui.index == count - 1,
                  on_click=go, args=(ui.index + 1,))
        if scene.narration:
            st.markdown(plain_markdown(scene.narration))


def presenter_toggle() -> None:
    """Presenter mode's switch, in the sidebar (the URL's `present=1` sets it too)."""
    key = page_state().key("presenting")
    st.session_state[key] = state.presenting()
    st.toggle("Presenter mode", key=key, on_change=lambda: set_presenting(st.session_state[key]),
                 help="Larger type, the sidebar folded away and each scene's figure sized for a 1280 × 720 "
                      "projector. A link with present=1 opens in it.")


def add_to_tour(page: str, view, title: str) -> None:
    """"Add to tour": the page's current view (a dict, or a function that makes it when the button is clicked: a
    fragment may have changed the view since the page drew the button) becomes the last scene of the tour being
    written."""
    ui = page_state()
    view = view() if callable(view) else view
    if len(ui.draft) >= 40:
        st.toast("Your tour has 40 scenes, the most a tour holds.", icon=":material/block:")
        return
    ui.draft.append(Scene(title, "", page, {k: v for k, v in view.items() if v is not None}))
    st.toast(f"Added as scene {len(ui.draft)} of your tour (the Tour page edits it).", icon=":material/add_to_queue:")


def add_button(where, page: str, view, title: str, key: str, possible: bool = True) -> None:
    """The "Add to tour" button of a page (`view`: as add_to_tour takes it), disabled when the view is not one a
    link can hold (`possible`)."""
    where.button("Add to tour", key=key, icon=":material/add_to_queue:", disabled=not possible,
                 on_click=add_to_tour, args=(page, view, title),
                 help="Take this view as the next scene of your tour (the Tour page plays and edits it)."
                 if possible else "Only a saved model's views can go into a tour.")
