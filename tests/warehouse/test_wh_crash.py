"""A writer killed with SIGKILL mid-write leaves no partial rows and no partial Parquet files."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.warehouse.wh_procs import spawn_worker, wait_for
from warehouse import Warehouse, parquet
from warehouse.schema import CALL_CHILD_TABLES
from warehouse.testing import call_id_for, dummy_call_result


def kill_inside(tmp_path: Path, *args: str) -> None:
    sync, log = tmp_path / "sync", tmp_path / "worker.log"
    sync.mkdir(exist_ok=True)
    proc = spawn_worker(*args[:1], *args[1:], log=log)
    wait_for(sync / "inside", proc, log)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def rows_of(wh: Warehouse, call_id: str) -> dict[str, int]:
    tables = (
        *CALL_CHILD_TABLES,
        sa.table("calls", sa.column("call_id")),
        sa.table("scores", sa.column("call_id")),
    )
    with wh.engine.connect() as conn:
        return {
            t.name: conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.call_id == call_id)
            ).scalar_one()
            for t in tables
        }


@pytest.mark.parametrize("case", ["new_call", "reprocess"])
def test_killed_sql_writer(wh: Warehouse, run_id: str, db_url: str, tmp_path: Path, case: str) -> None:
    seed = "crash-me"
    v1 = dummy_call_result(seed)
    if case == "reprocess":
        wh.save_call(v1, run_id)
    kill_inside(tmp_path, "crash-sql", db_url, str(tmp_path / "sync"), seed, " v2")

    if case == "new_call":
        assert set(rows_of(wh, v1.call_id).values()) == {0}  # nothing of the killed transaction
    else:
        assert wh.load_call(v1.call_id) == v1  # the old version, whole
    # a rerun completes cleanly (PostgreSQL has released the dead writer's locks)
    v2 = dummy_call_result(seed, text_suffix=" v2")
    wh.save_call(v2, run_id)
    assert wh.load_call(v2.call_id) == v2
    counts = rows_of(wh, v2.call_id)
    assert counts["calls"] == 1 and counts["words"] == 300 and counts["turns"] == 20


def visible_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/call_date=*/*.parquet"))


def raw_call_ids(root: Path) -> list[str]:
    """The calls as a plain reader sees them: pyarrow over the directory, and DuckDB over a glob."""
    table = ds.dataset(root / "calls", format="parquet", partitioning="hive").to_table(columns=["call_id"])
    via_duckdb = duckdb.sql(f"SELECT call_id FROM read_parquet('{root}/calls/**/*.parquet')").fetchall()
    assert sorted(table.column("call_id").to_pylist()) == sorted(r[0] for r in via_duckdb)
    return sorted(table.column("call_id").to_pylist())


@pytest.mark.parametrize("phase", ["temp", "publish"])
def test_killed_parquet_writer(tmp_path: Path, phase: str) -> None:
    root = tmp_path / "parquet"
    existing = [dummy_call_result(s, n_words=50) for s in ("p0", "old1")]
    parquet.write_calls(existing, root)
    before = raw_call_ids(root)
    seeds = ["p0", "p1", "p2", "p3"]  # p0 is rewritten and moves to 2024-08-01
    kill_inside(tmp_path, "crash-parquet", str(root), str(tmp_path / "sync"), phase, *seeds)

    for path in visible_files(root):  # every file a reader can see is a whole Parquet file
        pq.ParquetFile(path).metadata  # noqa: B018  (raises on a torn file)
    if phase == "temp":
        # killed before the commit: readers see exactly the old store; the torn temporary is hidden
        assert list(root.rglob(".*.tmp")), "the worker should have left a temporary behind"
        assert raw_call_ids(root) == before
    # the next writer or reader finishes (publish) or discards (temp) the killed write
    assert parquet.read_table(root, "calls").num_rows == (2 if phase == "temp" else 5)
    assert not list(root.rglob("*.tmp")) and not os.listdir(root / "_callqc" / "journal")
    ids = raw_call_ids(root)
    assert len(ids) == len(set(ids))  # exactly one copy of every call
    if phase == "publish":
        assert set(ids) == {call_id_for(s) for s in [*seeds, "old1"]}
        words = parquet.read_table(root, "words", columns=["call_id"]).num_rows
        assert words == 5 * 50  # all of p0..p3's rows or none: here all

    # a rerun of the whole batch completes and leaves one copy of each call
    parquet.write_calls([dummy_call_result(s, n_words=50) for s in seeds], root)
    ids = raw_call_ids(root)
    assert ids == sorted({call_id_for(s) for s in [*seeds, "old1"]})
    assert parquet.read_table(root, "words").num_rows == 5 * 50
