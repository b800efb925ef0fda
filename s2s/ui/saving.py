"""The one Save form of the pages (a run on Train, an upload on Models): a name, Overwrite, Save; a taken name is
answered with the service's reason and a button that saves under the free name it offers instead."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from s2s.service import LimitError, NameTaken
from s2s.ui import state


def save_form(key: str, default_name: str, save: Callable[[str, bool], Path], offers: dict[str, tuple[str, str]],
              where=st) -> Path | None:
    """Draw the form under `key` (in `where`); `save(name, overwrite)` does the saving. `offers` (the page's state)
    keeps the refusal of a taken name and the free name offered instead, by form key, until it is taken or another
    save is asked for. Returns the saved folder when a save succeeded."""
    with where.form(key, border=False):
        name_col, overwrite_col, button_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        name = name_col.text_input("Save as", value=default_name, key=f"{key}_name",
                                   help=f"Saved in {state.service().saved_root}, beside the shipped models (which are never "
                                        "replaced): letters, digits, '-' and '_'.")
        overwrite = overwrite_col.checkbox("Overwrite", key=f"{key}_overwrite",
                                           help="Replace a model of that name that this session saved.")
        submitted = button_col.form_submit_button("Save", icon=":material/save:")
    offer = offers.pop(key, None)
    if not submitted and offer and _offer_ui(where, key, offer):
        name, overwrite, submitted = offer[0], False, True
    elif not submitted and offer:
        offers[key] = offer  # still on offer
    if not submitted:
        return None
    try:
        saved = save(name, overwrite)
    except NameTaken as taken:
        offers[key] = (taken.free, str(taken))
        _offer_ui(where, key, offers[key])
    except LimitError as error:
        where.error(str(error), icon=":material/block:")
    except (ValueError, OSError) as error:  # a bad name, or a save of that name that finished at the same moment
        where.error(str(error), icon=":material/error:")
    else:
        return saved
    return None


def _offer_ui(where, key: str, offer: tuple[str, str]) -> bool:
    """The refusal of a taken name and a button that saves under the free name instead (True when clicked)."""
    free, message = offer
    where.warning(message, icon=":material/warning:")
    return where.button(f"Save as {free} instead", key=f"{key}_free", icon=":material/save_as:")

