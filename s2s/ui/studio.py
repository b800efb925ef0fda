"""The pages' entry script (app.py serves it): page config, the model service, presenter mode, the tour's bar and
the navigation. Page paths are relative to this file. Each page keeps its own settings (Explore in its
ExploreState, Train and Evaluate in their PageSettings, the Tour page in its TourState): nothing here re-assigns
widget values."""

import streamlit as st

from s2s.ui import state, tour
from s2s.ui.presenter import presenter_ui
from s2s.ui.state import service

tour.open_link()  # `?present=1`, `?tour=…&scene=k`: once per session, before the page config reads them
st.set_page_config(page_title="Seq2Seq Studio", page_icon=":material/swap_horiz:", layout="wide",
                   initial_sidebar_state="collapsed" if state.presenting() else "auto")
service()  # started by app.py's lifespan; AppTest and embedders that skip it start it here
tour.style()
presenter_ui()
pages = {
    "explore": st.Page("explore/page.py", title="Explore", icon=":material/search:", url_path="explore",
                       default=True),
    "train": st.Page("train.py", title="Train", icon=":material/model_training:"),
    "sweep": st.Page("sweep_page.py", title="Sweep", icon=":material/grid_on:", url_path="sweep"),
    "evaluate": st.Page("evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    "models": st.Page("models.py", title="Models", icon=":material/inventory_2:"),
    "tour": st.Page("tour_page.py", title="Tour", icon=":material/slideshow:", url_path="tour"),
}
current = st.navigation(list(pages.values()))
with st.sidebar:
    tour.presenter_toggle()
tour.bar(pages, current)
current.run()
