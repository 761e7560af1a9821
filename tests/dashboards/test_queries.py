"""The dashboard's queries in :mod:`warehouse.queries`, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import date

import pytest

from tests.dashboards.conftest import AGENTS, N_CALLS, fill
from tests.warehouse.conftest import PG_URL, _masked, _pg_problem, pg_database
from warehouse import Warehouse, queries


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def filled(request, tmp_path_factory):
    """(warehouse, call ids) filled like the pages' fixture, once per backend."""
    if request.param == "sqlite":
        with Warehouse.from_url(f"sqlite:///{tmp_path_factory.mktemp('q') / 'callqc.db'}") as wh:
            yield wh, fill(wh)
        return
    problem = _pg_problem(PG_URL)
    if problem:
        msg = f"PostgreSQL is not reachable at {_masked(PG_URL)} ({problem})"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)
    with pg_database(PG_URL, prefix="callqc_dash") as url, Warehouse.from_url(url) as wh:
        yield wh, fill(wh)


def test_call_list_filters(filled):
    wh, ids = filled
    every = queries.call_list(wh)
    assert len(every) == N_CALLS and list(every.columns[:3]) == ["call_id", "external_id", "agent_id"]
    scored = every["qa_score"].dropna()
    assert scored.tolist() == sorted(scored) and every["qa_score"].isna().iloc[-1]
    assert set(queries.call_list(wh, queries.CallFilter(agent_id="agent-2"))["agent_id"]) == {"agent-2"}
    assert set(queries.call_list(wh, queries.CallFilter(queue="cards"))["queue"]) == {"cards"}
    june = queries.call_list(wh, queries.CallFilter(date_from=date(2024, 6, 2), date_to=date(2024, 6, 4)))
    assert sorted(june["call_date"]) == [date(2024, 6, d) for d in (2, 3, 4)]
    band = queries.call_list(wh, score_min=50, score_max=75)
    assert len(band) and band["qa_score"].between(50, 75).all()
    failed = queries.call_list(wh, failed_rule="greeting")
    assert len(failed) == sum(1 for i in range(N_CALLS) if i % 3 >= 1)
    assert queries.call_list(wh, label="resolution")["call_id"].tolist() == [ids[1]]
    assert queries.call_list(wh, label="resolution", label_value="resolved")["call_id"].tolist() == [ids[1]]
    assert queries.call_list(wh, label="resolution", label_value="unresolved").empty
    assert len(queries.call_list(wh, labelled=False)) == N_CALLS - 1
    assert len(queries.call_list(wh, label="resolution", labelled=False)) == N_CALLS - 1
    assert len(queries.call_list(wh, model_version="m1")) == N_CALLS
    assert queries.call_list(wh, model_version="m2").empty
    flagged = queries.call_list(wh, flagged_only=True)
    assert set(flagged["call_id"]) == set(queries.flagged_calls(wh)["call_id"]) and flagged["flagged"].all()
    assert len(queries.call_list(wh, limit=3)) == 3
    newest = queries.call_list(wh, order="newest")["call_date"].tolist()
    assert newest == sorted(newest, reverse=True)
    with pytest.raises(ValueError):
        queries.call_list(wh, order="call_id; DROP TABLE calls")


def test_values_are_bound_not_spliced(filled):
    wh, _ = filled
    sneaky = "agent-1' OR '1'='1"
    assert queries.call_list(wh, queries.CallFilter(agent_id=sneaky)).empty
    assert queries.qa_summary(wh, queries.CallFilter(queue=sneaky), by="agent_id").empty
    assert queries.find_calls(wh, "x' OR 1=1 --").empty
    with pytest.raises(ValueError):
        queries.qa_summary(wh, by="agent_id; DROP TABLE calls")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        queries.distinct_values(wh, "text")  # type: ignore[arg-type]


def test_qa_summary(filled):
    wh, _ = filled
    by_agent = queries.qa_summary(wh, by="agent_id")
    assert by_agent["agent_id"].tolist() == list(AGENTS)
    assert by_agent["calls"].tolist() == [3, 3, 3] and by_agent["calls"].sum() == N_CALLS
    scores = queries.qa_scores(wh)
    assert by_agent["scored"].sum() == len(scores) == N_CALLS - 1
    assert by_agent["passed"].sum() == int(scores["passed"].sum())
    assert (by_agent["pass_rate"] == by_agent["passed"] / by_agent["scored"]).all()
    daily = queries.qa_summary(wh, queries.CallFilter(agent_id="agent-1"), by="call_date")
    assert daily["calls"].sum() == 3 and daily["call_date"].is_monotonic_increasing
    assert queries.qa_summary(wh, by="queue")["flagged"].sum() == len(queries.flagged_calls(wh))


def test_rule_failures_and_options(filled):
    wh, ids = filled
    totals = queries.rule_failures(wh)
    assert dict(zip(totals["rule_id"], totals["failures"], strict=True)) == {"greeting": 6, "no_profanity": 3}
    per_day = queries.rule_failures(wh, queries.CallFilter(agent_id="agent-2"), by="call_date")
    assert set(per_day.columns) == {"call_date", "rule_id", "kind", "failures", "points_lost"}
    assert per_day["failures"].sum() == 3  # agent-2's calls are seeds 1, 4, 7 with 1 failed rule each
    assert queries.distinct_values(wh, "agent_id") == list(AGENTS)
    assert queries.distinct_values(wh, "rule_id") == ["closing", "greeting", "no_profanity"]
    assert queries.distinct_values(wh, "label") == ["resolution"]
    assert queries.distinct_values(wh, "model_version") == ["m1"]
    assert queries.date_bounds(wh) == (date(2024, 6, 1), date(2024, 6, 9))
    pairs = queries.label_values(wh)
    assert ("resolution", "resolved") in set(zip(pairs["label"], pairs["value"], strict=True))
    activity = queries.label_activity(wh)
    assert activity[["who", "external_id", "label", "value"]].values.tolist() == [
        ["ann", "EXT-1", "resolution", "resolved"]
    ]
    agreement = queries.model_agreement(wh).set_index("label")
    assert agreement.loc["resolution", "scored"] == N_CALLS and agreement.loc["resolution", "labelled"] == 1
    assert queries.find_calls(wh, "EXT-3")["call_id"].tolist() == [ids[3]]
    assert queries.find_calls(wh, ids[3])["external_id"].tolist() == ["EXT-3"]


def test_empty_warehouse(tmp_path):
    with Warehouse.from_url(f"sqlite:///{tmp_path / 'e.db'}") as wh:
        assert queries.call_list(wh).empty and queries.qa_summary(wh).empty and queries.qa_scores(wh).empty
        assert queries.rule_failures(wh, by="agent_id").empty and queries.model_agreement(wh).empty
        assert queries.date_bounds(wh) == (None, None) and queries.distinct_values(wh, "queue") == []
        assert queries.label_values(wh).empty and queries.label_activity(wh).empty
