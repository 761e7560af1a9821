"""The dashboard's entry script: ``streamlit run dashboards/app.py`` (what ``callqc dashboard`` runs).

Every page runs through here: settings, then the login (when a password hash is configured, nothing
else renders until the session signs in), then the warehouse, then the selected page.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.set_page_config(page_title="callqc · QA", page_icon=":material/headset_mic:", layout="wide")

try:
    cfg = data.settings()
except Exception as exc:  # noqa: BLE001  (any invalid QC_* value: say which and stop)
    st.error(f"The callqc settings are invalid: {ui.md(exc)}")
    st.stop()

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("views/calls.py", title="Calls", icon=":material/list_alt:", url_path="calls"),
    st.Page("views/call.py", title="Call detail", icon=":material/call:", url_path="call"),
    st.Page("views/agent.py", title="Agents", icon=":material/support_agent:", url_path="agent"),
    st.Page("views/labels.py", title="Labelling", icon=":material/label:", url_path="labels"),
    st.Page("views/models.py", title="Models", icon=":material/model_training:", url_path="models"),
]

signed_in = ui.signed_in(cfg)
# The pages are registered before the login so that a deep link (/call?call_id=...) survives it.
page = st.navigation(PAGES, position="sidebar" if signed_in else "hidden")
if not signed_in:
    ui.login_form(cfg)
    st.stop()

try:
    data.warehouse()
except Exception as exc:  # noqa: BLE001  (unreachable database, schema too new: say so, show nothing)
    where = cfg.public_dict()["database_url"]
    st.error(f"Cannot open the warehouse at {ui.md(where)}: {ui.md(type(exc).__name__)}: {ui.md(exc)}")
    st.stop()

ui.sidebar_user(cfg)
page.run()
