"""Models page: one card per model (settings, curves, accuracy, how to reproduce), each downloadable as one .zip;
upload such a zip into the session and save it if wanted; broken folders listed with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from s2s import charts, share
from s2s.service import ServiceError
from s2s.ui import state
from s2s.ui.saving import save_form


@dataclass
class ModelsState:
    """This page's state: what became of each file given to the uploader (by Streamlit's file id), so that a
    file is checked once, not at every rerun."""

    uploads: dict[str, tuple[bool, str]] = field(default_factory=dict)  # file id -> (accepted, message)
    offers: dict = field(default_factory=dict)  # the Save forms' refusals and free names offered (s2s/ui/saving.py)
    deleted: str | None = None                  # what the last Delete did (or why it could not)


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
                           help=f"On {evaluation['n']:,} random sequences, seed {evaluation['seed']}"
                                + (", measured here when it was uploaded." if "claimed_evaluation" in card else "."))
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
    claimed = card.get("claimed_evaluation")
    if isinstance(claimed, dict) and isinstance(claimed.get("exact_accuracy"), (int, float)):
        lines.append(f"The uploader's card claimed {100 * claimed['exact_accuracy']:.2f} % exact accuracy (not "
                     "measured here; the figure above is).")
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


def save_upload_ui(upload, ui: ModelsState) -> None:
    path = save_form(f"save_upload_{upload.id}", upload.name, lambda name, overwrite: state.service().save_upload(
        state.session_id(), upload.id, name, overwrite, presenter=state.presenter()), ui.offers)
    if path is not None:
        state.set_active(state.saved_key(path.name))
        st.success(f"Saved as **{path.name}**: it is listed below with the saved models, as yours.",
                   icon=":material/check_circle:")


def session_models_ui(options: dict[str, state.ModelChoice], active: str | None, ui: ModelsState) -> None:
    """This session's models (its finished runs and its uploads, an upload with its Save form), if any."""
    session = [choice for key, choice in options.items() if not key.startswith("saved:")]
    if not session:
        return
    st.header("This session")
    uploads = {state.upload_key(u.id): u for u in state.service().uploads(state.session_id())}
    for choice in session:
        upload = uploads.get(choice.key)
        origin = "uploaded" if upload else "trained this session"
        card = {**choice.card, **upload.measured_card_fields()} if upload else choice.card
        if card_ui(choice.directory.name, choice.directory, card, choice.key, active, origin) and upload:
            save_upload_ui(upload, ui)


def delete_model(name: str) -> None:
    ui = page_state()
    try:
        state.service().delete_saved(state.session_id(), name, presenter=state.presenter())
    except (KeyError, PermissionError, ValueError, OSError) as error:
        ui.deleted = f"{name} was not deleted: {str(error).strip(chr(39))}"
    else:
        ui.deleted = f"Deleted {name}."


def saved_entry_ui(entry, active: str | None) -> None:
    """A model saved from the app: its card, who saved it and when, and Delete for its owner or the presenter."""
    mine = entry.owner == state.session_id()
    by = "you" if mine else entry.saved_by or "someone"
    if entry.ok and not card_ui(entry.name, entry.path, entry.card, state.saved_key(entry.name), active,
                                f"saved by {by}"):
        return
    if not entry.ok:
        st.error(f"**{entry.name}** is broken: {entry.error}", icon=":material/broken_image:")
    text, button = st.columns([5, 1], vertical_alignment="center")
    text.caption(f"Saved {entry.saved_at or '(time unknown)'} by {by}.")
    if mine or state.presenter():
        button.button("Delete", key=f"delete_{entry.name}", icon=":material/delete:", on_click=delete_model,
                      args=(entry.name,), use_container_width=True)


def saved_models_ui(active: str | None, ui: ModelsState) -> None:
    """The shipped models (read-only), then those saved here: a card for each, the reason for each broken one."""
    entries = state.service().saved_models()
    st.header("Shipped")
    st.caption(f"In `{state.models_root()}`: the app never replaces or deletes these.")
    for entry in (e for e in entries if e.shipped):
        if entry.ok:
            card_ui(entry.name, entry.path, entry.card, state.saved_key(entry.name), active)
        else:
            st.error(f"**{entry.name}** is broken: {entry.error}", icon=":material/broken_image:")
    st.header("Saved here")
    st.caption(f"In `{state.service().saved_root}`: a model saved from the app can be replaced or deleted by the session "
               "that saved it (or the presenter).")
    if ui.deleted:
        st.info(ui.deleted)
        ui.deleted = None
    saved = [e for e in entries if not e.shipped]
    if not saved:
        st.info("No saved models yet: train one on the Train page and save it.")
    for entry in saved:
        saved_entry_ui(entry, active)


st.title("Models")
st.caption("Each model is `model.keras` plus a model card, downloadable as one zip. Models of this session (runs "
           "trained here, uploads) are listed first.")
ui = page_state()
state.require_worker()
upload_ui(ui)
options = state.model_options()
active = state.active_key(options)
session_models_ui(options, active, ui)
saved_models_ui(active, ui)
