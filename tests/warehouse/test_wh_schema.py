"""Schema: the migrations build what the models describe, and a call survives the round trip."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from warehouse import Warehouse, db
from warehouse.schema import Base
from warehouse.testing import dummy_call_result

VIEWS = {"v_call_scores", "v_agent_daily", "v_flagged_calls", "v_latest_labels"}


def test_models_match_migrations(wh: Warehouse) -> None:
    with wh.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree (write a migration): {diff}"
    inspector = sa.inspect(wh.engine)
    assert VIEWS <= set(inspector.get_view_names())
    assert wh.current_revision() == db.head_revision()


def test_round_trip(wh: Warehouse, run_id: str) -> None:
    result = dummy_call_result(1, failed_rules=2, qa_passed=False)
    wh.save_call(result, run_id)
    assert wh.load_call(result.call_id) == result
    assert wh.known_call_ids([result.call_id, "nope"]) == {result.call_id}


def test_round_trip_edge_values(wh: Warehouse, run_id: str) -> None:
    """No QA score, no turns or words, unknown start, empty probabilities, nullable metrics None."""
    result = dummy_call_result(
        2, qa_passed=None, n_turns=0, n_words=0, started_at=None, agent_id=None, queue=None
    )
    result = dataclasses.replace(
        result,
        scores=(dataclasses.replace(result.scores[0], probabilities={}),),
        metrics=dataclasses.replace(result.metrics, talk_ratio_agent=None, response_latency_agent=None),
        timings={},
    )
    wh.save_call(result, run_id)
    assert wh.load_call(result.call_id) == result
    assert wh.call_date(result.call_id) == datetime.now(UTC).date()


def test_datetimes_are_utc_aware(wh: Warehouse, run_id: str) -> None:
    local = datetime(2024, 6, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 2024-05-31 22:30 UTC
    result = dummy_call_result(3, started_at=local)
    wh.save_call(result, run_id)
    back = wh.load_call(result.call_id).call.started_at
    assert back == local and back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert wh.call_date(result.call_id).isoformat() == "2024-05-31"  # the UTC date
    naive = dummy_call_result(4, started_at=datetime(2024, 6, 2, 12, 0))  # naive: taken as UTC
    wh.save_call(naive, run_id)
    assert wh.load_call(naive.call_id).call.started_at == datetime(2024, 6, 2, 12, 0, tzinfo=UTC)


def test_unknown_call_and_mismatched_records(wh: Warehouse, run_id: str) -> None:
    with pytest.raises(KeyError):
        wh.load_call("0" * 64)
    good = dummy_call_result(5)
    bad = dataclasses.replace(good, turns=(dataclasses.replace(good.turns[0], call_id="other"),))
    with pytest.raises(ValueError, match="other"):
        wh.save_call(bad, run_id)
    assert wh.known_call_ids([good.call_id]) == set()


def test_fresh_database_upgrade_downgrade(fresh_db_url: str) -> None:
    wh = Warehouse.from_url(fresh_db_url, migrate=False)
    try:
        assert wh.current_revision() is None
        assert wh.upgrade() == db.head_revision()
        assert wh.upgrade() == db.head_revision()  # idempotent
        db.downgrade(wh.engine, "base")
        assert wh.current_revision() is None
        assert not (set(sa.inspect(wh.engine).get_table_names()) - {"alembic_version"})
        wh.close()
        wh = Warehouse.from_url(fresh_db_url)  # migrates on first use
        assert wh.current_revision() == db.head_revision()
        run = wh.start_run({}, "test")
        wh.save_call(dummy_call_result(6), run)
    finally:
        wh.close()


def test_database_newer_than_code(wh: Warehouse) -> None:
    head = db.head_revision()
    with wh.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'fffffffff'"))
    try:
        with pytest.raises(db.SchemaTooNew, match="fffffffff"):
            wh.upgrade()
    finally:  # the PostgreSQL database is shared by the session's tests
        with wh.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_sqlite_pragmas(tmp_path) -> None:
    wh = Warehouse.from_url(f"sqlite:///{tmp_path / 'new' / 'dir' / 'callqc.db'}")
    with wh.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    wh.close()


def test_wal_switch_waits_for_another_writer(tmp_path) -> None:
    """Switching to WAL while another process holds the write lock waits instead of failing.

    SQLite fails that switch at once, without calling the busy handler; two writers opening a fresh
    database at the same moment hit it (test_wh_concurrency, once in CI).
    """
    path = tmp_path / "callqc.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # rollback mode
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    engine = db.create_engine_for(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 1
        assert time.monotonic() - started >= 0.4  # it waited for the other writer's commit
    finally:
        release.join()
        engine.dispose()
        other.close()


def test_open_from_settings(tmp_path) -> None:
    from qc.config import Settings

    settings = Settings(data_dir=tmp_path / "data")
    with Warehouse.open(settings) as wh:
        assert wh.dialect == "sqlite"
        assert wh.current_revision() == db.head_revision()
    assert (tmp_path / "data" / "callqc.db").exists()


def test_every_record_field_is_stored() -> None:
    """A field added to qc.records needs a migration (SQL) and a schema change (Parquet)."""
    import dataclasses as dc

    from qc import records as R
    from warehouse import parquet
    from warehouse.schema import column_for

    tables = Base.metadata.tables
    stored = {
        R.CallRecord: ("calls", "calls"),
        R.Turn: ("turns", "turns"),
        R.Word: ("words", "words"),
        R.RuleResult: ("rule_results", None),
        R.Score: ("scores", "scores"),
        R.QAScore: ("qa_scores", None),
        R.ConversationMetrics: ("conversation_metrics", "metrics"),
    }
    derived = {"probabilities", "breakdown"}  # JSON columns
    for record, (table, dataset) in stored.items():
        for f in dc.fields(record):
            assert column_for(f.name) in tables[table].c, (
                f"{record.__name__}.{f.name} has no column in {table}"
            )
            if dataset:
                names = set(parquet.arrow_schema(dataset).names) | {"qa_score", "qa_passed"}
                assert column_for(f.name) in names or f.name in derived, (
                    f"{record.__name__}.{f.name} not in {dataset}"
                )
