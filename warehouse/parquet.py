"""Parquet datasets of processed calls: ``calls``, ``turns``, ``words``, ``metrics``, ``scores``,
``turn_scores``.

Layout (hive partitions by call date, readable by pandas, pyarrow and DuckDB)::

    <root>/<dataset>/call_date=YYYY-MM-DD/part-<batch>.parquet
    <root>/_callqc/lock            writers hold an exclusive flock; readers a shared one
    <root>/_callqc/index/<xx>.json call id -> file it lives in (xx: first two hex chars of the id)
    <root>/_callqc/journal/        intent and commit records of the write in progress

``call_date`` is the UTC date of the call's ``started_at``; a call without one is filed under the UTC
date it was first written, and stays there when it is rewritten. The partition column is not stored in
the files; readers get it from the directory name (``date32`` / DuckDB ``DATE``).

All rows of one call live in files of the same relative name in every dataset (``call_date=D/part-B``).
A write (:func:`write_calls`) puts each batch into one new file per dataset and partition, and removes
the calls' previous rows by rewriting the files the index says they were in, so a reprocessed call has
exactly one copy, also when its date changed. :func:`compact` merges a partition's files into one.

Crash safety: every file is first written under a hidden temporary name in its final directory
(``.part-<batch>.parquet.<tx>.tmp``: dot-prefixed and not ``*.parquet``, so pyarrow, pandas and DuckDB
globs never see it). Only when all of a write's files are complete is a commit record written
(atomically, by rename); then the temporaries are renamed over their final names and replaced files are
deleted. A writer killed before the commit leaves only temporaries, which the next writer (or
:func:`recover`) deletes; one killed after it is rolled forward by the next writer or reader, so a
call's rows are published all together or not at all. With ``durable=True`` files and directories are
also fsynced, which extends the guarantee from process crashes to power loss. The lock, journal and
index are in :mod:`warehouse.filestore`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from qc.records import CallResult
from warehouse.coltypes import to_utc_aware
from warehouse.filestore import META_DIR, CallIndex, Transaction, bucket_of, lock, recover, recover_locked
from warehouse.schema import metric_fields

SCHEMA_VERSION = 1
DATASETS: tuple[str, ...] = ("calls", "turns", "words", "metrics", "scores", "turn_scores")
PARTITION = "call_date"
_COMPRESSION = "zstd"

_TS = pa.timestamp("us", tz="UTC")
_FIELDS: dict[str, list[pa.Field]] = {
    "calls": [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("external_id", pa.string(), nullable=False),
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("agent_id", pa.string()),
        pa.field("queue", pa.string()),
        pa.field("started_at", _TS),
        pa.field("duration", pa.float64(), nullable=False),
        pa.field("layout", pa.string(), nullable=False),
        pa.field("channels", pa.int16(), nullable=False),
        pa.field("sample_rate", pa.int32(), nullable=False),
        pa.field("agent_channel", pa.int16()),
        pa.field("role_confidence", pa.float64()),
        pa.field("role_strategy", pa.string()),
        pa.field("layout_reason", pa.string()),
        pa.field("quality_flags", pa.string()),  # JSON list: what the consistency guard found; [] when fine
        pa.field("qa_score", pa.float64()),
        pa.field("qa_passed", pa.bool_()),
        pa.field("qa_breakdown", pa.string()),  # JSON object: item -> points lost
        pa.field("timings", pa.string()),  # JSON object: stage -> seconds
        pa.field("written_at", _TS, nullable=False),
    ],
    "turns": [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("channel", pa.int16(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("overlap", pa.bool_(), nullable=False),
        pa.field("sentiment", pa.float64()),
    ],
    "words": [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("probability", pa.float64(), nullable=False),
        pa.field("channel", pa.int16(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("overlap", pa.bool_(), nullable=False),
    ],
    "metrics": [pa.field("call_id", pa.string(), nullable=False)]
    + [
        pa.field(name, pa.int64() if kind is int else pa.float64(), nullable=nullable)
        for name, kind, nullable in metric_fields()
    ],
    "scores": [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("probabilities", pa.string(), nullable=False),  # JSON object: value -> probability
    ],
    "turn_scores": [  # of the model version that scored the call last
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),  # the turn's seq in ``turns``
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("probabilities", pa.string(), nullable=False),  # JSON object: value -> probability
    ],
}


def arrow_schema(dataset: str) -> pa.Schema:
    """The declared schema of a dataset's files (without the ``call_date`` partition column).

    Its metadata carries ``schema_version`` (bumped on an incompatible change; a column added later
    reads as null from older files) and ``dataset``.
    """
    if dataset not in _FIELDS:
        raise ValueError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    meta = {"schema_version": str(SCHEMA_VERSION), "dataset": dataset, "producer": "callqc"}
    return pa.schema(_FIELDS[dataset], metadata=meta)


def partitioning() -> ds.Partitioning:
    return ds.partitioning(pa.schema([pa.field(PARTITION, pa.date32())]), flavor="hive")


# --- records -> Arrow -----------------------------------------------------------------------------
def _json(obj: dict[str, float]) -> str:
    return json.dumps({k: float(v) for k, v in obj.items()}, sort_keys=True)


def _rows(dataset: str, results: Sequence[CallResult], written_at: datetime) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {f.name: [] for f in _FIELDS[dataset]}

    def add(**values: Any) -> None:
        for k, v in values.items():
            cols[k].append(v)

    for r in results:
        cid = r.call_id
        if dataset == "calls":
            c = r.call
            add(
                call_id=cid,
                external_id=c.external_id,
                source_path=str(c.source_path),
                agent_id=c.agent_id,
                queue=c.queue,
                started_at=to_utc_aware(c.started_at),
                duration=float(c.duration),
                layout=c.layout,
                channels=c.channels,
                sample_rate=c.sample_rate,
                agent_channel=c.agent_channel,
                role_confidence=c.role_confidence,
                role_strategy=c.role_strategy,
                layout_reason=c.layout_reason,
                quality_flags=json.dumps(list(c.quality_flags)),
                qa_score=r.qa.score if r.qa else None,
                qa_passed=r.qa.passed if r.qa else None,
                qa_breakdown=_json(r.qa.breakdown) if r.qa else None,
                timings=_json(r.timings),
                written_at=written_at,
            )
        elif dataset == "turns":
            for i, t in enumerate(r.turns):
                add(
                    call_id=cid,
                    seq=i,
                    start_s=t.start,
                    end_s=t.end,
                    channel=t.channel,
                    speaker=t.speaker,
                    role=t.role,
                    text=t.text,
                    overlap=t.overlap,
                    sentiment=t.sentiment,
                )
        elif dataset == "words":
            for i, w in enumerate(r.words):
                add(
                    call_id=cid,
                    seq=i,
                    start_s=w.start,
                    end_s=w.end,
                    text=w.text,
                    probability=w.probability,
                    channel=w.channel,
                    speaker=w.speaker,
                    role=w.role,
                    overlap=w.overlap,
                )
        elif dataset == "metrics":
            add(call_id=cid, **{f.name: getattr(r.metrics, f.name) for f in _FIELDS["metrics"][1:]})
        elif dataset == "scores":
            for s in r.scores:
                add(
                    call_id=cid,
                    label=s.label,
                    model_version=s.model_version,
                    value=s.value,
                    confidence=float(s.confidence),
                    probabilities=_json(s.probabilities),
                )
        elif dataset == "turn_scores":
            for t in r.turn_scores:
                add(
                    call_id=cid,
                    seq=t.turn,
                    start_s=float(t.start),
                    end_s=float(t.end),
                    role=t.role,
                    label=t.label,
                    model_version=t.model_version,
                    value=t.value,
                    confidence=float(t.confidence),
                    probabilities=_json(t.probabilities),
                )
    return cols


def to_arrow(dataset: str, results: Sequence[CallResult], written_at: datetime | None = None) -> pa.Table:
    """The rows of ``results`` in ``dataset``, with the declared schema."""
    written_at = written_at or datetime.now(UTC)
    return pa.table(_rows(dataset, results, written_at), schema=arrow_schema(dataset))


# --- files ------------------------------------------------------------------------------------------
def _stage_table(tx: Transaction, final: Path, table: pa.Table) -> None:
    tx.write(final, lambda tmp: _write_parquet(table, tmp))


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression=_COMPRESSION)


def _ensure_index(root: Path) -> None:
    """Build the index from the files when a store has data but no index (e.g. copied by hand)."""
    if (root / META_DIR / "index").is_dir() or not (root / "calls").is_dir():
        return
    _rebuild_index_locked(root)


def _rebuild_index_locked(root: Path) -> dict[str, list[str]]:
    mapping: dict[str, str] = {}
    duplicates: dict[str, list[str]] = {}
    for path in sorted((root / "calls").glob(f"{PARTITION}=*/*.parquet")):
        rel = str(path.relative_to(root / "calls"))
        for cid in pq.ParquetFile(path).read(columns=["call_id"]).column("call_id").to_pylist():
            if cid in mapping and mapping[cid] != rel:
                duplicates.setdefault(cid, [mapping[cid]]).append(rel)
            mapping[cid] = rel
    index_dir = root / META_DIR / "index"
    tx = Transaction(root, durable=False)
    try:
        buckets: dict[str, dict[str, str]] = {f"{i:02x}": {} for i in range(256)}
        for cid, rel in mapping.items():
            buckets.setdefault(bucket_of(cid), {})[cid] = rel
        for name, entries in buckets.items():
            if entries or (index_dir / f"{name}.json").exists():
                tx.write_json(index_dir / f"{name}.json", entries)
        index_dir.mkdir(parents=True, exist_ok=True)
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    return duplicates


def rebuild_index(root: Path | str) -> dict[str, list[str]]:
    """Rebuild the call index from the ``calls`` files. Returns calls found in more than one file
    (call id -> files); an empty dict means every call has exactly one copy."""
    root = Path(root)
    with lock(root, exclusive=True):
        recover_locked(root)
        return _rebuild_index_locked(root)


# --- writing --------------------------------------------------------------------------------------
def _partition_of(relpath: str) -> str:
    return relpath.split("/", 1)[0]


def _date_of(relpath: str) -> date:
    return date.fromisoformat(_partition_of(relpath).removeprefix(f"{PARTITION}="))


def _drop_calls(root: Path, tx: Transaction, relpath: str, call_ids: set[str]) -> None:
    """Stage rewriting ``relpath`` in every dataset without the rows of ``call_ids``."""
    value_set = pa.array(sorted(call_ids), pa.string())
    for name in DATASETS:
        path = root / name / relpath
        if not path.exists():
            continue
        table = pq.ParquetFile(path).read()
        keep = table.filter(pc.invert(pc.is_in(table.column("call_id"), value_set=value_set)))
        if keep.num_rows == table.num_rows:
            continue
        if keep.num_rows:
            _stage_table(tx, path, keep)
        else:
            tx.remove(path)


def write_calls(
    results: Sequence[CallResult],
    root: Path | str,
    *,
    durable: bool = False,
    today: date | None = None,
) -> list[str]:
    """Write a batch of calls to every dataset, replacing any earlier copy of them; atomic as a whole.

    Each (dataset, partition) of the batch gets one new file. Returns the relative files written
    (``call_date=.../part-....parquet``). ``today`` (UTC) is the partition of calls without a start
    time that the store has not seen before.
    """
    root = Path(root)
    latest = {r.call_id: r for r in results}  # the same call twice in a batch: the last one wins
    if not latest:
        return []
    today = today or datetime.now(UTC).date()
    written_at = datetime.now(UTC)
    with lock(root, exclusive=True):
        recover_locked(root)
        _ensure_index(root)
        index = CallIndex(root)
        old = {cid: rel for cid in latest if (rel := index.get(cid)) is not None}
        by_date: dict[date, list[CallResult]] = {}
        for cid, r in latest.items():
            started = to_utc_aware(r.call.started_at)
            if started is not None:
                when = started.date()
            elif cid in old:
                when = _date_of(old[cid])  # undated: stays where it was first filed
            else:
                when = today
            by_date.setdefault(when, []).append(r)
        batch = uuid.uuid4().hex[:16]
        tx = Transaction(root, durable)
        try:
            stale: dict[str, set[str]] = {}
            for cid, rel in old.items():
                stale.setdefault(rel, set()).add(cid)
            for rel, cids in sorted(stale.items()):
                _drop_calls(root, tx, rel, cids)
            written = []
            for when, group in sorted(by_date.items()):
                rel = f"{PARTITION}={when.isoformat()}/part-{batch}.parquet"
                for name in DATASETS:
                    table = to_arrow(name, group, written_at)
                    if table.num_rows:
                        _stage_table(tx, root / name / rel, table)
                for r in group:
                    index.set(r.call_id, rel)
                written.append(rel)
            index.stage(tx)
            tx.commit()
        except BaseException:
            tx.abort()
            raise
    return written


def write_call(result: CallResult, root: Path | str, *, durable: bool = False) -> str:
    """Write one call to every dataset (see :func:`write_calls`); returns the relative file name."""
    return write_calls([result], root, durable=durable)[0]


def delete_calls(call_ids: Iterable[str], root: Path | str, *, durable: bool = False) -> int:
    """Remove calls from every dataset; returns how many were present."""
    root = Path(root)
    ids = set(call_ids)
    with lock(root, exclusive=True):
        recover_locked(root)
        _ensure_index(root)
        index = CallIndex(root)
        stale: dict[str, set[str]] = {}
        for cid in ids:
            rel = index.get(cid)
            if rel is not None:
                stale.setdefault(rel, set()).add(cid)
                index.set(cid, None)
        if not stale:
            return 0
        tx = Transaction(root, durable)
        try:
            for rel, cids in sorted(stale.items()):
                _drop_calls(root, tx, rel, cids)
            index.stage(tx)
            tx.commit()
        except BaseException:
            tx.abort()
            raise
    return sum(len(c) for c in stale.values())


def delete_call(call_id: str, root: Path | str, *, durable: bool = False) -> bool:
    """Remove one call from every dataset; True if it was there."""
    return delete_calls([call_id], root, durable=durable) > 0


def known_call_ids(root: Path | str, call_ids: Iterable[str]) -> set[str]:
    """The subset of ``call_ids`` present in the datasets (from the index; no data file is read).

    An incremental run should skip a call only if both this and ``Warehouse.known_call_ids`` know it:
    a run killed between its SQL and its Parquet write then redoes that call."""
    root = Path(root)
    recover(root, blocking=False)
    with lock(root, exclusive=False):
        if not (root / META_DIR / "index").is_dir():  # a store copied without its index: read the files
            if not (root / "calls").is_dir():
                return set()
            present = {
                cid
                for p in (root / "calls").glob(f"{PARTITION}=*/*.parquet")
                for cid in pq.ParquetFile(p).read(columns=["call_id"]).column("call_id").to_pylist()
            }
            return set(call_ids) & present
        index = CallIndex(root)
        return {cid for cid in call_ids if index.get(cid) is not None}


class BatchWriter:
    """Buffers results and writes them with :func:`write_calls` every ``max_calls`` calls and on
    :meth:`close` (or leaving the ``with`` block without an exception). One file per dataset and
    partition per flush instead of per call: much faster than :func:`write_call` in a loop.
    Results still buffered when the process dies are lost; see :func:`known_call_ids`."""

    def __init__(self, root: Path | str, max_calls: int = 200, *, durable: bool = False):
        self.root = Path(root)
        self.max_calls = max_calls
        self.durable = durable
        self._buffer: list[CallResult] = []
        self.written = 0

    def add(self, result: CallResult) -> None:
        self._buffer.append(result)
        if len(self._buffer) >= self.max_calls:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            write_calls(self._buffer, self.root, durable=self.durable)
            self.written += len(self._buffer)
            self._buffer = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.flush()


@dataclass(frozen=True)
class CompactReport:
    partitions: int  # partitions rewritten
    files_before: int  # files in those partitions (all datasets)
    files_after: int


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: a column missing from an older file reads as null."""
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _read_files(paths: Sequence[Path], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([_conform(pq.ParquetFile(p).read(), schema) for p in paths])


def _partition_dirs(root: Path) -> dict[str, list[Path]]:
    """Partition name -> its directories across datasets."""
    out: dict[str, list[Path]] = {}
    for name in DATASETS:
        base = root / name
        if base.is_dir():
            for d in base.iterdir():
                if d.is_dir() and d.name.startswith(f"{PARTITION}="):
                    out.setdefault(d.name, []).append(d)
    return out


def _data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith((".", "_")))


