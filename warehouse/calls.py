"""Analysed calls and their children (turns, words, metrics, rules, QA scores, model scores): each
call written and read as a whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qc.records import (
    CallRecord,
    CallResult,
    ConversationMetrics,
    QAScore,
    RuleResult,
    Score,
    Turn,
    TurnScore,
    Word,
)
from warehouse.base import IN_CHUNK, StoreBase
from warehouse.coltypes import to_utc_aware, utcnow
from warehouse.schema import (
    CALL_CHILD_TABLES,
    Call,
    MetricsRow,
    QAScoreRow,
    RuleResultRow,
    TurnScoreRow,
    ScoreRow,
    TurnRow,
    WordRow,
    column_for,
    metric_fields,
)

if TYPE_CHECKING:

    pass

class CallStore(StoreBase):
    def save_call(self, result: CallResult, run_id: str) -> None:
        """Store everything about one call in one transaction, replacing what an earlier run stored.

        The calls row is upserted (``first_processed_at`` and, for a call without ``started_at``, its
        ``call_date`` are kept); turns, words, metrics, rule results and the QA score are deleted and
        inserted again; scores are upserted by (call, label, model version), so scores of other model
        versions stay. Raises ``ValueError`` when a record inside ``result`` names another call.
        """
        _check_schema_gaps()
        _check_result(result)
        call_id = result.call_id
        now = utcnow()
        with self._write() as s:
            # The upsert comes first: on PostgreSQL its row lock serialises two writers of the same call.
            s.execute(self._call_upsert(), _call_row(result, run_id, now))
            for table in CALL_CHILD_TABLES:
                s.execute(sa.delete(table).where(table.c.call_id == call_id))
            conn = s.connection()
            self._bulk_insert(conn, TurnRow.__table__, _TURN_COLS, _turn_tuples(result))
            self._bulk_insert(conn, WordRow.__table__, _WORD_COLS, _word_tuples(result))
            for table, rows in _small_child_rows(result):
                if rows:
                    s.execute(table.insert(), rows)
            self._upsert_scores(s, result.scores, now)
            if rows := _turn_score_rows(result, now):
                s.execute(TurnScoreRow.__table__.insert(), rows)

    def _call_upsert(self) -> Any:
        if self._call_upsert_stmt is None:
            calls = Call.__table__
            stmt = self._insert(calls)
            keep = ("call_id", "first_processed_at")
            updates = {c.name: stmt.excluded[c.name] for c in calls.columns if c.name not in keep}
            # An undated call stays in the day it was first stored (same rule as the Parquet partitions).
            updates["call_date"] = sa.case(
                (stmt.excluded.started_at.is_(None), calls.c.call_date), else_=stmt.excluded.call_date
            )
            self._call_upsert_stmt = stmt.on_conflict_do_update(index_elements=["call_id"], set_=updates)
        return self._call_upsert_stmt

    def _bulk_insert(
        self, conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert many plain rows (no JSON, no datetimes) in the driver's fastest way: COPY on
        PostgreSQL, ``executemany`` on SQLite. Hundreds of words per call make this the hot path."""
        if not rows:
            return
        quote = self.engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        if self.dialect == "postgresql":
            driver = conn.connection.driver_connection
            with driver.cursor() as cur, cur.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)

    def save_calls(self, results: Sequence[CallResult], run_id: str) -> None:
        """:meth:`save_call` for each result, in order (one transaction per call)."""
        for result in results:
            self.save_call(result, run_id)

    def save_scores(self, scores: Sequence[Score]) -> None:
        """Upsert scores by (call, label, model version) without touching anything else.

        Raises ``KeyError`` (and stores nothing) when a score names a call that is not stored.
        """
        if not scores:
            return
        unknown = {s.call_id for s in scores} - self.known_call_ids({s.call_id for s in scores})
        if unknown:
            raise KeyError(f"scores for calls that are not stored: {sorted(unknown)[:10]}")
        with self._write() as s:
            self._upsert_scores(s, scores, utcnow())

    def _upsert_scores(self, s: Session, scores: Sequence[Score], now: datetime) -> None:
        if not scores:
            return
        latest = {(sc.call_id, sc.label, sc.model_version): sc for sc in scores}  # a key twice: last wins
        rows = [
            {
                "call_id": sc.call_id,
                "label": sc.label,
                "model_version": sc.model_version,
                "value": sc.value,
                "confidence": float(sc.confidence),
                "probabilities": {k: float(v) for k, v in sc.probabilities.items()},
                "scored_at": now,
            }
            for sc in latest.values()
        ]
        stmt = self._insert(ScoreRow.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["call_id", "label", "model_version"],
            set_={c: stmt.excluded[c] for c in ("value", "confidence", "probabilities", "scored_at")},
        )
        s.execute(stmt, rows)

    def known_call_ids(self, call_ids: Iterable[str]) -> set[str]:
        """The subset of ``call_ids`` already stored."""
        ids = list(dict.fromkeys(call_ids))
        found: set[str] = set()
        with self._read() as s:
            for i in range(0, len(ids), IN_CHUNK):
                chunk = ids[i : i + IN_CHUNK]
                found.update(s.scalars(sa.select(Call.call_id).where(Call.call_id.in_(chunk))))
        return found

    def call_ids(self, date_from: date | None = None, date_to: date | None = None) -> list[str]:
        """Ids of the stored calls, by call date (``date_from``/``date_to`` inclusive), then id."""
        stmt = sa.select(Call.call_id).order_by(Call.call_date, Call.call_id)
        if date_from is not None:
            stmt = stmt.where(Call.call_date >= date_from)
        if date_to is not None:
            stmt = stmt.where(Call.call_date <= date_to)
        with self._read() as s:
            return list(s.scalars(stmt))

    def call_scores(self, call_id: str) -> tuple[Score, ...]:
        """Every stored score of a call (all model versions), ordered by label and model version."""
        t = ScoreRow.__table__
        with self._read() as s:
            rows = s.execute(sa.select(t).where(t.c.call_id == call_id).order_by(t.c.label, t.c.model_version))
            return tuple(Score(call_id=call_id, label=r.label, model_version=r.model_version, value=r.value,
                               probabilities=dict(r.probabilities)) for r in rows)

    def save_scoring(self, results: Sequence[CallResult]) -> None:
        """Store the classifier scores, turn scores (replacing the calls' earlier ones) and QA score of
        already stored calls (one transaction), leaving
        their transcripts, metrics and rule results as they are: what a re-score changes.

        Raises ``KeyError`` (and stores nothing) when a result names a call that is not stored."""
        if not results:
            return
        for r in results:
            _check_result(r)
        ids = [r.call_id for r in results]
        unknown = set(ids) - self.known_call_ids(ids)
        if unknown:
            raise KeyError(f"calls that are not stored: {sorted(unknown)[:10]}")
        now = utcnow()
        qa_table, turn_table = QAScoreRow.__table__, TurnScoreRow.__table__
        with self._write() as s:
            for r in results:
                self._upsert_scores(s, r.scores, now)
                s.execute(sa.delete(qa_table).where(qa_table.c.call_id == r.call_id))
                if rows := _qa_rows(r):
                    s.execute(qa_table.insert(), rows)
                s.execute(sa.delete(turn_table).where(turn_table.c.call_id == r.call_id))
                if rows := _turn_score_rows(r, now):
                    s.execute(turn_table.insert(), rows)

    def call_date(self, call_id: str) -> date | None:
        """The stored call's partition date (see :class:`warehouse.schema.Call`), None if not stored."""
        with self._read() as s:
            return s.scalar(sa.select(Call.call_date).where(Call.call_id == call_id))

    def role_strategy(self, call_id: str) -> str | None:
        """How the stored call's roles were decided (``calls.role_strategy``), None if not stored."""
        with self._read() as s:
            return s.scalar(sa.select(Call.role_strategy).where(Call.call_id == call_id))

    def load_call(self, call_id: str) -> CallResult:
        """Everything stored about a call, as records. Raises ``KeyError`` if it is not stored.

        ``scores`` holds every stored score of the call (all model versions), ordered by label and
        model version; datetimes come back timezone-aware (UTC).
        """
        with self._read() as s:
            row = s.get(Call, call_id)
            if row is None:
                raise KeyError(f"no call {call_id!r}")

            def rows(table: sa.Table, *order: Any) -> list[sa.Row[Any]]:
                return list(s.execute(sa.select(table).where(table.c.call_id == call_id).order_by(*order)))

            def ordered(table: sa.Table, columns: Sequence[str]) -> list[sa.Row[Any]]:
                stmt = sa.select(*(table.c[c] for c in columns)).where(table.c.call_id == call_id)
                return list(s.execute(stmt.order_by(table.c.seq)))

            # Positional construction, columns in the records' field order (thousands of words a call).
            turns = tuple(Turn(call_id, *r) for r in ordered(TurnRow.__table__, _TURN_FIELD_COLS))
            words = tuple(Word(call_id, *r) for r in ordered(WordRow.__table__, _WORD_FIELD_COLS))
            rules = tuple(
                RuleResult(
                    call_id=call_id,
                    rule_id=r.rule_id,
                    kind=r.kind,
                    passed=r.passed,
                    points_lost=r.points_lost,
                    evidence_text=r.evidence_text,
                    evidence_start=r.evidence_start_s,
                    evidence_end=r.evidence_end_s,
                    detail=r.detail,
                )
                for r in rows(RuleResultRow.__table__, RuleResultRow.seq)
            )
            scores = tuple(
                Score(
                    call_id=call_id,
                    label=r.label,
                    model_version=r.model_version,
                    value=r.value,
                    probabilities=dict(r.probabilities),
                )
                for r in rows(ScoreRow.__table__, ScoreRow.label, ScoreRow.model_version)
            )
            turn_scores = tuple(
                TurnScore(call_id=call_id, turn=r.seq, start=r.start_s, end=r.end_s, role=r.role, label=r.label,
                          model_version=r.model_version, value=r.value, probabilities=dict(r.probabilities))
                for r in rows(TurnScoreRow.__table__, TurnScoreRow.seq, TurnScoreRow.label)
            )
            metric_rows = rows(MetricsRow.__table__)
            metrics = (
                ConversationMetrics(**metric_rows[0]._asdict())
                if metric_rows
                else ConversationMetrics(call_id=call_id, duration=row.duration)
            )
            qa_row = s.get(QAScoreRow, call_id)
            qa = (
                QAScore(
                    call_id=call_id,
                    score=qa_row.score,
                    passed=qa_row.passed,
                    breakdown=dict(qa_row.breakdown),
                )
                if qa_row is not None
                else None
            )
            record = CallRecord(
                call_id=call_id,
                external_id=row.external_id,
                source_path=row.source_path,
                duration=row.duration,
                layout=row.layout,  # type: ignore[arg-type]
                channels=row.channels,
                sample_rate=row.sample_rate,
                agent_id=row.agent_id,
                queue=row.queue,
                started_at=row.started_at,
                agent_channel=row.agent_channel,
                role_confidence=row.role_confidence,
                role_strategy=row.role_strategy,
                layout_reason=row.layout_reason,
                quality_flags=tuple(row.quality_flags or ()),
            )
            return CallResult(
                call=record,
                turns=turns,
                words=words,
                metrics=metrics,
                rule_results=rules,
                scores=scores,
                qa=qa,
                timings=dict(row.timings),
                turn_scores=turn_scores,
            )

    # --- rejections -----------------------------------------------------------------------------
    # --- agent voiceprints (biometric: qc.voiceprint) ---------------------------------------------


