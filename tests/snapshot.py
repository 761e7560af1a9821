"""The contents of a warehouse (SQL tables and Parquet datasets) as comparable, sorted rows.

Columns that name a run or a moment (run ids, timestamps, stage timings) differ between two runs that
stored the same calls, so they are left out; everything else must be equal, row for row.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import sqlalchemy as sa

from qc.config import Settings
from warehouse import parquet

SQL_TABLES = ("calls", "turns", "words", "conversation_metrics", "rule_results", "qa_scores", "scores", "rejections")
VOLATILE = {"run_id", "processed_at", "first_processed_at", "timings", "first_seen_at", "last_seen_at",
            "first_run_id", "last_run_id", "written_at", "times_seen"}


def _sortable(row: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


def sql_rows(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url)
    out: dict[str, list[tuple]] = {}
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=SQL_TABLES)
        with engine.connect() as conn:
            for name in SQL_TABLES:
                table = meta.tables[name]
                cols = [c for c in table.columns if c.name not in VOLATILE]
                rows = [tuple(r) for r in conn.execute(sa.select(*cols))]
                out[name] = sorted(rows, key=_sortable)
    finally:
        engine.dispose()
    return out


def parquet_rows(root: Path) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for name in parquet.DATASETS:
        if not (root / name).exists():
            out[name] = []
            continue
        table = ds.dataset(root / name, format="parquet", partitioning="hive").to_table()
        table = table.select([c for c in table.column_names if c not in VOLATILE])
        out[name] = sorted((tuple(r.values()) for r in table.to_pylist()), key=_sortable)
    return out


def snapshot(cfg: Settings) -> dict[str, dict[str, list[tuple]]]:
    return {"sql": sql_rows(cfg.db_url), "parquet": parquet_rows(cfg.parquet_dir)}


def stray_files(root: Path) -> list[str]:
    """Files in the Parquet store that are neither data files nor the store's bookkeeping: temporaries
    and anything a crashed writer left behind (an empty journal is fine)."""
    stray = []
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        rel = path.relative_to(root)
        if rel.parts[0] == "_callqc" and rel.parts[1] in ("lock", "index"):
            continue
        if path.suffix == ".parquet" and not path.name.startswith("."):
            continue
        stray.append(str(rel))
    return sorted(stray)


def assert_same(a: dict, b: dict) -> None:
    """Equal snapshots, with a readable first difference."""
    for kind in ("sql", "parquet"):
        for name in a[kind]:
            left, right = a[kind][name], b[kind][name]
            assert len(left) == len(right), f"{kind}.{name}: {len(left)} rows vs {len(right)}"
            for i, (x, y) in enumerate(zip(left, right)):
                assert x == y, f"{kind}.{name} row {i} differs:\n{x}\n{y}"
