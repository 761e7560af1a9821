"""``rescore`` on stored calls (no audio involved): scores from stored features with the promoted model,
QA scores recomputed with the model items, calls without features or analysed under another rules file
reported, reruns idempotent, and SQL and Parquet in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import save_artifact
from flows.scoring import register
from flows.scoring import rescore
from qc.config import Settings
from warehouse import Warehouse, parquet
from warehouse.testing import dummy_call_result

RULES = """
version: 1
rules:
  - {id: greeting, kind: required_phrase, role: agent, points: 10, phrases: [hello]}
  - {id: no_profanity, kind: forbidden_phrase, role: any, points: 10, phrases: [damn]}
  - {id: closing, kind: required_phrase, role: agent, points: 10, phrases: [goodbye]}
scorecard:
  pass_score: 60
  models:
    - {label: pace, value: heated, points: 40}
"""


@pytest.fixture
def stored(tmp_path: Path, toy_store):
    """Five toy calls stored (with features), one stored call without features, the toy model registered."""
    store, data = toy_store
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    cfg = Settings(data_dir=tmp_path / "data", rules_file=rules)
    cfg.data_dir.mkdir(parents=True)
    wh = Warehouse.open(cfg)
    run = wh.start_run({}, "test")
    ids = sorted(data.call_ids)[:5]
    results = [dummy_call_result(c, call_id=c, n_words=20, model_version="old") for c in ids]
    results.append(dummy_call_result("x", call_id="no-features", n_words=20, model_version="old"))
    for r in results:
        parquet.write_call(r, cfg.parquet_dir)
        wh.save_call(r, run)
    yield cfg, wh, store, ids
    wh.close()


def test_rescore_needs_a_promoted_model(stored):
    cfg, wh, store, _ = stored
    with pytest.raises(LookupError, match="no model version is promoted"):
        rescore(cfg, wh, store=store)


def test_rescore_scores_stored_features_and_recomputes_qa(stored, toy_result):
    cfg, wh, store, ids = stored
    version = register(wh, save_artifact(toy_result, cfg.models_dir, png=False)).version
    wh.promote(version)
    before = {c: wh.load_call(c) for c in ids}

    report = rescore(cfg, wh, store=store, batch_size=2)  # three batches
    assert sorted(report.rescored) == ids and report.no_features == ("no-features",) and not report.stale_rules
    assert report.describe().startswith(f"rescored 5 calls with model {version}; 1 without stored features")
    for c in ids:
        after = wh.load_call(c)
        mine = {s.label: s for s in after.scores if s.model_version == version}
        assert set(mine) == {"pace", "tone"}
        assert {s.model_version for s in after.scores} == {"old", version}  # the old version's scores stay
        lost = round(40 * mine["pace"].probabilities["heated"], 2)
        assert after.qa.breakdown["model:pace=heated"] == pytest.approx(lost)
        assert after.qa.score == pytest.approx(100 - sum(after.qa.breakdown.values()))
        assert after.words == before[c].words and after.rule_results == before[c].rule_results
    # Parquet holds the same scores and QA scores as SQL
    pq = parquet.read_pandas(cfg.parquet_dir, "scores")
    sql_rows = {(s.call_id, s.label, s.model_version, s.value) for c in ids + ["no-features"]
                for s in wh.load_call(c).scores}
    assert set(zip(pq.call_id, pq.label, pq.model_version, pq.value)) == sql_rows and len(pq) == len(sql_rows)
    calls = parquet.read_pandas(cfg.parquet_dir, "calls").set_index("call_id")
    for c in ids:
        assert calls.loc[c, "qa_score"] == pytest.approx(wh.load_call(c).qa.score)

    again = rescore(cfg, wh, store=store, missing_only=True)
    assert again.rescored == () and sorted(again.skipped) == ids
    # an explicit id list and a date range pick calls too
    assert rescore(cfg, wh, [ids[0]], store=store).rescored == (ids[0],)
    day = wh.call_date(ids[1])
    picked = rescore(cfg, wh, date_from=day, date_to=day, store=store).rescored
    assert ids[1] in picked and all(wh.call_date(c) == day for c in picked)


def test_rescore_reports_calls_analysed_under_another_rules_file(stored, toy_result, tmp_path):
    cfg, wh, store, ids = stored
    wh.promote(register(wh, save_artifact(toy_result, cfg.models_dir, png=False)).version)
    rules = tmp_path / "more-rules.yaml"
    rules.write_text(RULES.replace("scorecard:", "  - {id: new_rule, kind: forbidden_phrase, role: any, "
                                                  "points: 5, phrases: [whatever]}\nscorecard:"))
    qa_before = {c: wh.load_call(c).qa for c in ids}
    report = rescore(cfg.model_copy(update={"rules_file": rules}), wh, store=store)
    assert report.rescored == () and sorted(report.stale_rules) == ids
    assert "analysed under another rules file" in report.describe()
    assert {c: wh.load_call(c).qa for c in ids} == qa_before


def test_reprocessing_without_a_promoted_model_keeps_the_stored_scores(stored):
    """A call analysed again while no model is promoted is written with the scores SQL keeps for it, so
    that its Parquet copy (rewritten whole) does not lose them."""
    import dataclasses

    from flows.nightly import _score

    cfg, wh, store, ids = stored
    again = dataclasses.replace(wh.load_call(ids[0]), scores=())
    result, version = _score(again, cfg, wh, store)
    assert version is None
    assert result.scores == wh.call_scores(ids[0]) and {s.model_version for s in result.scores} == {"old"}