def _check_result(result: CallResult) -> None:
    call_id = result.call_id
    if not call_id:
        raise ValueError("a call without a call_id cannot be stored")
    groups: list[tuple[str, Iterable[Any]]] = [
        ("turn", result.turns),
        ("word", result.words),
        ("rule result", result.rule_results),
        ("score", result.scores),
        ("turn score", result.turn_scores),
        ("metrics", [result.metrics]),
        ("qa", [result.qa] if result.qa else []),
    ]
    for what, records in groups:
        for rec in records:
            if rec.call_id != call_id:
                raise ValueError(f"{what} of call {rec.call_id!r} inside the result of call {call_id!r}")


def _call_row(result: CallResult, run_id: str, now: datetime) -> dict[str, Any]:
    c = result.call
    started = to_utc_aware(c.started_at)
    return {
        "call_id": c.call_id,
        "external_id": c.external_id,
        "source_path": str(c.source_path),
        "agent_id": c.agent_id,
        "queue": c.queue,
        "started_at": started,
        "call_date": started.date() if started else now.date(),
        "duration": float(c.duration),
        "layout": c.layout,
        "channels": int(c.channels),
        "sample_rate": int(c.sample_rate),
        "agent_channel": c.agent_channel,
        "role_confidence": c.role_confidence,
        "role_strategy": c.role_strategy,
        "layout_reason": c.layout_reason,
        "quality_flags": list(c.quality_flags),
        "quality_ok": c.quality_ok,
        "timings": {k: float(v) for k, v in result.timings.items()},
        "first_processed_at": now,
        "processed_at": now,
        "run_id": run_id,
    }


