"""Every page of the dashboard through Streamlit's AppTest, over a warehouse of synthetic records."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa

from tests.dashboards.conftest import AGENTS, HTML_SUFFIX, N_CALLS, metric, no_errors, open_page
from warehouse import queries

PAGES = ("overview", "calls", "call", "agent", "labels", "models")
CALL_TABS = ("Transcript", "Rules & scorecard", "Conversation", "Model scores", "Spectrogram", "Labels")


def texts(at) -> list[str]:
    return [t.value for t in at.text]


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


# --- overview -----------------------------------------------------------------------------------------
def test_overview_shows_totals_breakdowns_and_rejections(dash):
    at = open_page("overview")
    no_errors(at)
    assert metric(at, "Calls") == str(N_CALLS)
    with dash.warehouse() as wh:
        scores = queries.qa_scores(wh)
        flagged = len(queries.flagged_calls(wh))
    assert metric(at, "Mean QA score") == f"{scores['score'].mean():.1f}"
    assert metric(at, "Pass rate") == f"{100 * scores['passed'].mean():.0f}%"
    assert metric(at, "Flagged calls") == str(flagged)
    frames = [d.value for d in at.dataframe]
    assert any("queue" in f.columns and set(f["queue"]) == {"billing", "cards"} for f in frames)
    assert any("agent_id" in f.columns and set(f["agent_id"]) == set(AGENTS) for f in frames)
    rejected = [f for f in frames if "reason" in f.columns]
    assert rejected and rejected[0]["file"].tolist() == ["/inbox/audio/broken.wav"]
    worst = [f for f in frames if "qa_score" in f.columns and "open" in f.columns][0]
    assert worst["qa_score"].iloc[0] == scores["score"].min()  # worst first


def test_overview_filters_change_the_figures(dash):
    at = open_page("overview")
    at.selectbox(key="overview-agent").set_value("agent-2").run()
    no_errors(at)
    assert metric(at, "Calls") == str(sum(1 for i in range(N_CALLS) if AGENTS[i % 3] == "agent-2"))
    at.selectbox(key="overview-queue").set_value("cards").run()
    expected = sum(1 for i in range(N_CALLS) if AGENTS[i % 3] == "agent-2" and i % 2 == 1)
    assert metric(at, "Calls") == str(expected)
    at.selectbox(key="overview-agent").set_value(None).run()
    at.selectbox(key="overview-queue").set_value(None).run()
    at.date_input(key="overview-dates").set_value((date(2024, 6, 3), date(2024, 6, 5))).run()
    no_errors(at)
    assert metric(at, "Calls") == "3"


# --- calls list ---------------------------------------------------------------------------------------
def calls_frame(at):
    frames = [d.value for d in at.dataframe if "open" in d.value.columns]
    assert len(frames) == 1
    return frames[0]


def test_calls_list_is_worst_first_and_filters_change_the_rows(dash):
    at = open_page("calls")
    no_errors(at)
    rows = calls_frame(at)
    assert len(rows) == N_CALLS
    scored = rows["qa_score"].dropna().tolist()
    assert scored == sorted(scored) and rows["qa_score"].isna().iloc[-1]  # unscored last
    assert rows["open"].iloc[0] == f"call?call_id={rows['call_id'].iloc[0]}"

    at.selectbox(key="calls-rule").set_value("greeting").run()
    with dash.warehouse() as wh:
        failed_greeting = set(queries.call_list(wh, failed_rule="greeting")["call_id"])
    assert set(calls_frame(at)["call_id"]) == failed_greeting and 0 < len(failed_greeting) < N_CALLS
    at.selectbox(key="calls-rule").set_value(None).run()

    at.slider(key="calls-score").set_range(50.0, 75.0).run()
    got = calls_frame(at)
    assert len(got) and got["qa_score"].between(50, 75).all()
    at.slider(key="calls-score").set_range(0.0, 100.0).run()

    at.selectbox(key="calls-label").set_value("resolution").run()
    assert calls_frame(at)["call_id"].tolist() == [dash.call_ids[1]]
    at.selectbox(key="calls-label-value").set_value("\x00not-set").run()
    assert len(calls_frame(at)) == N_CALLS - 1
    at.selectbox(key="calls-label").set_value(None).run()

    at.selectbox(key="calls-model").set_value("m1").run()
    assert len(calls_frame(at)) == N_CALLS
    at.toggle(key="calls-flagged").set_value(True).run()
    assert calls_frame(at)["flagged"].all()
    at.selectbox(key="calls-order").set_value("newest").run()
    dates = calls_frame(at)["call_date"].tolist()
    assert dates == sorted(dates, reverse=True)
    no_errors(at)


def test_calls_list_with_no_match_says_so(dash):
    at = open_page("calls")
    at.selectbox(key="calls-agent").set_value("agent-1").run()
    at.selectbox(key="calls-queue").set_value("cards").run()
    at.slider(key="calls-score").set_range(99.0, 100.0).run()
    no_errors(at)
    assert any("No call matches" in i.value for i in at.info)


# --- call detail --------------------------------------------------------------------------------------
def test_call_detail_shows_the_call(dash):
    with dash.warehouse() as wh:
        result = wh.load_call(dash.html_call_id)
    at = open_page("call", call_id=dash.html_call_id)
    no_errors(at)
    assert at.title[0].value == "Call EXT\\-0"
    assert dash.html_call_id in [c.value for c in at.code]
    assert metric(at, "QA score") == f"{result.qa.score:.1f}"
    assert metric(at, "Failed rules") == f"{sum(not r.passed for r in result.rule_results)} of 3"
    shown = texts(at)
    assert shown[: len(result.turns)] == [t.text for t in result.turns]
    assert all(t.endswith(HTML_SUFFIX) for t in shown[: len(result.turns)])  # literally, as text
    assert ":blue-badge[agent]" in markdown(at) and ":orange-badge[customer]" in markdown(at)
    assert any("not available" in w.value for w in at.warning)  # /inbox/0.wav is not on this machine


@pytest.mark.parametrize("tab", CALL_TABS)
def test_call_detail_tabs_render(dash, tab):
    at = open_page("call", call_id=dash.call_ids[2], call_tab=tab)
    no_errors(at)
    if tab == "Rules & scorecard":
        rules = [d.value for d in at.dataframe if "rule" in d.value.columns][0]
        assert set(rules["rule"]) == {"greeting", "no_profanity", "closing"}
        assert not rules["passed"].iloc[0]  # failed rules first
    elif tab == "Model scores":
        assert "m1 (promoted)" in at.selectbox(key="call-model-version").options
        assert "**resolution**" in markdown(at)
        per_turn = [d.value for d in at.dataframe if {"role", "resolution", "sentiment"} <= set(d.value.columns)]
        assert len(per_turn) == 1 and len(per_turn[0]) == 3  # the three scored turns of the stored call
    elif tab == "Conversation":
        by_role = at.dataframe[0].value
        assert {"agent", "customer"} <= set(by_role.columns) and "talk time" in by_role.index
    elif tab == "Spectrogram":
        assert any("No audio" in i.value for i in at.info)


def test_call_detail_plays_the_redacted_copy_and_draws_the_spectrogram(dash):
    cid = dash.call_ids[3]
    redacted = dash.settings.redacted_dir / f"{cid}.wav"
    redacted.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(str(redacted), 0.1 * rng.standard_normal((8000 * 3, 2)).astype(np.float32), 8000)
    at = open_page("call", call_id=cid, call_tab="Spectrogram")
    no_errors(at)
    assert any("Redacted copy" in c.value for c in at.caption)
    assert len(at.get("audio")) == 1
    assert len(at.image) == 1 and "spectrogram" in at.image[0].captions[0]


def test_call_detail_unknown_or_missing_id(dash):
    at = open_page("call", call_id="f" * 64)
    assert not at.exception
    assert any("No call with id" in e.value for e in at.error)
    at = open_page("call")  # no id: a search box and the worst calls
    no_errors(at)
    at.text_input(key="call-search").input("EXT-4").run()
    no_errors(at)
    assert [t.value for t in at.title] == ["Call EXT\\-4"]
    assert at.query_params["call_id"] in (dash.call_ids[4], [dash.call_ids[4]])


def test_call_without_scores_or_qa_score(dash):
    with dash.warehouse() as wh, wh.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM scores")
    at = open_page("call", call_id=dash.unscored_id, call_tab="Model scores")
    no_errors(at)
    assert metric(at, "QA score") == "–"
    assert any("No model has scored" in i.value for i in at.info)


# --- agent ----------------------------------------------------------------------------------------------
def test_agent_page(dash):
    at = open_page("agent", agent_id="agent-3")
    no_errors(at)
    assert at.selectbox(key="agent-id").value == "agent-3"
    assert metric(at, "Calls") == str(sum(1 for i in range(N_CALLS) if AGENTS[i % 3] == "agent-3"))
    worst = [d.value for d in at.dataframe if "open" in d.value.columns][0]
    assert set(worst["agent_id"]) == {"agent-3"}
    at.selectbox(key="agent-id").set_value("agent-1").run()
    no_errors(at)
    assert at.query_params["agent_id"] == ["agent-1"] or at.query_params["agent_id"] == "agent-1"


# --- labelling ------------------------------------------------------------------------------------------
def test_labelling_writes_a_label_row_with_who_and_when(dash):
    cid = dash.call_ids[4]
    at = open_page("labels", call_id=cid)
    no_errors(at)
    save = f"labels-{cid[:16]}-save"
    assert at.button(key=save).disabled  # no analyst name yet
    at.text_input(key="analyst_name").input("Maria QA").run()
    before = datetime.now(UTC)
    at.selectbox(key=f"labels-{cid[:16]}-label-resolution").set_value("unresolved")
    at.button(key=save).click().run()
    no_errors(at)
    with dash.warehouse() as wh:
        history = wh.label_history(cid)
    assert history[["label", "value", "who", "source"]].values.tolist() == [
        ["resolution", "unresolved", "Maria QA", "dashboard"]
    ]
    at_time = history["at"].iloc[0].to_pydatetime()
    assert before - timedelta(seconds=5) <= at_time <= datetime.now(UTC) + timedelta(seconds=5)

    # a correction is a new row; the latest one is what retraining reads
    at.selectbox(key=f"labels-{cid[:16]}-label-resolution").set_value("resolved")
    at.text_input(key=f"labels-{cid[:16]}-other-label").input("escalation")
    at.text_input(key=f"labels-{cid[:16]}-other-value").input("needed")
    at.button(key=save).click().run()
    no_errors(at)
    with dash.warehouse() as wh:
        history = wh.label_history(cid)
        latest = wh.labels_frame()
    assert history["value"].tolist() == ["unresolved", "resolved", "needed"]
    mine = latest[latest["call_id"] == cid].set_index("label")["value"].to_dict()
    assert mine == {"resolution": "resolved", "escalation": "needed"}
    activity = [d.value for d in at.dataframe if {"who", "external_id"} <= set(d.value.columns)]
    assert activity and "Maria QA" in set(activity[0]["who"])


def test_labelling_queue_lists_unlabelled_calls(dash):
    at = open_page("labels")
    no_errors(at)
    queue = [d.value for d in at.dataframe if "open" in d.value.columns][0]
    assert dash.call_ids[1] not in set(queue["call_id"]) and len(queue) == N_CALLS - 1


def test_labels_on_the_call_page(dash):
    cid = dash.call_ids[5]
    at = open_page("call", call_id=cid, call_tab="Labels")
    at.text_input(key="analyst_name").input("Lee").run()
    at.selectbox(key=f"call-{cid[:16]}-label-customer_emotion").set_value("angry")
    at.button(key=f"call-{cid[:16]}-save").click().run()
    no_errors(at)
    with dash.warehouse() as wh:
        assert wh.label_history(cid)[["label", "value", "who"]].values.tolist() == [
            ["customer_emotion", "angry", "Lee"]
        ]


# --- models -----------------------------------------------------------------------------------------------
def test_models_page(dash):
    at = open_page("models")
    no_errors(at)
    assert any("Promoted" in s.value and "m1" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert table["version"].tolist() == ["m1"] and table["macro_f1"].tolist() == [0.8]
    assert any("Evaluation of m1" in m.value for m in at.markdown)


# --- empty warehouse ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_handles_an_empty_warehouse(empty_dash, page):
    at = open_page(page, **({"call_id": "a" * 64} if page == "labels" else {}))
    assert not at.exception, [e.value for e in at.exception]
    if page == "overview":
        assert metric(at, "Calls") == "0"
    if page in ("overview", "agent", "models"):
        assert at.info, "an empty page says why it is empty"


def test_nothing_renders_html_from_data():
    """The dashboard never lets HTML through: no unsafe_allow_html, no st.html, no components."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "dashboards"
    forbidden = re.compile(r"unsafe_allow_html\s*=|st\.html\(|components\.v1|st\.components")
    for path in root.rglob("*.py"):
        found = forbidden.search(path.read_text())
        assert found is None, f"{path.name} uses {found.group(0)}"


