"""Overview: calls, mean QA score, pass rate and flagged calls over time; the score distribution; the
breakdown by queue and agent; the rules failed most; the worst calls; rejected files and recent runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboards import data, ui

st.title("Overview")
filters = ui.call_filters("overview")
kw = filters.kwargs()
daily = data.query("qa_summary", by="call_date", **kw)


def totals(df: pd.DataFrame) -> tuple[int, float | None, float | None, int]:
    calls, scored, passed = int(df["calls"].sum()), int(df["scored"].sum()), int(df["passed"].sum())
    weighted = (df["mean_qa_score"].fillna(0) * df["scored"]).sum()
    mean = weighted / scored if scored else None
    return calls, mean, (passed / scored if scored else None), int(df["flagged"].sum())


calls, mean_score, pass_rate, flagged = totals(daily)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Calls", f"{calls:,}", border=True)
c2.metric("Mean QA score", ui.fmt_score(mean_score), border=True)
c3.metric("Pass rate", "–" if pass_rate is None else f"{100 * pass_rate:.0f}%", border=True)
c4.metric("Flagged calls", f"{flagged:,}", border=True,
          help="Calls that failed the QA score or at least one rule.")

if daily.empty:
    ui.empty("No calls in this selection yet." if filters.date_from else
             "No calls stored yet: the nightly flow fills the warehouse (`callqc run`).")
else:
    st.subheader("Over time")
    series = daily.assign(pass_rate=100 * daily["pass_rate"])
    left, right = st.columns(2)
    with left:
        st.caption("Calls and flagged calls per day")
        st.bar_chart(ui.by_day(series)[["calls", "flagged"]], stack=False, height=220)
    with right:
        st.caption("Mean QA score and pass rate (%) per day")
        st.line_chart(ui.by_day(series, temporal=True)[["mean_qa_score", "pass_rate"]], height=220)

    left, right = st.columns(2)
    with left:
        st.subheader("Score distribution")
        scores = data.query("qa_scores", **kw)
        if scores.empty:
            ui.empty("No QA scores in this selection.")
        else:
            counts, edges = np.histogram(scores["score"].clip(0, 100), bins=20, range=(0, 100))
            bins = [f"{int(e):02d}–{int(e) + 5}" for e in edges[:-1]]
            hist = pd.DataFrame({"score": bins, "calls": counts})
            st.bar_chart(hist, x="score", y="calls", height=240)
    with right:
        st.subheader("Rules failed most")
        failures = data.query("rule_failures", **kw)
        if failures.empty:
            st.caption("No rule failed in this selection.")
        else:
            st.dataframe(failures, hide_index=True, width="stretch",
                         column_config={"points_lost": st.column_config.NumberColumn(format="%.1f")})

    qa_cols = {
        "calls": st.column_config.NumberColumn("Calls"),
        "scored": st.column_config.NumberColumn("Scored"),
        "mean_qa_score": st.column_config.ProgressColumn("Mean QA score", min_value=0, max_value=100,
                                                         format="%.1f", width="small"),
        "pass_rate": st.column_config.ProgressColumn("Pass rate", min_value=0, max_value=1, format="percent",
                                                     width="small"),
        "flagged": st.column_config.NumberColumn("Flagged"),
    }
    left, right = st.columns(2)
    with left:
        st.subheader("By queue")
        st.dataframe(data.query("qa_summary", by="queue", **kw), hide_index=True, width="stretch",
                     column_config=qa_cols, column_order=["queue", *qa_cols])
    with right:
        st.subheader("By agent")
        by_agent = data.query("qa_summary", by="agent_id", **kw)
        st.dataframe(by_agent, hide_index=True, width="stretch", column_config=qa_cols,
                     column_order=["agent_id", *qa_cols])

    st.subheader("Worst calls")
    worst = data.query("call_list", limit=10, **kw)
    picked = ui.call_table(worst, "overview-worst")
    if picked:
        st.switch_page("views/call.py", query_params={"call_id": picked})

st.subheader("Rejected files")
rejected = data.query("rejections")
if rejected.empty:
    st.caption("No file has been rejected.")
else:
    st.caption("Files the pipeline could not process, and why (most recently seen first).")
    st.dataframe(
        rejected[["last_seen_at", "file", "reason", "external_id", "times_seen", "first_seen_at"]],
        hide_index=True,
        width="stretch",
        column_config={
            "last_seen_at": st.column_config.DatetimeColumn("Last seen (UTC)", format="YYYY-MM-DD HH:mm"),
            "first_seen_at": st.column_config.DatetimeColumn("First seen (UTC)", format="YYYY-MM-DD HH:mm"),
            "reason": st.column_config.TextColumn("Reason", width="large"),
        },
    )

with st.expander("Recent pipeline runs"):
    runs = data.query("runs", limit=20)
    if runs.empty:
        st.caption("No pipeline run yet.")
    else:
        cols = ["started_at", "finished_at", "status", "processed", "rejected", "skipped", "audio_seconds",
                "processing_seconds", "code_version", "host", "run_id"]
        st.dataframe(runs[[c for c in cols if c in runs]], hide_index=True, width="stretch")
