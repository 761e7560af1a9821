"""The :class:`Warehouse`: every write and read of the SQL database goes through here.

Writes are idempotent units of work, one transaction each: a call's rows are replaced as a whole when it
is reprocessed (:meth:`Warehouse.save_call`), scores are upserted by (call, label, model version), a
rejection seen again updates its row, a label import is all-or-nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from qc.records import (
    CallRecord,
    CallResult,
    ConversationMetrics,
    QAScore,
    Rejection,
    RuleResult,
    Score,
    Turn,
    TurnScore,
    Word,
)
import warehouse.db as db
from warehouse.coltypes import to_utc_aware, utcnow
from warehouse.schema import (
    CALL_CHILD_TABLES,
    AgentVoiceprint,
    VoiceprintCall,
    Call,
    LabelRow,
    MetricsRow,
    ModelPromotion,
    ModelVersionRow,
    PipelineRun,
    QAScoreRow,
    RejectionRow,
    RuleResultRow,
    TurnScoreRow,
    ScoreRow,
    TurnRow,
    WordRow,
    column_for,
    metric_fields,
    v_latest_labels,
    v_latest_turn_labels,
)

if TYPE_CHECKING:
    import pandas as pd

    from qc.config import Settings

_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's bound-parameter limit


@dataclass(frozen=True)
class ModelVersion:
    """A registered classifier version (one row of ``model_versions``)."""

    version: str
    artifact_uri: str
    label_schema: dict[str, Any]
    metrics: dict[str, Any]
    test_split: tuple[str, ...]
    report_markdown: str | None
    created_at: datetime
    promoted: bool
    promoted_at: datetime | None


@dataclass(frozen=True)
class LabelImportReport:
    """What :meth:`Warehouse.import_labels` did. Nothing is imported unless :attr:`ok`."""

    imported: int
    unchanged: int  # rows whose value already was the latest label: not stored again
    unknown_ids: tuple[str, ...] = ()  # external ids no stored call has
    ambiguous_ids: tuple[str, ...] = ()  # external ids that name more than one stored call
    conflicts: tuple[tuple[str, str], ...] = ()  # (external id, label) given twice with different values
    invalid_rows: tuple[int, ...] = ()  # 0-based indexes of rows with an empty field or a bad span

    @property
    def ok(self) -> bool:
        return not (self.unknown_ids or self.ambiguous_ids or self.conflicts or self.invalid_rows)

    def describe(self) -> str:
        if self.ok:
            return f"imported {self.imported} labels ({self.unchanged} unchanged)"
        parts = []
        if self.unknown_ids:
            parts.append(f"{len(self.unknown_ids)} unknown call ids: {', '.join(self.unknown_ids[:10])}")
        if self.ambiguous_ids:
            parts.append(
                f"{len(self.ambiguous_ids)} ambiguous call ids: {', '.join(self.ambiguous_ids[:10])}"
            )
        if self.conflicts:
            shown = ", ".join(f"{e}/{lab}" for e, lab in self.conflicts[:10])
            parts.append(f"{len(self.conflicts)} conflicting rows: {shown}")
        if self.invalid_rows:
            parts.append(
                f"{len(self.invalid_rows)} rows with an empty field or a span outside the call "
                f"(rows {list(self.invalid_rows[:10])})"
            )
        return "nothing imported: " + "; ".join(parts)


class Warehouse:
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
    def open(cls, settings: Settings, *, migrate: bool = True) -> Warehouse:
        """The warehouse at ``settings.db_url``, migrated to the newest schema unless ``migrate=False``."""
        return cls.from_url(settings.db_url, migrate=migrate)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Warehouse:
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
    def start_run(self, settings_dict: dict[str, Any], code_version: str) -> str:
        """Record the start of a run; returns its id (32 hex characters)."""
        run_id = uuid.uuid4().hex
        with self._write() as s:
            s.add(
                PipelineRun(
                    run_id=run_id,
                    started_at=utcnow(),
                    status="running",
                    settings=dict(settings_dict),
                    code_version=code_version,
                    host=platform.node()[:255] or None,
                )
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        processed: int,
        rejected: int,
        skipped: int,
        audio_seconds: float,
        processing_seconds: float,
        mean_qa_score: float | None,
        flagged: int,
        report_markdown: str | None = None,
        real_time_factor: float | None = None,
    ) -> None:
        """Record the end of a run and its counts (calling it again overwrites them).
        ``real_time_factor``: wall seconds per audio second (default: processing / audio seconds)."""
        if real_time_factor is None and audio_seconds > 0:
            real_time_factor = processing_seconds / audio_seconds
        with self._write() as s:
            run = s.get(PipelineRun, run_id)
            if run is None:
                raise KeyError(f"no pipeline run {run_id!r}")
            run.finished_at = utcnow()
            run.status = "finished"
            run.processed, run.rejected, run.skipped, run.flagged = processed, rejected, skipped, flagged
            run.audio_seconds, run.processing_seconds = audio_seconds, processing_seconds
            run.mean_qa_score = mean_qa_score
            run.real_time_factor = real_time_factor
            run.report_markdown = report_markdown

    # --- calls ----------------------------------------------------------------------------------
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
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
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
    def voiceprint(self, agent_id: str) -> tuple[np.ndarray, int] | None:
        """An agent's enrolled voice and the number of calls it comes from, or None."""
        with self._read() as s:
            row = s.get(AgentVoiceprint, agent_id)
            return None if row is None else (np.asarray(row.embedding, np.float32), int(row.calls))

    def enrol_voice(self, agent_id: str, call_id: str, embedding: np.ndarray, seconds: float) -> bool:
        """Fold one call's agent voice into the agent's voiceprint; False (and nothing changed) when
        that call was enrolled already."""
        from qc.voiceprint import update

        with self._write() as s:
            row = s.get(AgentVoiceprint, agent_id, with_for_update=True)
            if row is not None and s.get(VoiceprintCall, (agent_id, call_id)) is not None:
                return False
            mean, total = update(None if row is None else np.asarray(row.embedding), 0.0 if row is None else row.seconds,
                                 np.asarray(embedding, np.float64), float(seconds))
            values = [round(float(x), 6) for x in mean]
            if row is None:
                s.add(AgentVoiceprint(agent_id=agent_id, embedding=values, seconds=total, calls=1,
                                      updated_at=utcnow()))
                s.flush()
            else:
                row.embedding, row.seconds, row.calls, row.updated_at = values, total, row.calls + 1, utcnow()
            s.add(VoiceprintCall(agent_id=agent_id, call_id=call_id))
            return True

    def forget_voice(self, agent_id: str) -> bool:
        """Delete an agent's voiceprint and the record of its calls; False when there was none."""
        with self._write() as s:
            s.execute(sa.delete(VoiceprintCall).where(VoiceprintCall.agent_id == agent_id))
            return s.execute(sa.delete(AgentVoiceprint).where(AgentVoiceprint.agent_id == agent_id)).rowcount > 0

    def voiceprints(self) -> pd.DataFrame:
        """agent_id, calls, seconds, updated_at of every enrolled agent (not the embeddings)."""
        import pandas as pd

        t = AgentVoiceprint.__table__.c
        with self.engine.connect() as con:
            return pd.read_sql(sa.select(t.agent_id, t.calls, t.seconds, t.updated_at).order_by(t.agent_id), con)

    def save_rejection(self, rej: Rejection, run_id: str) -> None:
        """Store a rejected file. The same file rejected again (same content hash, or without a hash the
        same reason) updates its row: ``last_seen_at``, ``last_run_id``, ``times_seen`` (counted once per
        run), the latest reason; ``first_seen_at`` and ``first_run_id`` stay."""
        now = utcnow()
        identity = rej.call_id if rej.call_id else f"reason:{rej.reason}"
        key = hashlib.sha256(f"{rej.file}\x00{identity}".encode()).hexdigest()
        table = RejectionRow.__table__
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["rejection_key"],
            set_={
                "reason": stmt.excluded.reason,
                "external_id": sa.func.coalesce(stmt.excluded.external_id, table.c.external_id),
                "last_seen_at": stmt.excluded.last_seen_at,
                "last_run_id": stmt.excluded.last_run_id,
                "times_seen": table.c.times_seen
                + sa.case((table.c.last_run_id == stmt.excluded.last_run_id, 0), else_=1),
            },
        )
        row = {
            "rejection_key": key,
            "file": rej.file,
            "call_id": rej.call_id,
            "external_id": rej.external_id,
            "reason": rej.reason,
            "first_seen_at": now,
            "last_seen_at": now,
            "first_run_id": run_id,
            "last_run_id": run_id,
            "times_seen": 1,
        }
        with self._write() as s:
            s.execute(stmt, row)

    # --- labels ---------------------------------------------------------------------------------
    def import_labels(self, rows: Sequence[Sequence[Any]], who: str, source: str) -> LabelImportReport:
        """Import human labels ``(external call id, label, value)`` or ``(external call id, label, value,
        start, end)``, all or nothing. A row with ``start`` and ``end`` (seconds; both or neither) labels
        that span of the call (a labelled utterance), one without them the whole call.

        If any external id is unknown or names several stored calls, any (id, label, span) is given twice
        with different values, any field is empty, or a span is not a part of its call (``0 <= start <
        end <= duration``), nothing is imported and the report says why. Rows whose value already is
        the latest label of that (call, label, span) are not stored again, so importing the same file
        twice changes nothing.
        """
        parsed: dict[int, tuple[str, str, str, tuple[float, float] | None]] = {}
        invalid: list[int] = []
        for i, r in enumerate(rows):
            parts = [str(x).strip() if x is not None else "" for x in r]
            if len(parts) not in (3, 5) or not all(parts[:3]):
                invalid.append(i)
                continue
            span = None
            if len(parts) == 5 and (parts[3] or parts[4]):
                try:
                    span = (float(parts[3]), float(parts[4]))
                except ValueError:
                    invalid.append(i)
                    continue
                if not (0 <= span[0] < span[1]):
                    invalid.append(i)
                    continue
            parsed[i] = (parts[0], parts[1], parts[2], span)
        wanted: dict[tuple[str, str, tuple[float, float] | None], str] = {}
        conflicts: dict[tuple[str, str], None] = {}
        for ext, label, value, span in parsed.values():
            if wanted.setdefault((ext, label, span), value) != value:
                conflicts[(ext, label)] = None
        external_ids = sorted({ext for ext, _, _ in wanted})
        with self._write() as s:
            by_ext: dict[str, list[tuple[str, float]]] = {}
            for i in range(0, len(external_ids), _IN_CHUNK):
                chunk = external_ids[i : i + _IN_CHUNK]
                for ext, cid, duration in s.execute(
                    sa.select(Call.external_id, Call.call_id, Call.duration).where(Call.external_id.in_(chunk))
                ):
                    by_ext.setdefault(ext, []).append((cid, duration))
            unknown = tuple(e for e in external_ids if e not in by_ext)
            ambiguous = tuple(e for e in external_ids if len(by_ext.get(e, ())) > 1)
            outside = [i for i, (ext, _, _, span) in parsed.items()
                       if span is not None and ext in by_ext and span[1] > by_ext[ext][0][1] + 0.01]
            report = LabelImportReport(
                imported=0,
                unchanged=0,
                unknown_ids=unknown,
                ambiguous_ids=ambiguous,
                conflicts=tuple(conflicts),
                invalid_rows=tuple(sorted(invalid + outside)),
            )
            if not report.ok:
                return report
            call_of = {e: by_ext[e][0][0] for e in external_ids}
            current = self._latest_labels(s, sorted(set(call_of.values())))
            current_spans = self._latest_span_labels(s, sorted(set(call_of.values())))
            now = utcnow()
            new_rows = []
            unchanged = 0
            for (ext, label, span), value in wanted.items():
                call_id = call_of[ext]
                latest = current.get((call_id, label)) if span is None else current_spans.get((call_id, label, span))
                if latest == value:
                    unchanged += 1
                    continue
                new_rows.append(
                    {
                        "call_id": call_id,
                        "label": label,
                        "value": value,
                        "who": who,
                        "source": source,
                        "at": now,
                        "start_s": None if span is None else span[0],
                        "end_s": None if span is None else span[1],
                    }
                )
            if new_rows:
                s.execute(LabelRow.__table__.insert(), new_rows)
        return dataclasses.replace(report, imported=len(new_rows), unchanged=unchanged)

    def _latest_span_labels(self, s: Session, call_ids: list[str]) -> dict[tuple[str, str, tuple[float, float]], str]:
        v = v_latest_turn_labels.c
        out: dict[tuple[str, str, tuple[float, float]], str] = {}
        for i in range(0, len(call_ids), _IN_CHUNK):
            chunk = call_ids[i : i + _IN_CHUNK]
            q = sa.select(v.call_id, v.label, v.start_s, v.end_s, v.value).where(v.call_id.in_(chunk))
            out.update({(c, lab, (a, b)): val for c, lab, a, b, val in s.execute(q)})
        return out

    def _latest_labels(self, s: Session, call_ids: list[str]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for i in range(0, len(call_ids), _IN_CHUNK):
            chunk = call_ids[i : i + _IN_CHUNK]
            q = sa.select(v_latest_labels.c.call_id, v_latest_labels.c.label, v_latest_labels.c.value).where(
                v_latest_labels.c.call_id.in_(chunk)
            )
            out.update({(c, lab): v for c, lab, v in s.execute(q)})
        return out

    def set_label(self, call_id: str, label: str, value: str, who: str, source: str = "dashboard") -> None:
        """Set or correct one label; the previous values stay in the history (who, when)."""
        with self._write() as s:
            if s.get(Call, call_id) is None:
                raise KeyError(f"no call {call_id!r}")
            s.add(LabelRow(call_id=call_id, label=label, value=value, who=who, source=source, at=utcnow()))

    def labels_frame(self) -> pd.DataFrame:
        """The latest label per (call, label): call_id, external_id, label, value, who, at."""
        from warehouse.frames import frame

        cols = [v_latest_labels.c[n] for n in ("call_id", "external_id", "label", "value", "who", "at")]
        stmt = sa.select(*cols).order_by(v_latest_labels.c.call_id, v_latest_labels.c.label)
        return frame(self.engine, stmt)

    def turn_labels_frame(self) -> pd.DataFrame:
        """The latest label per (call, label, span) of the labelled spans of calls: call_id,
        external_id, start_s, end_s, label, value, who, at."""
        from warehouse.frames import frame

        v = v_latest_turn_labels.c
        cols = [v[n] for n in ("call_id", "external_id", "start_s", "end_s", "label", "value", "who", "at")]
        return frame(self.engine, sa.select(*cols).order_by(v.call_id, v.start_s, v.label))

    def label_history(self, call_id: str) -> pd.DataFrame:
        """Every label ever set on a call, oldest first."""
        from warehouse.frames import frame

        t = LabelRow.__table__
        stmt = sa.select(t.c.label, t.c.value, t.c.who, t.c.source, t.c.at).where(t.c.call_id == call_id)
        return frame(self.engine, stmt.order_by(t.c.at, t.c.id))

    # --- model versions -------------------------------------------------------------------------
    def register_model_version(
        self,
        version: str,
        artifact_uri: str,
        label_schema: dict[str, Any],
        metrics: dict[str, Any],
        test_split: list[str],
        report_markdown: str | None,
    ) -> ModelVersion:
        """Record a trained model version (not promoted). Registering the same version again with the
        same artifact updates its metadata; with another artifact it raises ``ValueError``."""
        with self._write() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                row = ModelVersionRow(version=version, created_at=utcnow(), promoted=False, promoted_at=None)
                s.add(row)
            elif row.artifact_uri != artifact_uri:
                raise ValueError(
                    f"model version {version!r} is already registered with artifact {row.artifact_uri!r}"
                )
            row.artifact_uri = artifact_uri
            row.label_schema = dict(label_schema)
            row.metrics = dict(metrics)
            row.test_split = list(test_split)
            row.report_markdown = report_markdown
            s.flush()
            return _model_version(row)

    def promote(self, version: str) -> ModelVersion:
        """Make ``version`` the one promoted version (no-op if it already is)."""
        with self._write() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                raise KeyError(f"no model version {version!r}")
            if not row.promoted:
                now = utcnow()
                s.execute(sa.update(ModelVersionRow).where(ModelVersionRow.promoted).values(promoted=False))
                s.flush()
                row.promoted, row.promoted_at = True, now
                s.add(ModelPromotion(version=version, promoted_at=now, rolled_back_at=None))
            s.flush()
            return _model_version(row)

    def rollback(self) -> ModelVersion:
        """Undo the latest promotion: the version promoted before it is promoted again.

        Promotions form a stack, so rolling back twice goes back two promotions. Raises ``LookupError``
        (changing nothing) when nothing is promoted or there is no earlier version to go back to.
        """
        with self._write() as s:
            live = list(
                s.scalars(
                    sa.select(ModelPromotion)
                    .where(ModelPromotion.rolled_back_at.is_(None))
                    .order_by(ModelPromotion.id.desc())
                )
            )
            if not live:
                raise LookupError("no promoted model version to roll back")
            current = live[0]
            previous = next((p for p in live[1:] if p.version != current.version), None)
            if previous is None:
                raise LookupError(f"no earlier promoted version to roll back to from {current.version!r}")
            now = utcnow()
            for p in live:  # everything above `previous` on the stack is undone
                if p.id > previous.id:
                    p.rolled_back_at = now
            s.execute(sa.update(ModelVersionRow).where(ModelVersionRow.promoted).values(promoted=False))
            s.flush()
            row = s.get(ModelVersionRow, previous.version)
            assert row is not None
            s.refresh(row)
            row.promoted, row.promoted_at = True, now
            s.flush()
            return _model_version(row)

    def promoted_version(self) -> ModelVersion | None:
        with self._read() as s:
            row = s.scalar(sa.select(ModelVersionRow).where(ModelVersionRow.promoted))
            return _model_version(row) if row is not None else None

    def model_version(self, version: str) -> ModelVersion:
        with self._read() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                raise KeyError(f"no model version {version!r}")
            return _model_version(row)

    def model_versions(self) -> pd.DataFrame:
        """Every registered version, newest first."""
        from warehouse.frames import frame

        t = ModelVersionRow.__table__
        return frame(self.engine, sa.select(t).order_by(t.c.created_at.desc(), t.c.version.desc()))


# --- record <-> row -----------------------------------------------------------------------------
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


def _model_version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        version=row.version,
        artifact_uri=row.artifact_uri,
        label_schema=dict(row.label_schema),
        metrics=dict(row.metrics),
        test_split=tuple(row.test_split),
        report_markdown=row.report_markdown,
        created_at=row.created_at,
        promoted=row.promoted,
        promoted_at=row.promoted_at,
    )
