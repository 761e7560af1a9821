"""Warehouse throughput: write and read N calls' rows on SQLite, PostgreSQL and Parquet.

    python -m bench.warehouse [--calls 10000] [--postgres-url URL | --no-postgres]

Each call is synthetic (``warehouse.testing.dummy_call_result``): ~20 turns, ~300 words, metrics,
3 rule results, 2 scores and a QA score. Only the storage calls are timed (making the records is not).
SQL writes go through ``Warehouse.save_call`` (one transaction per call, as the pipeline does); reads
through ``Warehouse.load_call`` on a random sample and the analyst queries over everything. Parquet is
written in batches (``BatchWriter``, then ``compact``), and per call on a sample for comparison.
PostgreSQL gets a database of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from qc.records import CallResult
from warehouse import Warehouse, parquet, queries
from warehouse.testing import dummy_call_result

DEFAULT_PG = os.environ.get("QC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class Row:
    backend: str
    operation: str
    calls: int
    rows: int
    seconds: float

    def cells(self) -> list[str]:
        s = max(self.seconds, 1e-9)
        return [
            self.backend,
            self.operation,
            f"{self.calls:,}",
            f"{self.rows:,}",
            f"{self.seconds:.2f}",
            f"{self.calls / s:,.0f}",
            f"{self.rows / s:,.0f}",
        ]


def rows_in(r: CallResult) -> int:
    return 1 + len(r.turns) + len(r.words) + 1 + len(r.rule_results) + len(r.scores) + (1 if r.qa else 0)


def make_call(i: int, turns: int, words: int) -> CallResult:
    return dummy_call_result(
        i, n_turns=turns, n_words=words, agent_id=f"agent-{i % 50}", qa_passed=i % 7 != 0, failed_rules=i % 3
    )


def timed_writes(n: int, turns: int, words: int, write: Callable[[CallResult], None]) -> tuple[float, int]:
    seconds, rows = 0.0, 0
    for i in range(n):
        r = make_call(i, turns, words)
        t0 = time.perf_counter()
        write(r)
        seconds += time.perf_counter() - t0
        rows += rows_in(r)
    return seconds, rows


def bench_sql(
    name: str, url: str, args: argparse.Namespace, out: list[Row], progress: Callable[[str], None]
) -> None:
    wh = Warehouse.from_url(url)
    run_id = wh.start_run({"bench": True}, "bench")
    progress(f"{name}: writing {args.calls} calls")
    seconds, rows = timed_writes(args.calls, args.turns, args.words, lambda r: wh.save_call(r, run_id))
    out.append(Row(name, "write save_call (1 tx/call)", args.calls, rows, seconds))

    sample = random.Random(0).sample(range(args.calls), min(args.read_sample, args.calls))
    ids = [make_call(i, 0, 0).call_id for i in sample]
    t0 = time.perf_counter()
    loaded = [wh.load_call(cid) for cid in ids]
    seconds = time.perf_counter() - t0
    out.append(Row(name, "read load_call (sample)", len(ids), sum(map(rows_in, loaded)), seconds))

    t0 = time.perf_counter()
    daily = queries.agent_daily(wh)
    out.append(Row(name, "query v_agent_daily (all)", args.calls, len(daily), time.perf_counter() - t0))
    t0 = time.perf_counter()
    scores = queries.call_scores(wh, queries.CallFilter(date_from=date(2024, 6, 1), date_to=date(2024, 6, 7)), label="sentiment")
    out.append(
        Row(
            name,
            "query v_call_scores (1 week)",
            scores.call_id.nunique(),
            len(scores),
            time.perf_counter() - t0,
        )
    )
    t0 = time.perf_counter()
    flagged = queries.flagged_calls(wh)
    out.append(Row(name, "query v_flagged_calls (all)", args.calls, len(flagged), time.perf_counter() - t0))
    t0 = time.perf_counter()
    with wh.engine.connect() as conn:
        n_words = conn.execute(sa.text("SELECT COUNT(*), AVG(probability) FROM words")).one()[0]
    out.append(Row(name, "scan words (COUNT, AVG)", args.calls, n_words, time.perf_counter() - t0))
    wh.close()


def bench_parquet(
    root: Path, args: argparse.Namespace, out: list[Row], progress: Callable[[str], None]
) -> None:
    progress(f"parquet: writing {args.calls} calls in batches of {args.parquet_batch}")
    writer = parquet.BatchWriter(root, max_calls=args.parquet_batch)
    seconds, rows = timed_writes(args.calls, args.turns, args.words, writer.add)
    t0 = time.perf_counter()
    writer.close()
    seconds += time.perf_counter() - t0
    out.append(Row("parquet", f"write BatchWriter ({args.parquet_batch}/batch)", args.calls, rows, seconds))
    files = sum(parquet.file_counts(root).values())
    t0 = time.perf_counter()
    report = parquet.compact(root)
    out.append(
        Row(
            "parquet",
            f"compact ({files} -> {files - report.files_before + report.files_after} files)",
            args.calls,
            rows,
            time.perf_counter() - t0,
        )
    )

    single = min(args.per_call_sample, args.calls)
    other = root.parent / "parquet-per-call"
    progress(f"parquet: writing {single} calls one by one")
    seconds, rows1 = timed_writes(single, args.turns, args.words, lambda r: parquet.write_call(r, other))
    out.append(Row("parquet", "write write_call (1 file/call/dataset)", single, rows1, seconds))
    shutil.rmtree(other, ignore_errors=True)

    t0 = time.perf_counter()
    table = parquet.read_table(root, "words")
    out.append(
        Row(
            "parquet",
            "scan words (pyarrow, all columns)",
            args.calls,
            table.num_rows,
            time.perf_counter() - t0,
        )
    )
    del table
    import duckdb

    t0 = time.perf_counter()
    n = duckdb.sql(
        f"SELECT COUNT(*), AVG(probability) FROM read_parquet('{root}/words/**/*.parquet', hive_partitioning = true)"
    ).fetchall()[0][0]
    out.append(Row("parquet", "scan words (DuckDB COUNT, AVG)", args.calls, n, time.perf_counter() - t0))
    t0 = time.perf_counter()
    calls = parquet.read_table(root, "calls", date_from=date(2024, 6, 1), date_to=date(2024, 6, 7))
    out.append(
        Row(
            "parquet",
            "read calls (1 week, pyarrow)",
            calls.num_rows,
            calls.num_rows,
            time.perf_counter() - t0,
        )
    )


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    name = f"callqc_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def format_table(rows: list[Row]) -> str:
    header = ["backend", "operation", "calls", "rows", "seconds", "calls/s", "rows/s"]
    cells = [header] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}

    def line(c: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                v.rjust(w) if i in right else v.ljust(w)
                for i, (v, w) in enumerate(zip(c, widths, strict=True))
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), sep, *(line(r.cells()) for r in rows)])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--postgres-url", default=DEFAULT_PG, help="server to create a scratch database on")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--read-sample", type=int, default=1000, help="calls read back with load_call")
    ap.add_argument("--parquet-batch", type=int, default=500)
    ap.add_argument(
        "--per-call-sample", type=int, default=500, help="calls written with write_call one by one"
    )
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="callqc-bench-", dir=args.workdir))
    rows: list[Row] = []
    try:
        bench_sql("sqlite", f"sqlite:///{work / 'callqc.db'}", args, rows, progress)
        if not args.no_postgres:
            with pg_database(args.postgres_url) as url:
                bench_sql("postgresql", url, args, rows, progress)
        bench_parquet(work / "parquet", args, rows, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nwarehouse bench: {args.calls:,} calls, {args.turns} turns and {args.words} words each\n")
    print(format_table(rows))


if __name__ == "__main__":
    main()
