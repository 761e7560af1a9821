"""The engine and sessions every part of the :class:`warehouse.store.Warehouse` works through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import warehouse.db as db

if TYPE_CHECKING:

    from qc.config import Settings

IN_CHUNK = 500  # ids per IN (...) list: well under every backend's bound-parameter limit


class StoreBase:
    """The SQL side of the warehouse: one engine, short sessions. Open with :meth:`open`; one
    instance per process."""
    """The SQL side of the warehouse. Open with :meth:`open`; one instance per process."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        self._reads = sessionmaker(bind=engine, expire_on_commit=False)
        self._writes = sessionmaker(bind=engine.execution_options(**db.WRITE), expire_on_commit=False)
        self._call_upsert_stmt: Any = None

    # --- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Self:
        """The warehouse at ``settings.db_url``, migrated to the newest schema unless ``migrate=False``."""
        return cls.from_url(settings.db_url, migrate=migrate)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Self:
        wh = cls(db.create_engine_for(url, **engine_kwargs))
        if migrate and not db.is_at_head(wh.engine):
            wh.upgrade()
        return wh

    def upgrade(self) -> str | None:
        """Migrate to the newest schema (what ``callqc db upgrade`` does); returns the revision."""
        return db.upgrade(self.engine)

    def current_revision(self) -> str | None:
        return db.current_revision(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._writes.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    # --- pipeline runs --------------------------------------------------------------------------
