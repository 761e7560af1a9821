"""Engines and migrations.

SQLite (the default, a file in the data directory) gets WAL mode, foreign keys, a busy timeout and
``BEGIN IMMEDIATE`` for writing transactions, so two processes writing at once queue up instead of
failing half-way. PostgreSQL is used as given by its URL.

Migrations run with a lock held (``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on
PostgreSQL) and inside one transaction, so two processes opening a fresh database at once end with one
migrated schema, and a killed migration leaves the database as it was.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 60_000
# Any fixed 64-bit number, the same in every callqc process: the key of the migration advisory lock.
_PG_MIGRATION_LOCK = 0x6361_6C6C_7163_0001

WRITE = {"qc_write": True}  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer callqc than this one."""


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and the pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)

    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite (it would not begin one before DDL, and it
        # begins DEFERRED transactions that fail rather than wait when two writers collide).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed data
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A writer takes the write lock up front (waiting up to busy_timeout); a deferred transaction
        # that reads and then writes could hit SQLITE_BUSY without waiting when another writer commits.
        immediate = conn.get_execution_options().get("qc_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _set_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting for other connections as long as the busy timeout.

    Switching a rollback-journal database to WAL needs an exclusive lock. While another connection
    holds the write lock (two processes opening a fresh database at once), SQLite fails the switch
    at once with "database is locked" instead of calling its busy handler, so we wait here ourselves.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.25)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not migrated yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (idempotent; safe with several processes at once).

    Returns the revision the database is at afterwards. Raises :class:`SchemaTooNew` when the database
    is at a revision this code does not know.
    """
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    with engine.connect().execution_options(**WRITE) as conn:
        _take_migration_lock(conn)  # also begins the transaction
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None:
            try:
                script.get_revision(current)
            except Exception as exc:
                raise SchemaTooNew(
                    f"the database is at revision {current!r}, which this callqc does not know "
                    f"(newest known: {script.get_current_head()!r}); upgrade callqc"
                ) from exc
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()  # releases the advisory lock (PostgreSQL) / the write lock (SQLite)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"``: drop everything). For tests and manual repairs."""
    cfg = alembic_config()
    with engine.connect().execution_options(**WRITE) as conn:
        _take_migration_lock(conn)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def _take_migration_lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    else:
        conn.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: the database write lock


def transient_db_error(exc: BaseException) -> bool:
    """A database failure a retry may cure: a dropped connection, a server restarting, SQLite busy.
    Constraint violations and SQL errors are not transient and are not retried."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError):  # server gone, connection refused, "database is locked"
        return True
    return isinstance(exc, (sa.exc.DisconnectionError, sa.exc.TimeoutError))
