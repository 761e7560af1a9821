"""Call detail (``/call?call_id=...``): why a call scored as it did. The QA verdict, the audio, the
diarized transcript by role, rule results with their evidence, the scorecard, conversation metrics,
model probabilities per label, the spectrogram, and the call's labels."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from dashboards import data, media, ui
from qc.records import CallResult, ConversationMetrics

TABS = ["Transcript", "Rules & scorecard", "Conversation", "Model scores", "Spectrogram", "Labels"]


def pick_call() -> str | None:
    """A call id from the URL, or from the search box / the worst recent calls."""
    call_id = ui.call_id_param()
    if call_id:
        return call_id
    st.title("Call detail")
    key = st.text_input("Call id or external id", key="call-search").strip()
    if key:
        found = data.query("find_calls", key=key)
        if len(found) == 1:
            return str(found.iloc[0]["call_id"])
        if found.empty:
            st.warning("No call has this id.")
        else:
            st.caption("Several calls have this external id:")
            picked = ui.call_table(found, "call-found")
            if picked:
                return picked
    st.caption("Or pick one of the worst calls:")
    return ui.call_table(data.query("call_list", limit=20), "call-worst")


def header(result: CallResult) -> None:
    call, qa = result.call, result.qa
    st.title(f"Call {ui.md(call.external_id)}")
    started = call.started_at.strftime("%Y-%m-%d %H:%M UTC") if call.started_at else "start unknown"
    st.markdown(
        f"Agent **{ui.md(call.agent_id or '–')}** · queue **{ui.md(call.queue or '–')}** · "
        f"{ui.md(started)} · "
        f"{ui.md(ui.fmt_seconds(call.duration))} · {ui.md(call.layout)}"
        + (f" · roles by {ui.md(call.role_strategy)} ({call.role_confidence:.0%} sure)"
           if call.role_strategy and call.role_confidence is not None else "")
    )
    st.code(call.call_id, language=None)
    if call.layout_reason:
        st.caption(f"Layout: {ui.md(call.layout_reason)}")
    for flag in call.quality_flags:
        st.warning(f"Quality issue: {ui.md(flag)}. This call is left out of pass rates and mean scores.",
                   icon=":material/report:")
    failed = [r for r in result.rule_results if not r.passed]
    c1, c2, c3, c4 = st.columns(4)
    if qa is None:
        c1.metric("QA score", "–", help="This call has no QA score.", border=True)
    else:
        c1.metric("QA score", ui.fmt_score(qa.score), "passed" if qa.passed else "failed",
                  delta_color="green" if qa.passed else "red", delta_arrow="off", border=True)
    c2.metric("Failed rules", f"{len(failed)} of {len(result.rule_results)}", border=True)
    c3.metric("Points lost", f"{sum(r.points_lost for r in failed):.1f}", border=True)
    ratio = result.metrics.talk_ratio_agent
    c4.metric("Agent talk share", "–" if ratio is None else f"{ratio:.0%}", border=True)
    links = st.columns([1, 1, 4])
    if call.agent_id:
        links[0].page_link("views/agent.py", label="Agent's page", icon=":material/support_agent:",
                           query_params={"agent_id": call.agent_id})
    links[1].page_link("views/labels.py", label="Label this call", icon=":material/label:",
                       query_params={"call_id": call.call_id})
    swap_roles_button(result)


def swap_roles_button(result: CallResult) -> None:
    """Agent and customer the wrong way round: swap them (metrics, rules and scores follow, from
    stored data). Needs the analyst's name: the correction is stored with who made it."""
    who = ui.current_user()
    with st.popover("Roles wrong? Swap agent and customer", icon=":material/swap_horiz:",
                    disabled=who is None, help=None if who else "Sign in or type your name in the sidebar first"):
        st.caption("Every turn and word changes role; talk metrics, rules, the QA score and the model's scores "
                   "are computed again from what is stored. The correction is kept with your name.")
        if st.button("Swap roles", key="call-swap-roles", type="primary"):
            from flows.corrections import swap_roles

            with st.spinner("Swapping roles and scoring again…"):
                swap_roles(data.settings(), result.call_id, who or "dashboard")
            data.refresh()
            st.session_state["call-swapped"] = result.call_id
            st.rerun()
    if st.session_state.get("call-swapped") == result.call_id:
        st.success("Roles swapped: metrics, rules, QA score and model scores recomputed.", icon=":material/check:")


