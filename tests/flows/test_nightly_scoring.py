"""The classifier in the nightly run and in ``callqc rescore``: the nightly flow scores new calls with the
promoted version and folds its outputs into the QA score; ``rescore`` re-scores stored calls with a newly
promoted version from their stored features, without decoding or transcribing anything; Parquet and SQL
agree after both. Slow: real ASR of the three-call stereo inbox."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from qc.call_features import FeatureStore
from models.registry import save_artifact
from flows.scoring import register
from models.train import LabeledData, train_classifier
from qc.config import Settings
from warehouse import Warehouse

from tests.models.conftest import quick_config, toy_rows

pytestmark = pytest.mark.slow

ITEM = "model:agent_politeness=rude"  # the default scorecard's model item (5 points)


def train_version(cfg: Settings, wh: Warehouse, seed: int, flip: bool) -> str:
    """A model with the default scorecard's labels trained on toy calls (``flip``: the politeness cue read
    the other way round, so its outputs differ from the unflipped model's)."""
    feats, data = toy_rows(48, seed=seed)
    store = FeatureStore(cfg.data_dir / "toy-features")
    for f in feats:
        store.save(f)
    politeness = {"calm": "rude", "heated": "polite"} if flip else {"calm": "polite", "heated": "rude"}
    emotion = {"kind": "satisfied", "harsh": "angry", "plain": "neutral"}
    rows = [(c, "agent_politeness", politeness[v]) if lab == "pace" else (c, "customer_emotion", emotion[v])
            for c, lab, v in data.rows]
    result = train_classifier(LabeledData(tuple(rows)), store,
                              quick_config(variants=("fused_concat",), max_epochs=8, seed=seed))
    return register(wh, save_artifact(result, cfg.models_dir, png=False)).version


