"""A page's settings that survive a page switch: one dataclass per page, a field per setting (its default), each
field the key of the one widget that sets it (the page's prefix + the field's name).

Streamlit forgets a widget's value when its page is not shown. The widgets made from these fields ask it to keep
their values for the whole session (`persist_state="session"`), and the dataclass copies them in at every run of
its page, so the page reads its settings as typed fields and no list elsewhere mirrors its widgets."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import streamlit as st


@dataclass
class PageSettings:
    """Base of a page's settings dataclass: subclasses add the fields and may set `prefix` (their keys' start)."""

    prefix: ClassVar[str] = ""

    def key(self, name: str) -> str:
        """The key of the widget that sets `name`; KeyError for a name that is not one of the settings."""
        if name not in {setting.name for setting in fields(self)}:
            raise KeyError(f"{type(self).__name__} has no setting {name!r}.")
        return self.prefix + name

    def widget(self, name: str) -> dict[str, Any]:
        """The keyword arguments that make a widget the one that sets `name`: its key, and its value kept for the
        session. The widget takes no default of its own: `sync` gave it the field's value."""
        return {"key": self.key(name), "persist_state": "session"}

    def sync(self) -> None:
        """Call at the top of the page, before its widgets: every setting's widget value is copied into its field,
        and a widget with no value yet (the first view) is given its field's value."""
        for setting in fields(self):
            key = self.prefix + setting.name
            if key in st.session_state:
                setattr(self, setting.name, st.session_state[key])
            else:
                st.session_state[key] = getattr(self, setting.name)

    def set(self, **values: Any) -> None:
        """Give settings new values, from a callback (it runs before the widgets are drawn): presets."""
        for name, value in values.items():
            st.session_state[self.key(name)] = value