def audio(result: CallResult) -> None:
    cfg = data.settings()
    source = media.audio_source(result.call, cfg.redacted_dir)
    if source is None:
        st.warning("The call's audio file is not available on this machine "
                   f"({ui.md(result.call.source_path)}).", icon=":material/volume_off:")
        return
    starts = {"the beginning": 0.0}
    for r in result.rule_results:
        if r.evidence_start is not None:
            verdict = "failed" if not r.passed else "passed"
            starts[f"{r.rule_id} ({verdict}) at {ui.fmt_seconds(r.evidence_start)}"] = float(r.evidence_start)
    left, right = st.columns([3, 1])
    with right:
        start = st.selectbox("Play from", list(starts), key="call-play-from")
    with left:
        try:
            st.audio(media.read_audio(source), format=source.mime, start_time=int(starts[start]))
        except (OSError, ValueError) as exc:
            st.warning(f"Cannot play the audio: {ui.md(exc)}")
            return
        st.caption("Redacted copy: PII spans are silenced." if source.redacted else
                   "Original recording (no redacted copy stored): it may contain PII.")


def rules_tab(result: CallResult) -> None:
    if not result.rule_results:
        ui.empty("No rule results stored for this call.")
    else:
        rules = pd.DataFrame(
            {
                "rule": [r.rule_id for r in result.rule_results],
                "kind": [r.kind for r in result.rule_results],
                "passed": [r.passed for r in result.rule_results],
                "points lost": [r.points_lost for r in result.rule_results],
                "evidence": [r.evidence_text or "" for r in result.rule_results],
                "at": [f"{ui.fmt_seconds(r.evidence_start)}–{ui.fmt_seconds(r.evidence_end)}"
                       if r.evidence_start is not None else "" for r in result.rule_results],
                "detail": [r.detail for r in result.rule_results],
            }
        ).sort_values(["passed", "points lost"], ascending=[True, False], kind="stable")
        styled = rules.style.apply(
            lambda row: ["background-color: #fee2e2" if not row["passed"] else ""] * len(row), axis=1
        )
        st.subheader("Rule results")
        st.dataframe(styled, hide_index=True, width="stretch",
                     column_config={"points lost": st.column_config.NumberColumn(format="%.1f"),
                                    "evidence": st.column_config.TextColumn(width="large"),
                                    "detail": st.column_config.TextColumn(width="medium")})
    st.subheader("Scorecard")
    qa = result.qa
    if qa is None:
        ui.empty("No QA score for this call.")
        return
    lost = sum(qa.breakdown.values())
    st.caption(f"Score {qa.score:.1f} of 100 ({'passed' if qa.passed else 'failed'}); "
               f"{lost:.1f} points lost over {len(qa.breakdown)} items.")
    if qa.breakdown:
        items = pd.DataFrame({"item": list(qa.breakdown), "points lost": list(qa.breakdown.values())})
        items = items.sort_values("points lost", ascending=False)
        left, right = st.columns([1, 1])
        left.dataframe(items, hide_index=True, width="stretch")
        if (items["points lost"] > 0).any():
            right.bar_chart(items, x="item", y="points lost", horizontal=True,
                            height=max(120, 40 * len(items)))


def metrics_tab(metrics: ConversationMetrics) -> None:
    """Per-role metrics side by side, then the call-level ones."""
    per_role: dict[str, dict[str, object]] = {}
    call_level: dict[str, object] = {}
    for f in dataclasses.fields(metrics):
        if f.name == "call_id":
            continue
        value = getattr(metrics, f.name)
        for role in ("agent", "customer"):
            marker = f"_{role}"
            if marker in f.name:
                name = f.name.replace(marker, "")
                per_role.setdefault(name.replace("_", " "), {})[role] = value
                break
        else:
            call_level[f.name.replace("_", " ")] = value
    left, right = st.columns(2)
    with left:
        st.caption("By role")
        table = pd.DataFrame.from_dict(per_role, orient="index", columns=["agent", "customer"])
        st.dataframe(table.astype(float).round(3), width="stretch")
    with right:
        st.caption("Whole call (seconds where a time)")
        st.dataframe(pd.Series(call_level, name="value", dtype=float).round(3).to_frame(), width="stretch")


