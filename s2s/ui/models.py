"""Models page: one card per saved model (settings, curves, accuracy, how to reproduce); broken files listed."""

from __future__ import annotations

import streamlit as st

from s2s import charts, store
from s2s.service import ServiceError
from s2s.ui import state


def card_ui(entry: store.Entry, active: str | None) -> None:
    card, key = entry.card, state.saved_key(entry.name)
    try:
        state.service().warm(entry.path)  # the worker loads it (once) and checks the weights against the card
    except ValueError as error:
        st.error(f"**{entry.name}** is broken: {error}", icon=":material/broken_image:")
        return
    except ServiceError as error:
        st.error(f"**{entry.name}** could not be checked: {error}", icon=":material/error:")
        return
    with st.container(border=True):
        title, button = st.columns([4, 1], vertical_alignment="center")
        title.subheader(entry.name)
        if active == key:
            button.success("Active model")
        elif button.button("Make active", key=f"activate_{entry.name}", type="primary"):
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
            st.caption(f"Exact-sequence accuracy measured on {evaluation['n']:,} sequences (seed {evaluation['seed']}) "
                       f"by `{evaluation.get('command', 'python -m s2s evaluate')}`. "
                       f"Trained {card['created'][:10]} with batch {t['batch_size']}, learning rate "
                       f"{t['learning_rate']:g} ({t.get('schedule', 'constant')}), {t['samples']:,} samples × "
                       f"{t['epochs']} epoch(s), seed {t['seed']}; {card.get('stopped') or 'completed'}.")
        if card.get("notes"):
            st.markdown(card["notes"])
        if card.get("history"):
            st.plotly_chart(charts.training_figure([(entry.name, card["history"])], height=300),
                            key=f"history_{entry.name}")
        if card.get("reproduce"):
            st.markdown("Reproduce:")
            st.code(card["reproduce"], language="bash", wrap_lines=True)


st.title("Models")
st.caption(f"Saved models in `{state.models_root()}`: each is `model.keras` plus a model card.")
entries = store.list_models(state.models_root())
if not entries:
    st.info("No saved models yet: train one on the Train page and save it.")
active = state.active_key(state.model_options())
state.require_worker()
for entry in entries:
    if entry.ok:
        card_ui(entry, active)
    else:
        st.error(f"**{entry.name}** is broken: {entry.error}", icon=":material/broken_image:")
