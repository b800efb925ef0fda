"""Seq2Seq Studio: `streamlit run app.py`. Page config, the model service and navigation; the pages live in s2s/ui/."""

import streamlit as st

from s2s.ui.state import keep_settings, service

st.set_page_config(page_title="Seq2Seq Studio", page_icon=":material/swap_horiz:", layout="wide")
keep_settings()
service()  # the first visit starts the model worker: TensorFlow loads there while this page draws
st.navigation([
    st.Page("s2s/ui/explore.py", title="Explore", icon=":material/search:", default=True),
    st.Page("s2s/ui/train.py", title="Train", icon=":material/model_training:"),
    st.Page("s2s/ui/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("s2s/ui/models.py", title="Models", icon=":material/inventory_2:"),
]).run()
