"""Fixtures for the warehouse suite: every DB test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``QC_TEST_POSTGRES_URL`` (default: the local test server). The suite creates a
uniquely named database on it for the session and drops it afterwards, so parallel sessions and other
users of the server do not see each other. Unreachable: the postgres tests fail when ``CI`` is set and
are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from warehouse import Warehouse
from warehouse.schema import Base

PG_URL = os.environ.get("QC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _pg_problem(url: str) -> str | None:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001  (any failure means: no usable server)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


@contextmanager
def pg_database(admin_url: str, prefix: str = "callqc_t") -> Iterator[str]:
    """A new empty database on the server of ``admin_url``, dropped (connections and all) afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    problem = _pg_problem(PG_URL)
    if problem:
        msg = (
            f"PostgreSQL is not reachable at {_masked(PG_URL)} ({problem}); "
            "start one with scripts/ensure_postgres.sh or set QC_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return PG_URL


@pytest.fixture(scope="session")
def pg_session_url(pg_admin_url: str) -> Iterator[str]:
    """One migrated database for the session; tests empty its tables before use."""
    with pg_database(pg_admin_url) as url:
        Warehouse.from_url(url).close()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "callqc.db"
    wh = Warehouse.from_url(f"sqlite:///{path}")
    with wh.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    wh.close()
    return path


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the parametrized backend."""
    if backend == "sqlite":
        path = tmp_path / "data" / "callqc.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_session_url")
    _truncate_all(url)
    return url


@pytest.fixture
def fresh_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database that has never been migrated."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'callqc.db'}"
        return
    with pg_database(request.getfixturevalue("pg_admin_url"), prefix="callqc_fresh") as url:
        yield url


@pytest.fixture
def wh(db_url: str) -> Iterator[Warehouse]:
    w = Warehouse.from_url(db_url)
    yield w
    w.close()


@pytest.fixture
def run_id(wh: Warehouse) -> str:
    return wh.start_run({"test": True}, "test")
