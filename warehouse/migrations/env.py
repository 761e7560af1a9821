"""Alembic environment for the callqc warehouse.

Normally run through :func:`warehouse.db.upgrade` (``callqc db upgrade``, or automatically by
``Warehouse.open``), which hands over a connection that already holds the migration lock and an open
transaction. Run directly (``alembic -c warehouse/migrations/alembic.ini ...``) it connects to
``sqlalchemy.url`` from the ini file, or to the callqc settings' database (``QC_*`` environment).
"""

from __future__ import annotations

from alembic import context

from warehouse.schema import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite via copy-and-move
        compare_type=True,
        # One transaction for the whole upgrade, on SQLite too (its DDL is transactional once
        # pysqlite's own transaction handling is off, which warehouse.db does).
        transactional_ddl=True,
        transaction_per_migration=False,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from warehouse.db import create_engine_for

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from qc.config import get_settings

        url = get_settings().db_url
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
