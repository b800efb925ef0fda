"""Seq2Seq Studio: `streamlit run app.py`.

The server is Streamlit's ASGI app (st.App) around the pages' script, s2s/ui/studio.py. Its lifespan starts the
model service as the server starts, so TensorFlow loads in the inference worker while the first visitor's browser
is still connecting, and ends the workers when the server stops. Its middleware gives each browser a visitor
cookie (s2s/ui/identity.py): a reload or a second tab finds the same runs, uploads and saved models."""

import streamlit as st
from starlette.middleware import Middleware

from s2s.ui.identity import VisitorCookie
from s2s.ui.state import serve

app = st.App("s2s/ui/studio.py", lifespan=serve, middleware=[Middleware(VisitorCookie)])
