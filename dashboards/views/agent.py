"""Agents (``/agent?agent_id=...``): one agent's QA scores, rule failures and conversation habits over
time, next to all agents' figures, and the agent's worst calls."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, ui

st.title("Agents")
agents = data.query("distinct_values", what="agent_id")
if not agents:
    ui.empty("No calls with an agent stored yet.")
    st.stop()

wanted = st.query_params.get("agent_id")
c1, c2 = st.columns([1, 2])
with c1:
    agent_id = st.selectbox("Agent", agents, index=agents.index(wanted) if wanted in agents else 0,
                            key="agent-id")
with c2:
    date_from, date_to = ui.date_range("agent-dates", default_days=None)
st.query_params["agent_id"] = agent_id
span = {"date_from": date_from, "date_to": date_to}

mine = data.query("qa_summary", by="agent_id", agent_id=agent_id, **span)
everyone = data.query("qa_summary", by="agent_id", **span)
if mine.empty:
    ui.empty("This agent has no calls in these dates.")
    st.stop()
row = mine.iloc[0]
scored_all = everyone["scored"].sum()
weighted = (everyone["mean_qa_score"].fillna(0) * everyone["scored"]).sum()
mean_all = weighted / scored_all if scored_all else None
m1, m2, m3, m4 = st.columns(4)
m1.metric("Calls", f"{int(row['calls']):,}", border=True)
versus = None
if mean_all is not None and not pd.isna(row["mean_qa_score"]):
    versus = f"{row['mean_qa_score'] - mean_all:+.1f} vs all"
m2.metric("Mean QA score", ui.fmt_score(row["mean_qa_score"]), versus, border=True)
m3.metric("Pass rate", "–" if pd.isna(row["pass_rate"]) else f"{100 * row['pass_rate']:.0f}%", border=True)
m4.metric("Flagged calls", f"{int(row['flagged']):,}", border=True)

raw = data.query("agent_daily", agent_id=agent_id, **span)
daily = ui.by_day(raw, temporal=True)
left, right = st.columns(2)
with left:
    st.subheader("QA score over time")
    st.line_chart(daily[["mean_qa_score"]], height=220)
with right:
    st.subheader("Calls, QA failures, flags per day")
    st.bar_chart(ui.by_day(raw)[["calls", "qa_failed", "flagged"]], stack=False, height=220)

st.subheader("Rule failures over time")
failures = data.query("rule_failures", by="call_date", agent_id=agent_id, **span)
if failures.empty:
    st.caption("No rule failed on this agent's calls in these dates.")
else:
    per_day = ui.by_day(failures).pivot_table(
        index="call_date", columns="rule_id", values="failures", aggfunc="sum", fill_value=0
    )
    left, right = st.columns([3, 2])
    left.bar_chart(per_day, height=240)
    totals = data.query("rule_failures", agent_id=agent_id, **span)
    right.dataframe(totals[["rule_id", "failures", "points_lost"]], hide_index=True, width="stretch",
                    column_config={"points_lost": st.column_config.NumberColumn(format="%.1f")})

st.subheader("Conversation habits over time")
left, right = st.columns(2)
with left:
    st.caption("Agent's share of the talk, and overtalk share of the call (0–1)")
    st.line_chart(daily[["mean_talk_ratio_agent", "mean_overtalk_ratio"]], height=200)
with right:
    st.caption("Silence per call and the agent's response latency (seconds)")
    st.line_chart(daily[["mean_silence_total", "mean_response_latency_agent"]], height=200)

st.subheader("Worst calls")
calls = data.query("call_list", agent_id=agent_id, limit=50, **span)
picked = ui.call_table(calls, "agent-calls")
if picked:
    st.switch_page("views/call.py", query_params={"call_id": picked})
