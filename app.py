"""Seq2Seq Studio: `streamlit run app.py`.

The server is Streamlit's ASGI app (st.App) around the pages' script, s2s/ui/studio.py. Its lifespan starts the
model service as the server starts, so TensorFlow loads in the inference worker while the first visitor's browser
is still connecting, and ends the workers when the server stops. Its middleware gives each browser a visitor
cookie (s2s/ui/identity.py): a reload or a second tab finds the same runs, uploads and saved models. With
S2S_SERVER_TIMING set to a file, a second one times the server's part of every rerun there (s2s/ui/server_timing.py,
for the benchmarks)."""

import os

import streamlit as st
from starlette.middleware import Middleware

from s2s.ui.identity import VisitorCookie
from s2s.ui.server_timing import SETTING, RerunTiming
from s2s.ui.state import serve

middleware = [Middleware(VisitorCookie)]
if os.environ.get(SETTING):
    middleware.append(Middleware(RerunTiming, path=os.environ[SETTING]))
app = st.App("s2s/ui/studio.py", lifespan=serve, middleware=middleware)
