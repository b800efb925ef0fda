"""The Explore page (page.py) and its parts, one module per view: session (its one state object), controls (what
it decodes), stepping (the decode and its figure), timeline, live, the strategy views (views.py registers curve,
beam, sampling, context) and its links (links.py, without Streamlit; share.py applies them)."""