def compact(
    root: Path | str,
    *,
    min_files: int = 2,
    date_from: date | None = None,
    date_to: date | None = None,
    durable: bool = False,
) -> CompactReport:
    """Merge each partition that has at least ``min_files`` files per dataset into one file per
    dataset (rows ordered by call id). One atomic write per partition; readers see either the old
    files or the merged one."""
    root = Path(root)
    parts = before = after = 0
    with lock(root, exclusive=True):
        recover_locked(root)
        _ensure_index(root)
        for part, dirs in sorted(_partition_dirs(root).items()):
            day = date.fromisoformat(part.removeprefix(f"{PARTITION}="))
            if (date_from and day < date_from) or (date_to and day > date_to):
                continue
            files = {d.parent.name: _data_files(d) for d in dirs}
            if max((len(f) for f in files.values()), default=0) < min_files:
                continue
            rel = f"{part}/part-{uuid.uuid4().hex[:16]}.parquet"
            index = CallIndex(root)
            tx = Transaction(root, durable)
            try:
                for name, paths in sorted(files.items()):
                    if not paths:
                        continue
                    table = _read_files(paths, arrow_schema(name))
                    sort_keys = [("call_id", "ascending")] + (
                        [("seq", "ascending")] if "seq" in table.column_names else []
                    )
                    table = table.sort_by(sort_keys)
                    _stage_table(tx, root / name / rel, table)
                    for p in paths:
                        tx.remove(p)
                    if name == "calls":
                        for cid in table.column("call_id").to_pylist():
                            index.set(cid, rel)
                    before += len(paths)
                    after += 1
                index.stage(tx)
                tx.commit()
            except BaseException:
                tx.abort()
                raise
            parts += 1
    return CompactReport(partitions=parts, files_before=before, files_after=after)


