"""The Streamlit pages: the only code in the project that imports streamlit. No model math here."""
