"""The nightly flow end to end: a synthetic stereo inbox through the real Prefect flow, the real shipped
Whisper model, into SQLite and Parquet; then a rerun that must add nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from qc.config import Settings
from qc.evaluate import redacted_transcript_text, wer_report
from qc.synth import generate_corpus

pytestmark = pytest.mark.slow

TABLES = ("calls", "turns", "words", "conversation_metrics")


def _sql_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}
        counts["rejections"] = conn.execute(sa.text("SELECT COUNT(*) FROM rejections")).scalar_one()
    engine.dispose()
    return counts


def _parquet(root: Path, name: str) -> pd.DataFrame:
    return ds.dataset(root / name, format="parquet", partitioning="hive").to_table().to_pandas()


@pytest.fixture(scope="module")
def stereo_inbox(tmp_path_factory) -> Path:
    inbox = tmp_path_factory.mktemp("inbox")
    generate_corpus(inbox, calls=6, seed=202, layout="stereo")
    (inbox / "audio" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio")
    return inbox


def test_nightly_flow_end_to_end(stereo_inbox: Path, tmp_path: Path, prefect_harness):
    from flows.nightly import run_nightly

    cfg = Settings(data_dir=tmp_path / "data")
    summary = run_nightly(stereo_inbox, cfg)
    assert summary.count("processed") == 6
    rejected = [o for o in summary.outcomes if o.status == "rejected"]
    assert [Path(o.file).name for o in rejected] == ["broken.wav"]
    assert "not a readable audio file" in rejected[0].reason

    counts = _sql_counts(cfg.db_url)
    assert counts["calls"] == 6 and counts["conversation_metrics"] == 6 and counts["rejections"] == 1
    assert counts["turns"] >= 6 * 8 and counts["words"] >= 6 * 100

    # stored transcripts against the generator's references
    engine = sa.create_engine(cfg.db_url)
    words = pd.read_sql("SELECT c.external_id, w.start_s, w.text FROM words w JOIN calls c ON c.call_id = w.call_id "
                        "ORDER BY c.external_id, w.start_s", engine)
    calls_sql = pd.read_sql("SELECT * FROM calls", engine)
    engine.dispose()
    pairs = []
    for external_id, group in words.groupby("external_id"):
        truth = json.loads((stereo_inbox / "transcripts" / f"{external_id}.json").read_text())
        reference = redacted_transcript_text(truth)
        pairs.append((external_id, reference, " ".join(group["text"])))
    assert len(pairs) == 6
    wer = wer_report(pairs).wer
    print(f"stored transcripts WER {wer:.3f}")
    assert wer <= 0.15

    # Parquet holds the same calls and rows as SQL
    pq_calls = _parquet(cfg.parquet_dir, "calls")
    assert sorted(pq_calls["call_id"]) == sorted(calls_sql["call_id"])
    for table in ("turns", "words"):
        assert len(_parquet(cfg.parquet_dir, table)) == counts[table]
    assert len(_parquet(cfg.parquet_dir, "metrics")) == 6
    calls_csv = pd.read_csv(stereo_inbox / "calls.csv")
    expected_dates = {str(pd.Timestamp(t).date()) for t in calls_csv["started_at"]}
    partitions = {p.name.split("=", 1)[1] for p in (cfg.parquet_dir / "calls").iterdir() if "=" in p.name}
    assert partitions == expected_dates

    # a rerun of the same inbox adds nothing
    again = run_nightly(stereo_inbox, cfg)
    assert again.count("processed") == 0 and again.count("skipped") == 6
    after = _sql_counts(cfg.db_url)
    assert {k: after[k] for k in (*TABLES, "rejections")} == {k: counts[k] for k in (*TABLES, "rejections")}
    for table in ("turns", "words"):
        assert len(_parquet(cfg.parquet_dir, table)) == counts[table]
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
