"""Pieces every page uses: safe text, the login, the analyst's name, filters, the transcript, labels.

Text that comes from calls (transcripts, rule evidence, ids, agent and queue names, label values) is
shown with ``st.text``, in dataframes, or in Markdown after :func:`md` escaped it; nothing here or in
the pages passes ``unsafe_allow_html``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import auth, data
from qc.config import Settings
from qc.records import Turn

ROLE_BADGE = {"agent": "blue", "customer": "orange", "unknown": "gray"}
ROLE_BACKGROUND = {"agent": "#dbeafe", "customer": "#ffedd5", "unknown": "#f3f4f6"}
TURNS_PER_PAGE = 100
MAX_LABEL, MAX_VALUE, MAX_WHO = 64, 128, 128  # column sizes of the labels table
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$=&\"'^%@])")
USER_KEY = "qc_user"  # the signed-in analyst (login on)
NAME_KEY = "analyst_name"  # the analyst's name from the sidebar (login off)


def md(text: Any) -> str:
    """``text`` escaped for Markdown: every character Markdown, HTML or Streamlit's directives could
    read as syntax is backslash-escaped, so it shows literally."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def fmt_seconds(seconds: float | None) -> str:
    """``m:ss.s`` (``h:mm:ss`` from an hour on); '' for None."""
    if seconds is None or pd.isna(seconds):
        return ""
    seconds = float(seconds)
    if seconds >= 3600:
        h, rest = divmod(int(seconds), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def fmt_score(score: float | None) -> str:
    return "–" if score is None or pd.isna(score) else f"{float(score):.1f}"


def role_badge(role: str) -> str:
    role = role if role in ROLE_BADGE else "unknown"
    return f":{ROLE_BADGE[role]}-badge[{role}]"


def by_day(df: pd.DataFrame, *, temporal: bool = False) -> pd.DataFrame:
    """``df`` indexed by its ``call_date`` column, for charts: dates as 'YYYY-MM-DD' text (bars, one per
    day), or as timestamps (``temporal``: lines over a time axis)."""
    dates = pd.to_datetime(df["call_date"])
    return df.assign(call_date=dates if temporal else dates.dt.strftime("%Y-%m-%d")).set_index("call_date")


def empty(message: str) -> None:
    st.info(message, icon=":material/inbox:")


# --- login and the analyst's name -------------------------------------------------------------------
def signed_in(cfg: Settings) -> bool:
    """True without a configured password, or once the session has signed in. A malformed hash stops
    the app (nobody gets in) with a message saying what is expected."""
    if not cfg.dashboard_password_hash:
        return True
    try:
        auth.check_password_hash(cfg.dashboard_password_hash)
    except ValueError as exc:
        st.error(f"The dashboard login is misconfigured (QC\\_DASHBOARD\\_PASSWORD\\_HASH): {md(exc)}")
        st.stop()
    return bool(st.session_state.get(USER_KEY))


def login_form(cfg: Settings) -> None:
    """The sign-in form; on success the session remembers the analyst's name and the page reruns."""
    _, middle, _ = st.columns([1, 2, 1])
    middle.title("callqc · QA dashboard")
    middle.caption("Sign in to continue.")
    with middle.form("login", enter_to_submit=True):
        name = st.text_input("Your name (recorded with the labels you set)", key="login_name",
                             max_chars=MAX_WHO)
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", key="login_submit", type="primary")
    if not submitted:
        return
    failures = int(st.session_state.get("login_failures", 0))
    if not name.strip():
        middle.error("Enter your name.")
        return
    assert cfg.dashboard_password_hash is not None
    if auth.verify_password(password, cfg.dashboard_password_hash):
        st.session_state[USER_KEY] = name.strip()
        st.session_state.pop("login_failures", None)
        st.rerun()
    st.session_state["login_failures"] = failures + 1
    time.sleep(min(0.5 * 2**failures, 5.0))  # slows down guessing from one session
    middle.error("Wrong password.")


def current_user() -> str | None:
    """The analyst's name: the signed-in name, else the name typed in the sidebar, else None."""
    name = st.session_state.get(USER_KEY) or st.session_state.get(NAME_KEY) or ""
    name = str(name).strip()
    return name[:MAX_WHO] or None


def sidebar_user(cfg: Settings) -> None:
    with st.sidebar:
        if cfg.dashboard_password_hash:
            st.caption(f"Signed in as **{md(st.session_state.get(USER_KEY, ''))}**")
            if st.button("Sign out", key="logout", icon=":material/logout:"):
                for key in (USER_KEY, "login_name", "login_password"):
                    st.session_state.pop(key, None)
                st.rerun()
        else:
            st.text_input(
                "Analyst name",
                key=NAME_KEY,
                max_chars=MAX_WHO,
                help="Recorded with the labels you set. (No login is configured: see dashboards/README.md.)",
            )


# --- filters ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallFilters:
    date_from: date | None = None
    date_to: date | None = None
    agent_id: str | None = None
    queue: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"date_from": self.date_from, "date_to": self.date_to, "agent_id": self.agent_id,
                "queue": self.queue}


