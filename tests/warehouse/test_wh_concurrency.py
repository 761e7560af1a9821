"""Two real processes writing different calls at once, to a fresh database and one Parquet store."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.compute as pc
import sqlalchemy as sa

from tests.warehouse.wh_procs import spawn_worker, wait_for
from warehouse import Warehouse, parquet
from warehouse.testing import call_id_for, dummy_call_result

PER_WORKER = 15


def test_two_writers(fresh_db_url: str, tmp_path: Path) -> None:
    sync, root = tmp_path / "sync", tmp_path / "parquet"
    sync.mkdir()
    seeds = {"a": [f"a{i}" for i in range(PER_WORKER)], "b": [f"b{i}" for i in range(PER_WORKER)]}
    logs = {name: tmp_path / f"{name}.log" for name in seeds}
    procs = {
        name: spawn_worker("write", fresh_db_url, str(root), str(sync), name, *s, log=logs[name])
        for name, s in seeds.items()
    }
    for name, proc in procs.items():
        wait_for(sync / f"ready-{name}", proc, logs[name])
    (sync / "go").touch()  # both open the (unmigrated) database and write at the same moment
    deadline = time.monotonic() + 90
    for name, proc in procs.items():
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert rc == 0, f"writer {name} failed:\n{logs[name].read_text()}"

    all_seeds = seeds["a"] + seeds["b"]
    ids = {call_id_for(s) for s in all_seeds}
    wh = Warehouse.from_url(fresh_db_url)
    try:
        with wh.engine.connect() as conn:

            def count(sql: str) -> int:
                return conn.execute(sa.text(sql)).scalar_one()

            assert count("SELECT COUNT(*) FROM calls") == len(ids)
            assert count("SELECT COUNT(DISTINCT call_id) FROM words") == len(ids)
            assert count("SELECT COUNT(*) FROM words") == len(ids) * 100
            assert count("SELECT COUNT(*) FROM turns") == len(ids) * 20
            assert count("SELECT COUNT(*) FROM scores") == len(ids) * 2
            assert count("SELECT COUNT(*) FROM pipeline_runs WHERE status = 'finished'") == 2
            assert count("SELECT COUNT(*) FROM alembic_version") == 1
        assert wh.known_call_ids(ids) == ids
        for seed in (all_seeds[0], all_seeds[-1]):
            assert wh.load_call(call_id_for(seed)).words == dummy_call_result(seed, n_words=100).words
    finally:
        wh.close()

    calls = parquet.read_table(root, "calls")
    assert calls.num_rows == len(ids) and set(calls.column("call_id").to_pylist()) == ids
    words = parquet.read_table(root, "words", columns=["call_id"])
    assert words.num_rows == len(ids) * 100
    assert pc.count_distinct(words.column("call_id")).as_py() == len(ids)
    assert parquet.rebuild_index(root) == {}  # no call in two files
    assert parquet.known_call_ids(root, ids) == ids
