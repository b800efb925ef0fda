"""Seq2Seq Studio: `streamlit run app.py`. Page config and navigation only; the pages live in s2s/ui/."""

import streamlit as st

from s2s.ui.state import keep_settings

st.set_page_config(page_title="Seq2Seq Studio", page_icon=":material/swap_horiz:", layout="wide")
keep_settings()
st.navigation([
    st.Page("s2s/ui/explore.py", title="Explore", icon=":material/search:", default=True),
    st.Page("s2s/ui/train.py", title="Train", icon=":material/model_training:"),
    st.Page("s2s/ui/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("s2s/ui/models.py", title="Models", icon=":material/inventory_2:"),
]).run()