def scores_tab(result: CallResult) -> None:
    if not result.scores:
        ui.empty("No model has scored this call yet.")
        return
    promoted = data.warehouse().promoted_version()
    versions = sorted({s.model_version for s in result.scores}, reverse=True)
    default = promoted.version if promoted is not None and promoted.version in versions else versions[0]
    version = st.selectbox("Model version", versions, index=versions.index(default), key="call-model-version",
                           format_func=lambda v: f"{v} (promoted)" if promoted and v == promoted.version
                           else v)
    latest = ui.latest_labels(data.label_history(result.call_id))
    scores = [s for s in result.scores if s.model_version == version]
    cols = st.columns(min(3, len(scores)))
    for i, score in enumerate(scores):
        with cols[i % len(cols)], st.container(border=True):
            human = latest.get(score.label, {}).get("value")
            st.markdown(f"**{ui.md(score.label)}**: {ui.md(score.value)} ({score.confidence:.0%})")
            if human is not None:
                verdict = "agrees" if human == score.value else "differs"
                st.caption(f"Analyst label: {ui.md(human)} ({verdict})")
            probs = pd.DataFrame({"value": list(score.probabilities),
                                  "probability": list(score.probabilities.values())})
            st.bar_chart(probs, x="value", y="probability", horizontal=True, height=max(110, 36 * len(probs)))
    turn_table(result, version)


def turn_table(result: CallResult, version: str) -> None:
    """Each scored turn with the model's value and confidence per label (the latest scoring's)."""
    mine = [t for t in result.turn_scores if t.model_version == version]
    if not mine:
        return
    st.markdown("**Per turn**")
    rows: dict[int, dict[str, object]] = {}
    for t in mine:
        turn = result.turns[t.turn] if t.turn < len(result.turns) else None
        row = rows.setdefault(t.turn, {"start": ui.fmt_seconds(t.start), "role": t.role,
                                       "text": turn.text if turn is not None else ""})
        row[t.label] = f"{t.value} ({t.confidence:.0%})"
    st.dataframe(pd.DataFrame([rows[k] for k in sorted(rows)]), hide_index=True, width="stretch")


def spectrogram_tab(result: CallResult) -> None:
    source = media.audio_source(result.call, data.settings().redacted_dir)
    if source is None:
        ui.empty("No audio on this machine to draw the spectrogram from.")
        return
    names = media.channel_names(result.call, result.call.channels)
    try:
        with st.spinner("Drawing the spectrogram…"):
            png = data.spectrogram(source, names, media.turn_spans(result.turns))
    except RuntimeError as exc:
        st.warning(ui.md(exc))
        return
    st.image(png, caption="Log-mel spectrogram per channel, with the diarized turns (agent blue, customer "
             "orange)" + (f"; first {media.MAX_SPECTROGRAM_SECONDS / 60:.0f} minutes" if result.call.duration >
                media.MAX_SPECTROGRAM_SECONDS else ""))


call_id = pick_call()
if not call_id:
    st.stop()
if ui.call_id_param() != call_id:  # picked on this page: name it in the URL, then show it alone
    st.query_params["call_id"] = call_id
    st.rerun()
result = data.load_call(call_id)
if result is None:
    st.error(f"No call with id {ui.md(call_id)}.")
    st.stop()

header(result)
audio(result)
tabs = st.tabs(TABS, key="call_tab", bind="query-params")
renderers = {
    "Transcript": lambda: ui.transcript(result.turns, "call-transcript"),
    "Rules & scorecard": lambda: rules_tab(result),
    "Conversation": lambda: metrics_tab(result.metrics),
    "Model scores": lambda: scores_tab(result),
    "Spectrogram": lambda: spectrogram_tab(result),
    "Labels": lambda: ui.label_editor(result.call_id, "call"),
}
for name, tab in zip(TABS, tabs, strict=True):
    if tab.open is not False:  # None: the tabs do not track state (then every tab renders)
        with tab:
            renderers[name]()
