"""Models page: one card per model (settings, curves, accuracy, how to reproduce), each downloadable as one .zip;
upload such a zip into the session and save it if wanted; broken folders listed with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from s2s import charts, share, store
from s2s.service import ServiceError
from s2s.ui import state


@dataclass
class ModelsState:
    """This page's state: what became of each file given to the uploader (by Streamlit's file id), so that a
    file is checked once, not at every rerun."""

    uploads: dict[str, tuple[bool, str]] = field(default_factory=dict)  # file id -> (accepted, message)


def page_state() -> ModelsState:
    return st.session_state.setdefault("models_page", ModelsState())


def download_button(name: str, directory: Path) -> None:
    st.download_button(f"Download {name}.zip", data=lambda: share.export_bytes(directory),
                       file_name=share.archive_name(name), mime="application/zip", on_click="ignore",
                       icon=":material/download:", key=f"download_{directory}",
                       help="The model, its card and its training timeline in one zip: `python -m s2s import` or "
                            "this page's upload brings it back.")


def card_ui(name: str, directory: Path, card: dict, key: str, active: str | None, origin: str | None = None) -> bool:
    """One model's card; False (with the reason shown) when the worker cannot load it."""
    try:
        state.service().warm(directory)  # the worker loads it (once) and checks the weights against the card
    except ValueError as error:
        st.error(f"**{name}** is broken: {error}", icon=":material/broken_image:")
        return False
    except ServiceError as error:
        st.error(f"**{name}** could not be checked: {error}", icon=":material/error:")
        return False
    with st.container(border=True):
        title, button = st.columns([4, 1], vertical_alignment="center")
        title.subheader(name + (f" ({origin})" if origin else ""))
        if active == key:
            button.success("Active model")
        elif button.button("Make active", key=f"activate_{key}", type="primary"):
            state.set_active(key)
            st.rerun()
        p, m, t = card["problem"], card["model"], card["training"]
        evaluation = card.get("evaluation") or {}
        cols = st.columns(5)
        cols[0].metric("Problem", f"{p['n_in']} → {p['n_out']}", help=f"Values 1..{p['cardinality']}")
        cols[1].metric("Values", f"1..{p['cardinality']}")
        cols[2].metric("Parameters", f"{card['parameters']:,}", help=f"{m['units']} LSTM units")
        if evaluation:
            cols[3].metric("Exact accuracy", f"{100 * evaluation['exact_accuracy']:.2f} %",
                           help=f"On {evaluation['n']:,} random sequences, seed {evaluation['seed']}.")
        if card.get("training_seconds") is not None:
            cols[4].metric("Training time", f"{card['training_seconds']:,.0f} s")
        if evaluation:
            st.caption(f"Exact-sequence accuracy measured on {evaluation['n']:,} sequences (seed {evaluation['seed']}). "
                       f"Trained with batch {t['batch_size']:,}, learning rate {t['learning_rate']:g}, "
                       f"{t['samples']:,} samples × {t['epochs']:,} epoch(s), seed {t['seed']}.")
        card_text_ui(card, evaluation)
        if card.get("history"):
            st.plotly_chart(charts.training_figure([(name, card["history"])], height=300), key=f"history_{key}")
        if card.get("reproduce"):
            st.markdown("Reproduce:")
            st.code(card["reproduce"], language="bash", wrap_lines=True)
        download_button(name, directory)
    return True


def card_text_ui(card: dict, evaluation: dict) -> None:
    """The card's own words, shown as plain text: a card may come from anyone's upload, and Markdown or HTML in
    it (links, images) must not be rendered to every visitor."""
    fields = (("Learning-rate schedule", card["training"].get("schedule")), ("Created", card.get("created")),
              ("Ended", card.get("stopped")), ("Notes", card.get("notes")), ("Recovered", card.get("recovered")))
    lines = [f"{label}: {text}" for label, text in fields if isinstance(text, str) and text]
    if lines:
        st.text("\n".join(lines))
    if isinstance(evaluation.get("command"), str):
        st.code(evaluation["command"], language="bash", wrap_lines=True)


