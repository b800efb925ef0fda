"""Seq2Seq Studio: `streamlit run app.py`.

The server is Streamlit's ASGI app (st.App) around the pages' script, s2s/ui/studio.py. Its lifespan starts the
model service as the server starts, so TensorFlow loads in the inference worker while the first visitor's browser
is still connecting, and ends the workers when the server stops."""

import streamlit as st

from s2s.ui.state import serve

app = st.App("s2s/ui/studio.py", lifespan=serve)
