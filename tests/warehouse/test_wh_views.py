"""The analyst views and the query functions over them return the right rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from warehouse import Warehouse, queries
from warehouse.testing import dummy_call_result

D1, D2 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC), datetime(2024, 6, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def calls(wh: Warehouse, run_id: str) -> dict[str, str]:
    spec = {
        "ok": {"agent_id": "a1", "started_at": D1, "qa_passed": True},
        "qa_fail": {"agent_id": "a1", "started_at": D1, "qa_passed": False},
        "rule_fail": {"agent_id": "a2", "started_at": D2, "qa_passed": True, "failed_rules": 1},
        "no_qa": {"agent_id": "a2", "started_at": D2, "qa_passed": None, "queue": "sales"},
    }
    ids = {}
    for name, kwargs in spec.items():
        r = dummy_call_result(name, external_id=name, **kwargs)
        wh.save_call(r, run_id)
        wh.save_scores([s.__class__(**{**s.__dict__, "model_version": "m2"}) for s in r.scores])
        ids[name] = r.call_id
    wh.register_model_version("m2", "/m2", {}, {}, [], None)
    wh.promote("m2")
    return ids


def test_flagged_calls(wh: Warehouse, calls: dict[str, str]) -> None:
    df = queries.flagged_calls(wh)
    assert set(df.external_id) == {"qa_fail", "rule_fail"}
    rows = df.set_index("external_id")
    assert rows.loc["rule_fail", "failed_rules"] == 1 and rows.loc["rule_fail", "forbidden_hits"] == 1
    assert rows.loc["rule_fail", "points_lost"] == 10.0 and bool(rows.loc["qa_fail", "qa_passed"]) is False
    assert list(df.external_id) == ["qa_fail", "rule_fail"]  # worst QA score first
    assert list(queries.flagged_calls(wh, queries.CallFilter(date_from=D2.date())).external_id) == ["rule_fail"]
    assert queries.flagged_calls(wh, queries.CallFilter(agent_id="a1"), limit=1).external_id.tolist() == ["qa_fail"]


def test_agent_daily(wh: Warehouse, calls: dict[str, str]) -> None:
    df = queries.agent_daily(wh)
    assert [(r.agent_id, r.call_date) for r in df.itertuples()] == [("a1", D1.date()), ("a2", D2.date())]
    a1, a2 = df.iloc[0], df.iloc[1]
    assert (a1.calls, a1.qa_failed, a1.flagged) == (2, 1, 1)
    assert (a2.calls, a2.qa_failed, a2.flagged) == (2, 0, 1)
    assert a1.mean_qa_score == pytest.approx((90.0 + 55.0) / 2)
    assert a2.mean_qa_score == pytest.approx(80.0)  # only the call with a QA score counts
    assert a1.minutes == pytest.approx(2 * 120.0 / 60)
    assert queries.agent_daily(wh, queries.CallFilter(date_from=D2.date(), date_to=D2.date())).agent_id.tolist() == ["a2"]


def test_call_scores(wh: Warehouse, calls: dict[str, str]) -> None:
    wh.set_label(calls["ok"], "sentiment", "positive", who="ana")
    everything = queries.call_scores(wh)
    assert len(everything) == 4 * 2 * 2  # calls x labels x model versions
    promoted = queries.call_scores(wh, promoted_only=True, label="sentiment")
    assert len(promoted) == 4 and set(promoted.model_version) == {"m2"} and promoted.promoted.all()
    row = promoted.set_index("external_id").loc["ok"]
    assert row.human_value == "positive" and row.agrees == (row.value == "positive")
    assert pd.isna(promoted.set_index("external_id").loc["no_qa"].human_value)
    assert set(queries.call_scores(wh, queries.CallFilter(date_from=date(2024, 6, 4), agent_id="a2")).external_id) == {
        "rule_fail",
        "no_qa",
    }
    assert isinstance(row.probabilities, dict) and str(everything.started_at.dtype) == "datetime64[us, UTC]"


def test_sql_and_detail_queries(wh: Warehouse, calls: dict[str, str]) -> None:
    df = queries.sql(wh, "SELECT external_id FROM v_flagged_calls WHERE agent_id = :agent", agent="a2")
    assert df.external_id.tolist() == ["rule_fail"]
    assert len(queries.transcript(wh, calls["ok"])) == 20
    assert queries.rule_results(wh, calls["rule_fail"]).passed.tolist() == [False, True, True]
    assert len(queries.calls(wh, queries.CallFilter(queue="sales"))) == 1


def test_readme_examples(wh: Warehouse, calls: dict[str, str]) -> None:
    wh.set_label(calls["ok"], "sentiment", "__nobody_predicts_this__", who="ana")
    results = {name: queries.sql(wh, sql) for name, sql in queries.EXAMPLES.items()}
    agents = results["agents_by_flagged_calls"]
    assert agents.agent_id.tolist() == ["a1", "a2"] and agents.flagged.tolist() == [1, 1]
    disagree = results["model_vs_human"]
    assert disagree.human_says.tolist() == ["__nobody_predicts_this__"] and disagree.calls.tolist() == [1]
    evidence = results["forbidden_phrase_evidence"]
    assert evidence.external_id.tolist() == ["rule_fail"] and evidence.evidence_text.notna().all()