def test_swapping_roles_from_the_call_page_recomputes_and_keeps_who(dash):
    cid = dash.call_ids[3]
    with dash.warehouse() as wh:
        before = wh.load_call(cid)
    at = open_page("call", call_id=cid)
    no_errors(at)
    assert at.button(key="call-swap-roles") is not None
    at.text_input(key="analyst_name").input("Maria QA").run()
    at.button(key="call-swap-roles").click().run()
    no_errors(at)
    with dash.warehouse() as wh:
        after = wh.load_call(cid)
        with wh.engine.connect() as con:
            runs = con.execute(sa.text("SELECT r.settings, r.started_at FROM pipeline_runs r JOIN calls c "
                                       "ON c.run_id = r.run_id WHERE c.call_id = :c"), {"c": cid}).all()
    swap = {"agent": "customer", "customer": "agent"}
    assert [t.role for t in after.turns] == [swap.get(t.role, t.role) for t in before.turns]
    assert [w.role for w in after.words] == [swap.get(w.role, w.role) for w in before.words]
    assert after.call.role_strategy == "corrected by hand" and after.call.role_confidence == 1.0
    assert after.metrics.talk_time_agent == pytest.approx(before.metrics.talk_time_customer, abs=0.01)
    assert after.metrics.silence_total == before.metrics.silence_total
    settings = runs[0][0] if isinstance(runs[0][0], dict) else json.loads(runs[0][0])
    assert settings == {"correction": "swap_roles", "call_id": cid, "who": "Maria QA"}
    assert any("Roles swapped" in s.value for s in at.success)