def upload_ui(ui: ModelsState) -> None:
    """The uploader: each new file is checked once (in the service: archive, then the worker loads it)."""
    uploaded = st.file_uploader(
        "Upload a model (.zip)", type=["zip"], max_upload_size=share.MAX_ARCHIVE_BYTES // share.MiB,
        key="model_upload",
        help="A zip from a card's Download button or `python -m s2s export`. It is checked (sizes, paths, the "
             "model file read as data, never run) and loaded against its card; it stays in this session until "
             "you save it.")
    if uploaded is None:
        return
    if uploaded.file_id not in ui.uploads:
        with st.spinner(f"Checking {uploaded.name}…"):
            try:
                upload = state.service().import_upload(state.session_id(), uploaded.getvalue(), uploaded.name)
            except ValueError as error:
                reason = str(error).removeprefix(f"{uploaded.name}: ")
                ui.uploads[uploaded.file_id] = (False, f"{uploaded.name} was not imported: {reason}")
            except ServiceError as error:
                ui.uploads[uploaded.file_id] = (False, f"{uploaded.name} could not be checked: {error}")
            else:
                state.set_active(state.upload_key(upload.id))
                ui.uploads[uploaded.file_id] = (True, f"{uploaded.name} is checked and loaded as **{upload.name}**, "
                                                      "now the active model on every page (this session only: "
                                                      "save it below to keep it).")
    accepted, message = ui.uploads[uploaded.file_id]
    if accepted:
        st.success(message, icon=":material/check_circle:")
    else:
        st.error(message, icon=":material/gpp_bad:")


def save_upload_ui(upload) -> None:
    with st.form(f"save_upload_{upload.id}", border=False):
        name_col, overwrite_col, button_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        name = name_col.text_input("Save as", value=upload.name, key=f"save_upload_name_{upload.id}",
                                   help=f"Saved in {state.models_root()}: letters, digits, '-' and '_'.")
        overwrite = overwrite_col.checkbox("Overwrite", key=f"save_upload_overwrite_{upload.id}")
        if button_col.form_submit_button("Save", icon=":material/save:"):
            try:
                path = state.service().save_upload(state.session_id(), upload.id, name, overwrite)
            except (ValueError, OSError) as error:
                st.error(str(error), icon=":material/error:")
            else:
                state.set_active(state.saved_key(path.name))
                st.success(f"Saved as **{path.name}**: it is listed below with the saved models.",
                           icon=":material/check_circle:")



def session_models_ui(options: dict[str, state.ModelChoice], active: str | None) -> None:
    """This session's models (its finished runs and its uploads, an upload with its Save form), if any."""
    session = [choice for key, choice in options.items() if not key.startswith("saved:")]
    if not session:
        return
    st.header("This session")
    uploads = {state.upload_key(u.id): u for u in state.service().uploads(state.session_id())}
    for choice in session:
        upload = uploads.get(choice.key)
        origin = "uploaded" if upload else "trained this session"
        if card_ui(choice.directory.name, choice.directory, choice.card, choice.key, active, origin) and upload:
            save_upload_ui(upload)


def saved_models_ui(active: str | None) -> None:
    """Every folder of the models root: a card for each model, the reason for each broken one."""
    st.header("Saved")
    entries = store.list_models(state.models_root())
    if not entries:
        st.info("No saved models yet: train one on the Train page and save it.")
    for entry in entries:
        if entry.ok:
            card_ui(entry.name, entry.path, entry.card, state.saved_key(entry.name), active)
        else:
            st.error(f"**{entry.name}** is broken: {entry.error}", icon=":material/broken_image:")


st.title("Models")
st.caption(f"Saved models in `{state.models_root()}`: each is `model.keras` plus a model card, downloadable as one "
           "zip. Models of this session (runs trained here, uploads) are listed first.")
ui = page_state()
state.require_worker()
upload_ui(ui)
options = state.model_options()
active = state.active_key(options)
session_models_ui(options, active)
saved_models_ui(active)