def sql_frames(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        return {
            "scores": pd.read_sql("SELECT call_id, label, model_version, value, probabilities FROM scores "
                                  "ORDER BY call_id, label, model_version", engine),
            "qa": pd.read_sql("SELECT call_id, score, passed, breakdown FROM qa_scores ORDER BY call_id", engine),
            "words": pd.read_sql("SELECT call_id, seq, start_s, text FROM words ORDER BY call_id, seq", engine),
            "turns": pd.read_sql("SELECT call_id, seq, start_s, end_s FROM turns ORDER BY call_id, seq", engine),
            "turn_scores": pd.read_sql("SELECT call_id, seq, label, model_version, value, probabilities "
                                       "FROM turn_scores ORDER BY call_id, seq, label", engine),
        }
    finally:
        engine.dispose()


def parquet_scores(cfg: Settings) -> pd.DataFrame:
    t = ds.dataset(cfg.parquet_dir / "scores", format="parquet", partitioning="hive").to_table().to_pandas()
    return t.sort_values(["call_id", "label", "model_version"]).reset_index(drop=True)


def as_dict(x) -> dict:
    return x if isinstance(x, dict) else json.loads(x)


def check_consistent(cfg: Settings, frames: dict[str, pd.DataFrame], version: str) -> None:
    """Each call's QA item for the model equals 5 x P(rude) of ``version``'s score; Parquet = SQL."""
    scores, qa = frames["scores"], frames["qa"]
    for _, row in qa.iterrows():
        mine = scores[(scores.call_id == row.call_id) & (scores.label == "agent_politeness")
                      & (scores.model_version == version)]
        assert len(mine) == 1
        p_rude = as_dict(mine.iloc[0].probabilities)["rude"]
        assert as_dict(row.breakdown)[ITEM] == pytest.approx(round(5 * p_rude, 2), abs=0.006)
    pq = parquet_scores(cfg)
    assert len(pq) == len(scores)
    assert list(pq.model_version) == list(scores.model_version) and list(pq.value) == list(scores.value)
    # every turn long enough is scored, every label, by the version that scored the call (SQL = Parquet)
    turns, per_turn = frames["turns"], frames["turn_scores"]
    scored = turns[turns.end_s - turns.start_s >= 0.2]
    assert len(scored) > 6 and len(per_turn) == 2 * len(scored) and set(per_turn.model_version) == {version}
    assert set(zip(per_turn.call_id, per_turn.seq)) == set(zip(scored.call_id, scored.seq))
    pt = ds.dataset(cfg.parquet_dir / "turn_scores", format="parquet", partitioning="hive").to_table().to_pandas()
    pt = pt.sort_values(["call_id", "seq", "label"]).reset_index(drop=True)
    assert list(zip(pt.call_id, pt.seq, pt.label, pt.value)) == list(
        zip(per_turn.call_id, per_turn.seq, per_turn.label, per_turn.value))
    calls = ds.dataset(cfg.parquet_dir / "calls", format="parquet", partitioning="hive").to_table().to_pandas()
    got = dict(zip(calls.call_id, calls.qa_score))
    assert got == pytest.approx(dict(zip(qa.call_id, qa.score)))


def test_nightly_scores_with_the_promoted_model_and_rescore_replaces_it(small_stereo_inbox: Path, tmp_path: Path,
                                                                         prefect_harness, monkeypatch):
    from flows.cli import app
    from flows.nightly import run_nightly

    cfg = Settings(data_dir=tmp_path / "data")
    with Warehouse.open(cfg) as wh:
        v1 = train_version(cfg, wh, seed=3, flip=False)
        v2 = train_version(cfg, wh, seed=4, flip=True)
        wh.promote(v1)

    summary = run_nightly(small_stereo_inbox, cfg)
    processed = [o for o in summary.outcomes if o.status == "processed"]
    assert len(processed) == 3 and {o.scored_by for o in processed} == {v1}
    assert all("classify" in o.timings and "spectrogram" in o.timings for o in processed)
    with Warehouse.open(cfg) as wh:
        run = wh.engine.connect().execute(sa.text("SELECT report_markdown FROM pipeline_runs")).scalar_one()
    assert f"3 calls scored by model {v1}" in run
    store = FeatureStore.for_settings(cfg)
    assert store.available([o.call_id for o in processed]) == [o.call_id for o in processed]

    before = sql_frames(cfg.db_url)
    assert len(before["scores"]) == 3 * 2 and set(before["scores"].model_version) == {v1}
    check_consistent(cfg, before, v1)

    # rescore with v2: no decoding, no ASR
    def no_asr(*a, **k):
        raise AssertionError("rescore must not decode or transcribe")

    monkeypatch.setattr("qc.pipeline.transcribe", no_asr)
    monkeypatch.setattr("qc.pipeline.load_recording", no_asr)
    env = {"QC_DATA_DIR": str(cfg.data_dir)}
    res = CliRunner().invoke(app, ["rescore"], env=env)  # the same version again: the same stored rows
    assert res.exit_code == 0 and f"rescored 3 calls with model {v1}" in res.output, res.output
    for name in ("scores", "qa", "words", "turn_scores"):
        pd.testing.assert_frame_equal(sql_frames(cfg.db_url)[name], before[name])
    res = CliRunner().invoke(app, ["models", "promote", v2], env=env)
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["rescore"], env=env)
    assert res.exit_code == 0, res.output
    assert f"rescored 3 calls with model {v2}" in res.output

    after = sql_frames(cfg.db_url)
    assert len(after["scores"]) == 3 * 2 * 2  # v1's scores stay beside v2's
    check_consistent(cfg, after, v2)
    pd.testing.assert_frame_equal(after["words"], before["words"])
    assert not after["qa"].breakdown.map(lambda b: as_dict(b)[ITEM]).equals(
        before["qa"].breakdown.map(lambda b: as_dict(b)[ITEM]))  # the flipped model says otherwise

    res = CliRunner().invoke(app, ["rescore", "--missing-only"], env=env)
    assert res.exit_code == 0 and "rescored 0 calls" in res.output and "3 already scored" in res.output
    pd.testing.assert_frame_equal(sql_frames(cfg.db_url)["qa"], after["qa"])
