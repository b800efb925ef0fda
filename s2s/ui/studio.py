"""The pages' entry script (app.py serves it): page config, the model service and the navigation. Page paths are
relative to this file. Each page keeps its own settings (Explore in its ExploreState, Train and Evaluate in their
PageSettings): nothing here re-assigns widget values."""

import streamlit as st

from s2s.ui.presenter import presenter_ui
from s2s.ui.state import service

st.set_page_config(page_title="Seq2Seq Studio", page_icon=":material/swap_horiz:", layout="wide")
service()  # started by app.py's lifespan; AppTest and embedders that skip it start it here
presenter_ui()
st.navigation([
    st.Page("explore/page.py", title="Explore", icon=":material/search:", url_path="explore", default=True),
    st.Page("train.py", title="Train", icon=":material/model_training:"),
    st.Page("evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("models.py", title="Models", icon=":material/inventory_2:"),
]).run()
