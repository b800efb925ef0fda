"""Tour page: play the built-in tour of the tutorial's story or a tour file, and write your own (the scenes "Add to
tour" took on Explore and Evaluate: reorder, retitle, narrate, remove; download it as a file, or copy a link that
plays it). The state is the TourState of s2s/ui/tour.py; a scene plays on its own page, under the tour's bar."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import streamlit as st

from s2s.ui import tour
from s2s.ui.tour_file import (BUILTIN_NAME, MAX_BYTES, MAX_LINK_CHARS, Tour, TourError, builtin, dumps, loads,
                               pack, plain_markdown)

ui = tour.page_state()


def scene_list(shown: Tour) -> None:
    st.markdown("\n".join(f"{k}. {plain_markdown(scene.title)} ({scene.page})"
                          for k, scene in enumerate(shown.scenes, 1)))


def play_button(shown: Tour, source: str, key: str, label: str = "Play") -> None:
    def start() -> None:
        if not tour.play(shown, source):
            ui.notes.insert(0, "None of this tour's scenes can be shown here.")
    st.button(label, key=tour.TourState.key(key), icon=":material/slideshow:", type="primary", on_click=start)


def builtin_ui() -> None:
    shown = builtin()
    st.subheader(shown.title)
    st.caption(f"{len(shown.scenes)} scenes on the shipped models: the problem, one decode step by step, the "
               "tutorial's loop against greedy, a what-if, watching classic learn, beam search, attention and where "
               "length generalization breaks. Every number in the narration is checked against the models by the "
               "tests.")
    scene_list(shown)
    cols = st.columns([1, 1, 3])
    with cols[0]:
        play_button(shown, BUILTIN_NAME, "play_builtin")
    cols[1].button("Edit a copy", key=ui.key("copy_builtin"), icon=":material/edit:",
                   on_click=lambda: load_draft(shown))


def load_draft(source: Tour) -> None:
    ui.draft, ui.draft_title = list(source.scenes), source.title
    ui.draft_version += 1


def upload_ui() -> None:
    st.subheader("Open a tour file")
    upload = st.file_uploader("A tour file (.json) someone wrote with this page", type=["json"],
                              key=ui.key("upload"), max_upload_size=1)
    if upload is None:
        return
    try:
        opened = loads(upload.getvalue(), upload.name)
    except TourError as error:
        st.error(plain_markdown(str(error)), icon=":material/error:")  # it quotes the file
        return
    checked = tour.usable(opened)
    st.markdown(f"**{plain_markdown(checked.title)}**: {len(checked.scenes)} scenes")
    for note in checked.skipped:
        st.warning(plain_markdown(f"Left out: {note}."), icon=":material/block:")
    if not checked.scenes:
        return
    scene_list(checked)
    cols = st.columns([1, 1, 3])
    with cols[0]:
        play_button(checked, pack(checked), "play_upload")
    cols[1].button("Edit it", key=ui.key("edit_upload"), icon=":material/edit:",
                   on_click=lambda: load_draft(checked))


def move(index: int, by: int) -> None:
    scenes = ui.draft
    scenes[index], scenes[index + by] = scenes[index + by], scenes[index]
    ui.draft_version += 1


def remove(index: int) -> None:
    del ui.draft[index]
    ui.draft_version += 1


def edited(index: int, field: str) -> None:
    value = st.session_state[ui.key(f"{field}_{ui.draft_version}_{index}")]
    ui.draft[index] = replace(ui.draft[index], **{field: value})


def draft_ui() -> None:
    st.subheader("Your tour")
    if not ui.draft:
        st.info("Empty. On Explore or Evaluate, **Add to tour** takes the view on screen as a scene; or edit a copy "
                "of the built-in tour above.", icon=":material/add_to_queue:")
        return
    ui.draft_title = st.text_input("Title", ui.draft_title, max_chars=120, key=ui.key(f"title_{ui.draft_version}"))
    for k, scene in enumerate(ui.draft):
        with st.container(border=True, key=ui.key(f"scene_{ui.draft_version}_{k}")):
            head, up, down, drop = st.columns([6, 1, 1, 1], vertical_alignment="bottom")
            head.text_input(f"Scene {k + 1} ({scene.page}: {scene.view.get('model', '?')})", scene.title,
                            max_chars=120, key=ui.key(f"title_{ui.draft_version}_{k}"), on_change=edited,
                            args=(k, "title"))
            up.button("Up", key=ui.key(f"up_{ui.draft_version}_{k}"), icon=":material/arrow_upward:",
                      disabled=k == 0, on_click=move, args=(k, -1))
            down.button("Down", key=ui.key(f"down_{ui.draft_version}_{k}"), icon=":material/arrow_downward:",
                        disabled=k == len(ui.draft) - 1, on_click=move, args=(k, 1))
            drop.button("Remove", key=ui.key(f"remove_{ui.draft_version}_{k}"), icon=":material/delete:",
                        on_click=remove, args=(k,))
            st.text_area("Narration (shown as typed: no Markdown, no HTML)", scene.narration, max_chars=1500,
                         height=80, key=ui.key(f"narration_{ui.draft_version}_{k}"), on_change=edited,
                         args=(k, "narration"))
            st.caption(" · ".join(f"{name} = {value}" for name, value in scene.view.items()))
    written = Tour(ui.draft_title or "My tour", tuple(ui.draft))
    text, packed = dumps(written), pack(written)
    if len(text.encode()) > MAX_BYTES or len(packed) > MAX_LINK_CHARS:
        st.warning(f"Your tour is over what a tour file ({MAX_BYTES // 1024} KiB) or a link ({MAX_LINK_CHARS:,} "
                   "characters) may hold: shorten the narrations or remove scenes to play, save or share it.",
                   icon=":material/block:")
        return
    cols = st.columns([1, 1, 1, 2], vertical_alignment="center")
    with cols[0]:
        play_button(written, packed, "play_draft", "Play yours")
    cols[1].download_button("Download", text, file_name="tour.json", mime="application/json",
                            key=ui.key("download"), icon=":material/download:")
    cols[2].button("Clear", key=ui.key("clear"), icon=":material/delete_sweep:",
                   on_click=lambda: load_draft(Tour("My tour", ())))
    with cols[3].popover("Link", icon=":material/link:"):
        st.caption("This link plays your tour in any browser that has these models:")
        st.code(f"{st.context.url or ''}?{urlencode({'tour': packed, 'scene': '1'})}", language=None,
                wrap_lines=True)


st.title("Tour")
st.caption("A tour is a live demo in scenes: each scene is a real page (Explore or Evaluate) with a view set up, "
           "a title and a short narration. Play one with Next / Previous, the arrow keys or a presentation "
           f"clicker (PageDown / PageUp). Tour files are JSON, at most {MAX_BYTES // 1024} KiB. **Presenter mode** "
           "(in the sidebar, or `present=1` in the link) enlarges the type and fits each scene to a projector.")
builtin_ui()
st.divider()
upload_ui()
st.divider()
draft_ui()
