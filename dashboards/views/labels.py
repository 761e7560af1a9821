"""Labelling (``/labels?call_id=...``): analysts set or correct a call's labels. Each change is a new row
of the ``labels`` history with who set it and when; the retraining flow reads the latest label per call
and label (``v_latest_labels`` / ``Warehouse.labels_frame``)."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Labelling")
st.caption("Labels set here are stored with your name and the time, and feed the next retraining "
           "(the latest label per call and label wins; earlier ones stay in the history).")

call_id = ui.call_id_param()
if call_id is None:
    st.subheader("Calls to label")
    c1, c2, c3 = st.columns([2, 1, 1])
    with c1:
        date_from, date_to = ui.date_range("labels-dates")
    with c2:
        todo = st.selectbox("Show", ["Unlabelled calls", "All calls"], key="labels-todo")
    with c3:
        flagged_only = st.toggle("Flagged calls only", key="labels-flagged")
    queue = data.query("call_list", date_from=date_from, date_to=date_to, flagged_only=flagged_only,
                       labelled=False if todo == "Unlabelled calls" else None, limit=200)
    if queue.empty:
        ui.empty("No call to label with these filters.")
    else:
        st.caption("Select a call to label it (worst first).")
        picked = ui.call_table(queue, "labels-queue", height=300)
        if picked:
            st.query_params["call_id"] = picked
            st.rerun()
else:
    result = data.load_call(call_id)
    if result is None:
        st.error(f"No call with id {ui.md(call_id)}.")
    else:
        call = result.call
        with st.container(border=True):
            st.markdown(f"**Call {ui.md(call.external_id)}** · agent {ui.md(call.agent_id or '–')} · "
                        f"queue {ui.md(call.queue or '–')} · QA score "
                        f"{ui.fmt_score(result.qa.score if result.qa else None)}")
            c1, c2 = st.columns([1, 1])
            c1.page_link("views/call.py", label="Open the call's page", icon=":material/call:",
                         query_params={"call_id": call.call_id})
            if c2.button("Label another call", key="labels-another", icon=":material/arrow_back:"):
                del st.query_params["call_id"]
                st.rerun()
            with st.expander("Transcript"):
                ui.transcript(result.turns, "labels-transcript")
        ui.label_editor(call.call_id, "labels")

st.subheader("Recent labelling")
only_mine = st.toggle("Only mine", key="labels-mine", disabled=ui.current_user() is None)
activity = data.query("label_activity", who=ui.current_user() if only_mine else None, limit=200)
if activity.empty:
    st.caption("No labels set yet.")
else:
    st.dataframe(
        activity,
        hide_index=True,
        width="stretch",
        column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )
    latest = data.warehouse().labels_frame()
    st.download_button("Download the latest labels (CSV, what training reads)",
                       latest.to_csv(index=False).encode(), "labels.csv", "text/csv",
                       icon=":material/download:")
