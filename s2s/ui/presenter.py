"""Presenter rights: the password in Streamlit's secrets (`presenter_password` in .streamlit/secrets.toml) unlocks
them in one session, which may then replace or delete any saved model, stop any run and see every run in the queue.
Without a password configured nobody has them (a single user on a laptop loses nothing: their saves are theirs)."""

from __future__ import annotations

import hmac
import time

import streamlit as st

WRONG_PASSWORD_PAUSE = 1.0  # seconds a wrong guess costs the guesser's session


def configured_password() -> str | None:
    """The presenter password from the secrets, or None when there is none (or no secrets file at all)."""
    try:
        value = st.secrets.get("presenter_password")
    except Exception:  # no secrets.toml, or one that does not parse: no presenter
        return None
    return value if isinstance(value, str) and value else None


def _leave() -> None:
    st.session_state["presenter"] = False


def presenter_ui() -> None:
    """The sidebar's Presenter box: a password form, or the rights held and a way to give them up. Nothing at all
    when no password is configured."""
    password = configured_password()
    if password is None:
        return
    with st.sidebar.expander("Presenter", icon=":material/co_present:",
                             expanded=st.session_state.get("presenter", False) is True):
        if st.session_state.get("presenter", False) is True:
            st.success("Presenter rights in this session: replace or delete any saved model, stop any run.")
            st.button("Give up presenter rights", key="presenter_leave", on_click=_leave)
            return
        with st.form("presenter_form", border=False):
            entered = st.text_input("Presenter password", type="password", key="presenter_password")
            submitted = st.form_submit_button("Unlock")
        if not submitted:
            return
        if hmac.compare_digest(entered.encode(), password.encode()):
            st.session_state["presenter"] = True
            st.rerun()
        time.sleep(WRONG_PASSWORD_PAUSE)
        st.error("Wrong password: nothing changed.")