# --- reading --------------------------------------------------------------------------------------
def dataset(root: Path | str, name: str) -> ds.Dataset:
    """A pyarrow dataset over ``<root>/<name>`` with the declared schema plus ``call_date`` (date32).

    Lazy: for a consistent snapshot while writers may be running, use :func:`read_table`.
    """
    base = Path(root) / name
    schema = arrow_schema(name).append(pa.field(PARTITION, pa.date32()))
    if not base.is_dir():
        return ds.dataset(pa.table({f.name: pa.array([], f.type) for f in schema}, schema=schema))
    return ds.dataset(base, format="parquet", schema=schema, partitioning=partitioning())


def read_table(
    root: Path | str,
    name: str,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    columns: list[str] | None = None,
    filter: ds.Expression | None = None,
) -> pa.Table:
    """Rows of a dataset in an inclusive date range, read under the store's shared lock (so a
    concurrent write or compaction is seen entirely or not at all)."""
    root = Path(root)
    recover(root, blocking=False)
    expr = filter
    if date_from is not None:
        cond = ds.field(PARTITION) >= pa.scalar(date_from, pa.date32())
        expr = cond if expr is None else expr & cond
    if date_to is not None:
        cond = ds.field(PARTITION) <= pa.scalar(date_to, pa.date32())
        expr = cond if expr is None else expr & cond
    with lock(root, exclusive=False):
        return dataset(root, name).to_table(columns=columns, filter=expr)


