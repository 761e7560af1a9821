"""Idempotent writes: reprocessing replaces a call's rows, scores upsert by key, rejections dedupe."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from qc.records import Rejection, Score
from warehouse import Warehouse
from warehouse.schema import Base
from warehouse.testing import dummy_call_result


def counts(wh: Warehouse) -> dict[str, int]:
    with wh.engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


def test_reprocessing_replaces_rows(wh: Warehouse, run_id: str) -> None:
    other = dummy_call_result(99)
    v1 = dummy_call_result(1, failed_rules=1)
    wh.save_call(other, run_id)
    wh.save_call(v1, run_id)
    before = counts(wh)
    wh.save_call(v1, run_id)  # a rerun of the same result changes nothing
    assert counts(wh) == before

    run2 = wh.start_run({}, "test")
    v2 = dummy_call_result(1, text_suffix=" v2", failed_rules=0, model_version="m2")
    wh.save_call(v2, run2)
    after = counts(wh)
    assert after["turns"] == before["turns"] and after["words"] == before["words"]
    assert after["rule_results"] == before["rule_results"]
    assert after["scores"] == before["scores"] + 2  # m2 scores added, m1 scores kept
    back = wh.load_call(v1.call_id)
    assert back.turns == v2.turns and back.rule_results == v2.rule_results
    assert {s.model_version for s in back.scores} == {"m1", "m2"}
    assert wh.load_call(other.call_id) == other

    fewer = dummy_call_result(1, n_turns=3, n_words=7, qa_passed=None)
    wh.save_call(fewer, run2)
    back = wh.load_call(v1.call_id)
    assert len(back.turns) == 3 and len(back.words) == 7 and back.qa is None
    with wh.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT run_id FROM calls WHERE call_id = :c"), {"c": v1.call_id}).one()
    assert row.run_id == run2


def test_undated_call_keeps_first_date(wh: Warehouse, run_id: str) -> None:
    r = dummy_call_result(7, started_at=None)
    wh.save_call(r, run_id)
    first = wh.call_date(r.call_id)
    with wh.engine.begin() as conn:  # pretend it was first stored long ago
        conn.execute(
            sa.text("UPDATE calls SET call_date = '2020-01-02' WHERE call_id = :c"), {"c": r.call_id}
        )
    wh.save_call(r, run_id)
    assert wh.call_date(r.call_id).isoformat() == "2020-01-02" != first.isoformat()


def test_scores_upsert_by_key(wh: Warehouse, run_id: str) -> None:
    r = dummy_call_result(2)
    wh.save_call(r, run_id)
    s = r.scores[0]
    changed = dataclasses.replace(s, value="unresolved", probabilities={"resolved": 0.1, "unresolved": 0.9})
    new_version = dataclasses.replace(s, model_version="m9")
    wh.save_scores([changed, new_version, changed])
    wh.save_scores([changed])
    back = {(x.label, x.model_version): x for x in wh.load_call(r.call_id).scores}
    assert len(back) == 3
    assert back[(s.label, "m1")] == changed and back[(s.label, "m9")] == new_version
    assert back[(s.label, "m1")].confidence == 0.9
    try:
        wh.save_scores([Score(call_id="f" * 64, label="x", model_version="m1", value="y")])
    except KeyError:
        pass
    else:
        raise AssertionError("a score of an unknown call was accepted")


def test_rejections_do_not_pile_up(wh: Warehouse, run_id: str) -> None:
    rej = Rejection(file="/inbox/bad.wav", reason="too short (0.2 s)", call_id="a" * 64, external_id="X1")
    wh.save_rejection(rej, run_id)
    wh.save_rejection(rej, run_id)  # same run again: still seen once
    run2 = wh.start_run({}, "test")
    wh.save_rejection(dataclasses.replace(rej, reason="too short (0.25 s)"), run2)
    wh.save_rejection(Rejection(file="/inbox/bad.wav", reason="unreadable"), run2)  # no hash: by reason
    wh.save_rejection(Rejection(file="/inbox/bad.wav", reason="unreadable"), run2)
    from warehouse import queries

    df = queries.rejections(wh).sort_values("times_seen")
    assert len(df) == 2
    hashed = df[df.call_id.notna()].iloc[0]
    assert hashed.times_seen == 2 and hashed.first_run_id == run_id and hashed.last_run_id == run2
    assert hashed.reason == "too short (0.25 s)" and hashed.last_seen_at >= hashed.first_seen_at
    assert df[df.call_id.isna()].iloc[0].times_seen == 1


def test_runs_are_recorded(wh: Warehouse) -> None:
    from warehouse import queries

    run = wh.start_run({"asr_model": "tiny.en"}, "abc123")
    wh.finish_run(
        run,
        processed=3,
        rejected=1,
        skipped=2,
        audio_seconds=120.5,
        processing_seconds=30.0,
        mean_qa_score=81.5,
        flagged=1,
        report_markdown="# night",
    )
    row = queries.runs(wh).iloc[0]
    assert row.run_id == run and row.status == "finished" and row.settings == {"asr_model": "tiny.en"}
    assert (row.processed, row.rejected, row.skipped, row.flagged) == (3, 1, 2, 1)
    assert row.finished_at >= row.started_at and row.code_version == "abc123"