def date_range(key: str, *, default_days: int | None = 30) -> tuple[date | None, date | None]:
    """A date-range picker bounded by the stored call dates; by default the last ``default_days`` days
    with calls (all of them when None). (None, None) when nothing is stored."""
    lo, hi = data.query("date_bounds")
    if lo is None or hi is None:
        return None, None
    start = lo if default_days is None else max(lo, hi - timedelta(days=default_days - 1))
    picked = st.date_input("Call dates", value=(start, hi), min_value=lo, max_value=hi, key=key)
    if isinstance(picked, Sequence) and not isinstance(picked, str):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
        return lo, hi
    return picked, picked


def choose(label: str, options: Sequence[str], key: str, *, all_label: str = "All",
           default: str | None = None) -> str | None:
    """A selectbox over ``options`` plus an 'All' entry (None)."""
    opts: list[str | None] = [None, *options]
    index = opts.index(default) if default in opts else 0
    return st.selectbox(label, opts, index=index, key=key,
                        format_func=lambda v: all_label if v is None else v)


def call_filters(key: str, *, agent: bool = True, default_days: int | None = 30) -> CallFilters:
    """Date range, agent and queue filters in one row."""
    cols = st.columns([2, 1, 1] if agent else [2, 1])
    with cols[0]:
        date_from, date_to = date_range(f"{key}-dates", default_days=default_days)
    agent_id = None
    if agent:
        with cols[1]:
            agent_id = choose("Agent", data.query("distinct_values", what="agent_id"), f"{key}-agent",
                              all_label="All agents")
    with cols[-1]:
        queue = choose("Queue", data.query("distinct_values", what="queue"), f"{key}-queue",
                       all_label="All queues")
    return CallFilters(date_from, date_to, agent_id, queue)


def _as_list(value) -> list[str]:
    """A JSON list column as read back (a list, or its JSON text on some drivers)."""
    if isinstance(value, str):
        import json

        return list(json.loads(value))
    return list(value)


def call_table(df: pd.DataFrame, key: str, *, height: int | str = "auto") -> str | None:
    """Calls as a table (one row selectable) with a link to each call's page; returns the call id of
    the selected row, if any."""
    shown = df.copy()
    shown.insert(0, "open", "call?call_id=" + shown["call_id"].astype(str))
    if "quality_flags" in shown:  # the consistency guard's findings, one line (empty when none)
        shown["quality"] = shown["quality_flags"].map(
            lambda v: "; ".join(_as_list(v)) if v is not None else "")
    columns = [c for c in ("open", "external_id", "call_date", "agent_id", "queue", "qa_score", "qa_passed",
                           "failed_rules", "points_lost", "flagged", "quality", "duration", "layout", "call_id")
               if c in shown]
    event = st.dataframe(
        shown[columns],
        key=key,
        hide_index=True,
        height=height,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "open": st.column_config.LinkColumn("Call", display_text="open ↗", width="small",
                                                help="Open the call's page in a new tab"),
            "external_id": st.column_config.TextColumn("External id"),
            "call_date": st.column_config.DateColumn("Date"),
            "agent_id": "Agent",
            "queue": "Queue",
            "qa_score": st.column_config.ProgressColumn("QA score", min_value=0, max_value=100,
                                                        format="%.1f"),
            "qa_passed": st.column_config.CheckboxColumn("Passed"),
            "failed_rules": st.column_config.NumberColumn("Failed rules"),
            "points_lost": st.column_config.NumberColumn("Points lost", format="%.1f"),
            "flagged": st.column_config.CheckboxColumn("Flagged"),
            "quality": st.column_config.TextColumn(
                "Quality issues", help="What the consistency guard found wrong with the recording or its "
                "transcript: such calls are left out of pass rates and mean scores"),
            "duration": st.column_config.NumberColumn("Duration (s)", format="%.0f"),
            "call_id": st.column_config.TextColumn("Call id", width="small"),
        },
    )
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    return str(df.iloc[rows[0]]["call_id"]) if rows else None