def read_pandas(root: Path | str, name: str, **kwargs: Any) -> Any:
    """:func:`read_table` as a pandas DataFrame."""
    return read_table(root, name, **kwargs).to_pandas()


def export_range(
    root: Path | str,
    out: Path | str,
    date_from: date,
    date_to: date,
    *,
    datasets: Sequence[str] = DATASETS,
    progress: Callable[[str, str, int], None] | None = None,
) -> dict[str, int]:
    """Copy the partitions from ``date_from`` to ``date_to`` (inclusive) into ``out`` with the same
    layout, one file per dataset and partition (temp name, then rename; a partition exported before
    is replaced). Returns rows written per dataset. ``progress(dataset, partition, rows)`` is called
    after each partition."""
    root, out = Path(root), Path(out)
    if date_from > date_to:
        raise ValueError(f"empty range: {date_from} is after {date_to}")
    recover(root, blocking=False)
    counts = {name: 0 for name in datasets}
    with lock(root, exclusive=False):
        for name in datasets:
            schema = arrow_schema(name)
            base = root / name
            parts = sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
            for d in parts:
                if not d.name.startswith(f"{PARTITION}="):
                    continue
                day = date.fromisoformat(d.name.removeprefix(f"{PARTITION}="))
                if not date_from <= day <= date_to:
                    continue
                files = _data_files(d)
                if not files:
                    continue
                table = _read_files(files, schema)
                target_dir = out / name / d.name
                target_dir.mkdir(parents=True, exist_ok=True)
                final = target_dir / "part-0.parquet"
                tmp = target_dir / f".part-0.parquet.{uuid.uuid4().hex[:12]}.tmp"
                _write_parquet(table, tmp)
                os.replace(tmp, final)
                for stale in _data_files(target_dir):
                    if stale != final:
                        stale.unlink()
                counts[name] += table.num_rows
                if progress:
                    progress(name, d.name, table.num_rows)
    return counts


def file_counts(root: Path | str) -> dict[str, int]:
    """Data files per dataset (to decide when to :func:`compact`)."""
    root = Path(root)
    return {name: len(list((root / name).glob(f"{PARTITION}=*/*.parquet"))) for name in DATASETS}


def remove_store(root: Path | str) -> None:
    """Delete every dataset and the store's bookkeeping under ``root`` (tests, rebuilds)."""
    root = Path(root)
    with lock(root, exclusive=True):
        for name in DATASETS:
            shutil.rmtree(root / name, ignore_errors=True)
        shutil.rmtree(root / META_DIR / "index", ignore_errors=True)
        shutil.rmtree(root / META_DIR / "journal", ignore_errors=True)
