"""Parquet datasets: declared schemas, one copy per call, readable by pandas, pyarrow and DuckDB."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from warehouse import parquet
from warehouse.testing import call_id_for, dummy_call_result

JUNE = [datetime(2024, 6, d, 10, tzinfo=UTC) for d in (1, 1, 2, 3, 1)]  # June 1: a batch file + a single


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "parquet"
    results = [dummy_call_result(i, started_at=JUNE[i], n_words=40) for i in range(5)]
    parquet.write_calls(results[:2], root)
    for r in results[2:]:
        parquet.write_call(r, root)
    return root


def test_declared_schemas_and_layout(store: Path) -> None:
    for name in parquet.DATASETS:
        files = sorted((store / name).glob("call_date=*/*.parquet"))
        assert files, name
        schema = pq.read_schema(files[0])
        assert schema.metadata[b"schema_version"] == str(parquet.SCHEMA_VERSION).encode()
        assert schema.remove_metadata() == parquet.arrow_schema(name).remove_metadata()
    assert sorted(p.name for p in (store / "calls").iterdir()) == [
        "call_date=2024-06-01",
        "call_date=2024-06-02",
        "call_date=2024-06-03",
    ]


def test_readable_by_pandas_pyarrow_duckdb(store: Path) -> None:
    table = parquet.dataset(store, "words").to_table()
    assert table.num_rows == 5 * 40 and table.schema.field("call_date").type == pa.date32()
    plain = ds.dataset(store / "turns", format="parquet", partitioning="hive").to_table()
    assert plain.num_rows == 5 * 20

    df = pd.read_parquet(store / "calls")
    assert len(df) == 5 and str(df.started_at.dtype) == "datetime64[us, UTC]"
    assert json.loads(df.timings.iloc[0]) == {"asr": 1.5, "diarize": 0.25}

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT call_date, COUNT(*) FROM read_parquet('{store}/words/**/*.parquet', hive_partitioning = true) "
        "WHERE call_date BETWEEN ? AND ? GROUP BY call_date ORDER BY call_date",
        [date(2024, 6, 1), date(2024, 6, 2)],
    ).fetchall()
    assert rows == [(date(2024, 6, 1), 120), (date(2024, 6, 2), 40)]
    metrics = con.execute(f"SELECT * FROM read_parquet('{store}/metrics/**/*.parquet')").df()
    assert "talk_ratio_agent" in metrics.columns and len(metrics) == 5

    june_2 = parquet.read_table(store, "scores", date_from=date(2024, 6, 2), date_to=date(2024, 6, 3))
    assert set(june_2.column("call_id").to_pylist()) == {call_id_for(2), call_id_for(3)}


def test_reprocessing_leaves_one_copy(store: Path) -> None:
    moved = dummy_call_result(0, started_at=datetime(2024, 7, 9, tzinfo=UTC), n_words=10, text_suffix=" v2")
    parquet.write_call(moved, store)
    parquet.write_call(moved, store)  # twice: still one copy
    calls = parquet.read_table(store, "calls")
    assert calls.num_rows == 5
    words = parquet.read_table(store, "words", filter=ds.field("call_id") == moved.call_id)
    assert words.num_rows == 10 and set(words.column("call_date").to_pylist()) == {date(2024, 7, 9)}
    turns = parquet.read_pandas(store, "turns", filter=ds.field("call_id") == moved.call_id)
    assert turns.text.str.endswith(" v2").all() and len(turns) == 20
    # the other call of the old file is untouched
    assert parquet.read_table(store, "words", filter=ds.field("call_id") == call_id_for(1)).num_rows == 40
    assert parquet.rebuild_index(store) == {}


def test_undated_call_stays_in_first_partition(tmp_path: Path) -> None:
    root = tmp_path / "p"
    r = dummy_call_result("undated", started_at=None)
    assert parquet.write_calls([r], root, today=date(2024, 1, 2))[0].startswith("call_date=2024-01-02/")
    assert parquet.write_calls([r], root, today=date(2024, 3, 4))[0].startswith("call_date=2024-01-02/")
    assert parquet.read_table(root, "calls").column("call_date").to_pylist() == [date(2024, 1, 2)]


def test_compact_keeps_rows_and_reduces_files(store: Path) -> None:
    keys = {"turns": ["seq"], "words": ["seq"], "scores": ["label"]}

    def snapshot(name: str) -> pa.Table:
        order = [(k, "ascending") for k in ["call_id", *keys.get(name, [])]]
        return parquet.read_table(store, name).sort_by(order)

    before = {name: snapshot(name) for name in parquet.DATASETS}
    assert parquet.file_counts(store)["words"] == 4
    report = parquet.compact(store)
    assert report.partitions == 1 and parquet.file_counts(store)["words"] == 3  # June 1 had two files
    assert parquet.compact(store).partitions == 0  # nothing left to merge
    for name in parquet.DATASETS:
        assert snapshot(name).equals(before[name]), name
    # after compaction the index still finds every call: rewriting one leaves one copy
    parquet.write_call(dummy_call_result(1, started_at=JUNE[1], n_words=40), store)
    assert parquet.read_table(store, "calls").num_rows == 5
    assert parquet.rebuild_index(store) == {}


def test_delete_and_known_ids(store: Path) -> None:
    assert parquet.known_call_ids(store, [call_id_for(0), "x"]) == {call_id_for(0)}
    assert parquet.delete_call(call_id_for(0), store)
    assert not parquet.delete_call(call_id_for(0), store)
    assert parquet.read_table(store, "calls").num_rows == 4
    assert parquet.read_table(store, "words", filter=ds.field("call_id") == call_id_for(0)).num_rows == 0
    assert parquet.known_call_ids(store, [call_id_for(0)]) == set()


def test_batch_writer(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with parquet.BatchWriter(root, max_calls=3) as writer:
        for i in range(7):
            writer.add(dummy_call_result(i, started_at=datetime(2024, 6, 1, tzinfo=UTC), n_words=5))
    assert writer.written == 7 and parquet.file_counts(root)["calls"] == 3
    assert parquet.read_table(root, "calls").num_rows == 7


def test_export_date_range(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cli_db import register

    app = typer.Typer()
    register(app)
    monkeypatch.setenv("QC_DATA_DIR", str(store.parent))
    monkeypatch.setenv("QC_PARQUET_ROOT", str(store))
    out = tmp_path / "export"
    result = CliRunner().invoke(
        app, ["export", "--from", "2024-06-01", "--to", "2024-06-02", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "words" in result.output
    assert sorted(p.name for p in (out / "calls").iterdir()) == [
        "call_date=2024-06-01",
        "call_date=2024-06-02",
    ]
    exported = parquet.read_table(out, "calls")
    assert set(exported.column("call_id").to_pylist()) == {call_id_for(i) for i in (0, 1, 2, 4)}
    assert parquet.read_table(out, "words").num_rows == 4 * 40
    # exporting again replaces, never duplicates
    assert (
        CliRunner()
        .invoke(app, ["export", "--from", "2024-06-01", "--to", "2024-06-02", "--out", str(out)])
        .exit_code
        == 0
    )
    assert parquet.read_table(out, "calls").num_rows == 4
    bad = CliRunner().invoke(app, ["export", "--from", "2024-06-05", "--to", "2024-06-01", "--out", str(out)])
    assert bad.exit_code != 0


def test_arrow_rows_match_records() -> None:
    r = dummy_call_result("rt", qa_passed=False, failed_rules=1)
    table = parquet.to_arrow("scores", [r])
    assert table.column("confidence").to_pylist() == [s.confidence for s in r.scores]
    calls = parquet.to_arrow("calls", [r]).to_pylist()[0]
    assert calls["qa_passed"] is False and json.loads(calls["qa_breakdown"]) == r.qa.breakdown
    metrics = parquet.to_arrow("metrics", [r]).to_pylist()[0]
    assert metrics == {
        "call_id": r.call_id,
        **{k: v for k, v in dataclasses.asdict(r.metrics).items() if k != "call_id"},
    }
