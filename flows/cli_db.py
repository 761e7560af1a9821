"""``callqc db upgrade|current|compact`` and ``callqc export``: thin shells over :mod:`warehouse`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer


def _settings():  # type: ignore[no-untyped-def]
    from qc.config import get_settings

    return get_settings()


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def register(app: typer.Typer) -> None:
    db = typer.Typer(no_args_is_help=True, help="The warehouse database (schema migrations, Parquet upkeep).")

    @db.command("upgrade")
    def upgrade() -> None:
        """Migrate the database to the newest schema (also done automatically on first use)."""
        from warehouse import Warehouse

        settings = _settings()
        with Warehouse.open(settings, migrate=False) as wh:
            before = wh.current_revision()
            after = wh.upgrade()
        where = settings.public_dict()["database_url"]
        typer.echo(f"{where}: {before or 'empty'} -> {after}" if before != after else f"{where}: at {after}")

    @db.command("current")
    def current() -> None:
        """Show the database's schema revision and the newest this callqc knows."""
        from warehouse import Warehouse
        from warehouse import db as wdb

        settings = _settings()
        with Warehouse.open(settings, migrate=False) as wh:
            rev = wh.current_revision()
        head = wdb.head_revision()
        state = "up to date" if rev == head else ("not migrated" if rev is None else "behind")
        typer.echo(f"{settings.public_dict()['database_url']}: revision {rev or '-'} (head {head}, {state})")

    @db.command("compact")
    def compact(
        min_files: int = typer.Option(
            2, "--min-files", min=2, help="Merge partitions with at least this many files."
        ),
    ) -> None:
        """Merge the Parquet files of each date partition into one file per dataset."""
        from warehouse import parquet

        settings = _settings()
        report = parquet.compact(settings.parquet_dir, min_files=min_files)
        typer.echo(
            f"{settings.parquet_dir}: compacted {report.partitions} partitions, "
            f"{report.files_before} files -> {report.files_after}"
        )

    app.add_typer(db, name="db")

    @app.command("export")
    def export(
        date_from: str = typer.Option(..., "--from", help="First call date (YYYY-MM-DD), inclusive."),
        date_to: str = typer.Option(..., "--to", help="Last call date (YYYY-MM-DD), inclusive."),
        out: Path = typer.Option(..., "--out", help="Directory to write the Parquet datasets into."),  # noqa: B008
    ) -> None:
        """Write the Parquet datasets (calls, turns, words, metrics, scores) of a date range to OUT."""
        from warehouse import parquet

        start, end = _date(date_from), _date(date_to)
        if start > end:
            raise typer.BadParameter(f"--from {start} is after --to {end}")
        settings = _settings()
        counts = parquet.export_range(settings.parquet_dir, out, start, end)
        typer.echo(f"exported {start}..{end} to {out}")
        for name, rows in counts.items():
            typer.echo(f"  {name:<8} {rows:>10} rows")