# --- the transcript -----------------------------------------------------------------------------------
def transcript(turns: Sequence[Turn], key: str) -> None:
    """The diarized transcript: time span and role badge, then the (redacted) text as plain text."""
    if not turns:
        empty("No transcript stored for this call (no speech found).")
        return
    view = st.segmented_control("View", ["Conversation", "Table"], default="Conversation", key=f"{key}-view")
    if view == "Table":
        df = pd.DataFrame(
            {
                "start": [fmt_seconds(t.start) for t in turns],
                "end": [fmt_seconds(t.end) for t in turns],
                "role": [t.role for t in turns],
                "speaker": [t.speaker for t in turns],
                "channel": [t.channel for t in turns],
                "text": [t.text for t in turns],
                "overlap": [t.overlap for t in turns],
                "sentiment": [t.sentiment for t in turns],
            }
        )
        styled = df.style.apply(
            lambda row: [f"background-color: {ROLE_BACKGROUND.get(row['role'], '#ffffff')}"] * len(row),
            axis=1,
        )
        st.dataframe(styled, hide_index=True, width="stretch",
                     column_config={"text": st.column_config.TextColumn("text", width="large")})
        return
    pages = max(1, -(-len(turns) // TURNS_PER_PAGE))
    first = 0
    if pages > 1:
        page = st.number_input(f"Page (of {pages}, {TURNS_PER_PAGE} turns each)", 1, pages, 1,
                               key=f"{key}-page")
        first = (int(page) - 1) * TURNS_PER_PAGE
    with st.container(key=f"{key}-turns"):
        for turn in turns[first : first + TURNS_PER_PAGE]:
            left, right = st.columns([0.22, 0.78], gap="small")
            extra = " · overlap" if turn.overlap else ""
            left.markdown(
                f"{role_badge(turn.role)} `{fmt_seconds(turn.start)}–{fmt_seconds(turn.end)}`{extra}"
            )
            right.text(turn.text or "")


# --- labels -----------------------------------------------------------------------------------------------
def latest_labels(history: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """label -> the latest row (value, who, source, at) from a label history (oldest first)."""
    out: dict[str, dict[str, Any]] = {}
    for row in history.itertuples(index=False):
        out[str(row.label)] = {"value": row.value, "who": row.who, "source": row.source, "at": row.at}
    return out


def label_editor(call_id: str, key: str) -> None:
    """Set or correct the call's labels. Every change is a new row (who, when); the history shows all."""
    wh = data.warehouse()
    history = data.label_history(call_id)
    latest = latest_labels(history)
    choices = data.label_choices()
    for label, row in latest.items():  # a stored value outside the choices still shows
        values = choices.setdefault(label, [])
        if row["value"] not in values:
            values.append(row["value"])
    user = current_user()
    key = f"{key}-{call_id[:16]}"  # widgets of another call start fresh
    with st.form(f"{key}-labels"):
        picked: dict[str, str | None] = {}
        cols = st.columns(min(3, max(1, len(choices))))
        for i, (label, values) in enumerate(choices.items()):
            current = latest.get(label, {}).get("value")
            options: list[str | None] = list(values) if current is not None else [None, *values]
            with cols[i % len(cols)]:
                picked[label] = st.selectbox(
                    md(label),
                    options,
                    index=options.index(current) if current is not None else 0,
                    key=f"{key}-label-{label}",
                    format_func=lambda v: "— not set —" if v is None else v,
                )
        extra_cols = st.columns(2)
        other_label = extra_cols[0].text_input("Another label (name)", key=f"{key}-other-label",
                                               max_chars=MAX_LABEL)
        other_value = extra_cols[1].text_input("Its value", key=f"{key}-other-value", max_chars=MAX_VALUE)
        submitted = st.form_submit_button(
            "Save labels", key=f"{key}-save", type="primary", disabled=user is None, icon=":material/save:"
        )
    if user is None:
        st.caption("Enter your name in the sidebar to label calls.")
    if submitted and user is not None:
        wanted = {label: value for label, value in picked.items() if value is not None}
        other_label, other_value = other_label.strip(), other_value.strip()
        if other_label or other_value:
            if not (other_label and other_value):
                st.error("Give both the name and the value of the other label.")
                return
            wanted[other_label[:MAX_LABEL]] = other_value[:MAX_VALUE]
        changes = [(label, value) for label, value in wanted.items()
                   if value != latest.get(label, {}).get("value")]
        for label, value in changes:
            wh.set_label(call_id, label, value, who=user, source="dashboard")
        data.refresh()
        if changes:
            st.success(f"Saved {len(changes)} label(s) as {md(user)}.", icon=":material/check:")
            history = data.label_history(call_id)
        else:
            st.info("Nothing changed.")
    if history.empty:
        st.caption("No labels on this call yet.")
    else:
        st.caption("Label history (newest first)")
        at_utc = st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss")
        st.dataframe(history.iloc[::-1], hide_index=True, width="stretch", column_config={"at": at_utc})


def call_id_param(name: str = "call_id") -> str | None:
    """A call id from the page's URL query (``?call_id=...``), stripped; None if absent."""
    value = st.query_params.get(name)
    value = str(value).strip() if value else ""
    return value or None