_METRIC_NAMES = [name for name, _, _ in metric_fields()]


_SCHEMA_GAPS: list[str] = []


def _record_columns(record: type, table: sa.Table) -> tuple[list[str], list[str]]:
    """(record fields, table columns) stored for a per-call row type, call_id excluded. A record field
    without a column (added to qc.records without a migration) is noted and makes every write fail
    loudly rather than drop data silently; tests/warehouse checks for it too."""
    fields = [f.name for f in dataclasses.fields(record) if f.name != "call_id"]
    missing = [f for f in fields if column_for(f) not in table.c]
    if missing:
        _SCHEMA_GAPS.append(f"{record.__name__}.{', '.join(missing)} (table {table.name})")
        fields = [f for f in fields if f not in missing]
    return fields, [column_for(f) for f in fields]


def _check_schema_gaps() -> None:
    if _SCHEMA_GAPS:
        raise RuntimeError(f"record fields without a column: {'; '.join(_SCHEMA_GAPS)}; write a migration")


_TURN_FIELDS, _TURN_FIELD_COLS = _record_columns(Turn, TurnRow.__table__)
_WORD_FIELDS, _WORD_FIELD_COLS = _record_columns(Word, WordRow.__table__)
_TURN_COLS = ("call_id", "seq", *_TURN_FIELD_COLS)
_WORD_COLS = ("call_id", "seq", *_WORD_FIELD_COLS)


