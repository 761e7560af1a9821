"""Calls: find the calls that need attention (date, agent, queue, QA score range, failed rule, human
label, model version), worst first; a row opens the call's page."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

UNLABELLED = "\x00unlabelled"  # sentinels in the label pickers (no real label or value is empty)
NOT_SET = "\x00not-set"
ORDERS = {"worst": "Worst first", "newest": "Newest first", "oldest": "Oldest first",
          "longest": "Longest first"}
LIMITS = (100, 500, 2000)

st.title("Calls")
filters = ui.call_filters("calls")
with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        low, high = st.slider("QA score", 0.0, 100.0, (0.0, 100.0), step=1.0, key="calls-score",
                              help="Narrowing the range leaves out calls without a QA score.")
        flagged_only = st.toggle("Flagged calls only", key="calls-flagged")
    with c2:
        failed_rule = ui.choose("Failed rule", data.query("distinct_values", what="rule_id"), "calls-rule",
                                all_label="Any")
        versions = data.query("distinct_values", what="model_version")
        model_version = ui.choose("Scored by model version", versions, "calls-model", all_label="Any")
    with c3:
        labels = data.query("distinct_values", what="label")
        label = st.selectbox(
            "Human label", [None, UNLABELLED, *labels], key="calls-label",
            format_func=lambda v: "Any" if v is None else "No label at all" if v == UNLABELLED else v,
        )
        label_value = None
        if label not in (None, UNLABELLED):
            pairs = data.query("label_values")
            values = sorted(pairs.loc[pairs["label"] == label, "value"].astype(str).unique())
            label_value = st.selectbox(
                "Label value", [None, NOT_SET, *values], key="calls-label-value",
                format_func=lambda v: "Any value" if v is None else "Not set" if v == NOT_SET else v,
            )
    with c4:
        order = st.selectbox("Order", list(ORDERS), format_func=ORDERS.__getitem__, key="calls-order")
        limit = st.selectbox("Show at most", LIMITS, index=1, key="calls-limit")

kwargs: dict = dict(filters.kwargs(), order=order, limit=int(limit), flagged_only=flagged_only,
                    failed_rule=failed_rule, model_version=model_version)
if (low, high) != (0.0, 100.0):
    kwargs.update(score_min=low, score_max=high)
if label == UNLABELLED:
    kwargs.update(labelled=False)
elif label is not None:
    kwargs.update(label=label)
    if label_value == NOT_SET:
        kwargs.update(labelled=False)
    elif label_value is not None:
        kwargs.update(label_value=label_value)

calls = data.query("call_list", **kwargs)
if calls.empty:
    ui.empty("No call matches these filters.")
    st.stop()
more = " (the first ones; raise 'Show at most' to see more)" if len(calls) == int(limit) else ""
st.caption(f"{len(calls):,} calls{more}. Select a row to open the call, or use its link to open it in a "
           "new tab.")
picked = ui.call_table(calls, "calls-table", height=min(38 + 35 * len(calls), 640))
if picked:
    st.switch_page("views/call.py", query_params={"call_id": picked})
st.download_button("Download as CSV", calls.to_csv(index=False).encode(), "calls.csv", "text/csv",
                   icon=":material/download:")