def _turn_tuples(result: CallResult) -> list[tuple[Any, ...]]:
    cid, names = result.call_id, _TURN_FIELDS
    return [(cid, i, *(getattr(t, n) for n in names)) for i, t in enumerate(result.turns)]


def _word_tuples(result: CallResult) -> list[tuple[Any, ...]]:
    cid, names = result.call_id, _WORD_FIELDS
    return [(cid, i, *(getattr(w, n) for n in names)) for i, w in enumerate(result.words)]


def _small_child_rows(result: CallResult) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    cid = result.call_id
    rules = [
        {
            "call_id": cid,
            "seq": i,
            "rule_id": r.rule_id,
            "kind": r.kind,
            "passed": r.passed,
            "points_lost": r.points_lost,
            "evidence_text": r.evidence_text,
            "evidence_start_s": r.evidence_start,
            "evidence_end_s": r.evidence_end,
            "detail": r.detail,
        }
        for i, r in enumerate(result.rule_results)
    ]
    m = result.metrics
    metrics = [{"call_id": cid, **{n: getattr(m, n) for n in _METRIC_NAMES}}]
    return [(MetricsRow.__table__, metrics), (RuleResultRow.__table__, rules), (QAScoreRow.__table__, _qa_rows(result))]


def _turn_score_rows(result: CallResult, now: datetime) -> list[dict[str, Any]]:
    latest = {(t.turn, t.label): t for t in result.turn_scores}  # a key twice: last wins
    return [{"call_id": result.call_id, "seq": t.turn, "label": t.label, "model_version": t.model_version,
             "start_s": float(t.start), "end_s": float(t.end), "role": t.role, "value": t.value,
             "confidence": float(t.confidence), "probabilities": {k: float(v) for k, v in t.probabilities.items()},
             "scored_at": now} for t in latest.values()]


def _qa_rows(result: CallResult) -> list[dict[str, Any]]:
    qa = result.qa
    if qa is None:
        return []
    return [{"call_id": result.call_id, "score": qa.score, "passed": qa.passed,
             "breakdown": {k: float(v) for k, v in qa.breakdown.items()}}]
