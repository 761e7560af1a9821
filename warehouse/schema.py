"""The warehouse's tables (SQLAlchemy 2.0 declarative) and the analyst views they feed.

One call is identified by the sha256 of its audio (``calls.call_id``). Everything the pipeline derives
from a call (turns, words, metrics, rule results, QA score) hangs off that id and is replaced as a whole
when the call is reprocessed; model scores are keyed by (call, label, model version) and upserted; human
labels are an append-only history whose latest row per (call, label) is what training reads.

Times within a call are seconds from its start (``start_s``/``end_s``); points in time are UTC
(:class:`warehouse.coltypes.UTCDateTime`). Schema changes go through an Alembic migration in
``warehouse/migrations/versions``; ``tests/warehouse`` checks that these classes and the migrations agree.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qc.records import ConversationMetrics
from warehouse.coltypes import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012  (SQLAlchemy's own idiom)
        float: sa.Double(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        dict[str, float]: JSONType,
        list[str]: JSONType,
    }


def _fk_call(ondelete: str | None = "CASCADE") -> Any:
    return sa.ForeignKey("calls.call_id", ondelete=ondelete)


class PipelineRun(Base):
    """One batch run of the pipeline: when, what it did, with which settings and code."""

    __tablename__ = "pipeline_runs"

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16))  # running | finished
    processed: Mapped[int | None]
    rejected: Mapped[int | None]
    skipped: Mapped[int | None]
    flagged: Mapped[int | None]
    audio_seconds: Mapped[float | None]
    processing_seconds: Mapped[float | None]
    real_time_factor: Mapped[float | None]  # processing seconds per audio second
    mean_qa_score: Mapped[float | None]
    settings: Mapped[dict[str, Any]]
    code_version: Mapped[str] = mapped_column(sa.String(64))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    report_markdown: Mapped[str | None] = mapped_column(sa.Text)


class Call(Base):
    """A processed call. ``call_date`` is the UTC date of ``started_at``, or for a call without a known
    start the UTC date the warehouse first stored it (kept when it is reprocessed)."""

    __tablename__ = "calls"
    __table_args__ = (sa.Index(None, "agent_id", "call_date"),)

    call_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    source_path: Mapped[str] = mapped_column(sa.Text)
    agent_id: Mapped[str | None] = mapped_column(sa.String(128))
    queue: Mapped[str | None] = mapped_column(sa.String(128))
    started_at: Mapped[datetime | None]
    call_date: Mapped[date] = mapped_column(index=True)
    duration: Mapped[float]
    layout: Mapped[str] = mapped_column(sa.String(8))
    channels: Mapped[int] = mapped_column(sa.SmallInteger)
    sample_rate: Mapped[int]
    agent_channel: Mapped[int | None] = mapped_column(sa.SmallInteger)
    role_confidence: Mapped[float | None]
    role_strategy: Mapped[str | None] = mapped_column(sa.String(64))
    layout_reason: Mapped[str | None] = mapped_column(sa.Text)  # why the call has its layout (qc.channels)
    # what the consistency guard (qc.quality) found wrong; a call with any is left out of pass rates
    quality_flags: Mapped[list[str] | None]  # None: stored before the guard ran
    quality_ok: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    timings: Mapped[dict[str, float]]
    first_processed_at: Mapped[datetime]
    processed_at: Mapped[datetime]
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("pipeline_runs.run_id"), index=True)


class QAScoreRow(Base):
    """The scorecard's verdict (0-100) and the points lost per item."""

    __tablename__ = "qa_scores"

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    score: Mapped[float]
    passed: Mapped[bool]
    breakdown: Mapped[dict[str, float]]


class TurnRow(Base):
    __tablename__ = "turns"

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    start_s: Mapped[float]
    end_s: Mapped[float]
    channel: Mapped[int] = mapped_column(sa.SmallInteger)
    speaker: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.Text)
    overlap: Mapped[bool]
    sentiment: Mapped[float | None]  # -1 .. +1


class WordRow(Base):
    __tablename__ = "words"

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    start_s: Mapped[float]
    end_s: Mapped[float]
    text: Mapped[str] = mapped_column(sa.Text)
    probability: Mapped[float]
    channel: Mapped[int] = mapped_column(sa.SmallInteger)
    speaker: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16))
    overlap: Mapped[bool]


def metric_fields() -> list[tuple[str, type, bool]]:
    """(name, python type, nullable) for every :class:`ConversationMetrics` field but ``call_id``."""
    hints = typing.get_type_hints(ConversationMetrics)
    out: list[tuple[str, type, bool]] = []
    for f in dataclasses.fields(ConversationMetrics):
        if f.name == "call_id":
            continue
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
        nullable = type(None) in args
        base = next((a for a in args if a is not type(None)), hint)
        if base not in (int, float):
            raise TypeError(f"ConversationMetrics.{f.name}: unsupported type {hint!r} for a metric column")
        out.append((f.name, base, nullable))
    return out


def _metric_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column(name, sa.Integer() if kind is int else sa.Double(), nullable=nullable)
        for name, kind, nullable in metric_fields()
    ]


class MetricsRow(Base):
    """One row per call, one column per :class:`qc.records.ConversationMetrics` field (built from the
    dataclass: a new metric needs a migration and nothing else)."""

    __table__ = sa.Table(
        "conversation_metrics",
        Base.metadata,
        sa.Column("call_id", sa.String(64), _fk_call(), primary_key=True),
        *_metric_columns(),
    )


class RuleResultRow(Base):
    """One compliance rule on one call, with its evidence (matched text and time span)."""

    __tablename__ = "rule_results"

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    rule_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    passed: Mapped[bool]
    points_lost: Mapped[float]
    evidence_text: Mapped[str | None] = mapped_column(sa.Text)
    evidence_start_s: Mapped[float | None]
    evidence_end_s: Mapped[float | None]
    detail: Mapped[str] = mapped_column(sa.Text)


class ScoreRow(Base):
    """A model's prediction for one label of one call; at most one per (call, label, model version)."""

    __tablename__ = "scores"
    __table_args__ = (sa.Index(None, "model_version", "label"),)

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    model_version: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(128))
    confidence: Mapped[float]
    probabilities: Mapped[dict[str, float]]
    scored_at: Mapped[datetime]


class TurnScoreRow(Base):
    """A model's prediction for one label of one turn (``seq``: the turn's index, as in ``turns``), by
    the model version that scored the call last (a new scoring replaces the call's turn scores)."""

    __tablename__ = "turn_scores"
    __table_args__ = (sa.Index(None, "model_version", "label"),)

    call_id: Mapped[str] = mapped_column(_fk_call(), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    model_version: Mapped[str] = mapped_column(sa.String(64))
    start_s: Mapped[float]
    end_s: Mapped[float]
    role: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(128))
    confidence: Mapped[float]
    probabilities: Mapped[dict[str, float]]
    scored_at: Mapped[datetime]


class LabelRow(Base):
    """A human label, append-only: the latest row per (call, label) wins (see ``v_latest_labels``); a
    label of a span of the call (``start_s``..``end_s``: a labelled utterance) per (call, label, span)
    (see ``v_latest_turn_labels``)."""

    __tablename__ = "labels"
    __table_args__ = (sa.Index(None, "call_id", "label", "at"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(_fk_call(ondelete=None))
    label: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str] = mapped_column(sa.String(128))
    who: Mapped[str] = mapped_column(sa.String(128))
    source: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime]
    start_s: Mapped[float | None]
    end_s: Mapped[float | None]


class AgentVoiceprint(Base):
    """One agent's enrolled voice (qc.voiceprint): biometric data, deleted by ``callqc agents forget``."""

    __tablename__ = "agent_voiceprints"

    agent_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    embedding: Mapped[list[float]] = mapped_column(JSONType)
    seconds: Mapped[float]  # of speech it was averaged over
    calls: Mapped[int]
    updated_at: Mapped[datetime]


class VoiceprintCall(Base):
    """Which calls an agent's voiceprint was enrolled from (so a rerun does not enrol a call twice), with
    each call's voice, so that one call's contribution can be taken out again (roles corrected by hand).
    ``embedding`` is None for calls enrolled before per-call voices were kept."""

    __tablename__ = "voiceprint_calls"

    agent_id: Mapped[str] = mapped_column(sa.ForeignKey("agent_voiceprints.agent_id", ondelete="CASCADE"),
                                          primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    embedding: Mapped[list[float] | None] = mapped_column(JSONType)
    seconds: Mapped[float | None]
    enrolled_at: Mapped[datetime | None]


class ModelVersionRow(Base):
    """A trained classifier: where its artifact is, what it predicts, how well it did. At most one row
    is promoted (a partial unique index enforces it)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        sa.Index(
            "uq_model_versions_one_promoted",
            "promoted",
            unique=True,
            sqlite_where=sa.text("promoted"),
            postgresql_where=sa.text("promoted"),
        ),
    )

    version: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    artifact_uri: Mapped[str] = mapped_column(sa.Text)
    label_schema: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    test_split: Mapped[list[str]]
    report_markdown: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    promoted: Mapped[bool]
    promoted_at: Mapped[datetime | None]


class ModelPromotion(Base):
    """Promotion history, used as a stack by ``Warehouse.rollback``."""

    __tablename__ = "model_promotions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(sa.ForeignKey("model_versions.version"), index=True)
    promoted_at: Mapped[datetime]
    rolled_back_at: Mapped[datetime | None]


class RejectionRow(Base):
    """A file the pipeline refused, once per (file, content hash) or, without a hash, per (file, reason).
    A later run that rejects it again bumps ``last_seen_at``/``times_seen`` instead of adding a row."""

    __tablename__ = "rejections"

    rejection_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    file: Mapped[str] = mapped_column(sa.Text)
    call_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # content hash, if known
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
    first_run_id: Mapped[str] = mapped_column(sa.ForeignKey("pipeline_runs.run_id"))
    last_run_id: Mapped[str] = mapped_column(sa.ForeignKey("pipeline_runs.run_id"))
    times_seen: Mapped[int]


# Record field -> column, where they differ (times in a call are seconds: *_s).
FIELD_COLUMNS = {
    "start": "start_s",
    "end": "end_s",
    "evidence_start": "evidence_start_s",
    "evidence_end": "evidence_end_s",
}


def column_for(field_name: str) -> str:
    return FIELD_COLUMNS.get(field_name, field_name)


# Tables whose rows belong to one call and are replaced when it is reprocessed (children first).
CALL_CHILD_TABLES: tuple[sa.Table, ...] = (
    WordRow.__table__,
    TurnRow.__table__,
    RuleResultRow.__table__,
    MetricsRow.__table__,
    QAScoreRow.__table__,
    TurnScoreRow.__table__,
)


# --- views (created by the migrations; described here so queries get typed columns) ----------------
def _view(name: str, *columns: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table(name, *columns)


_C = sa.column
v_latest_labels = _view(
    "v_latest_labels",
    _C("call_id", sa.String),
    _C("external_id", sa.String),
    _C("label", sa.String),
    _C("value", sa.String),
    _C("who", sa.String),
    _C("source", sa.String),
    _C("at", UTCDateTime()),
)
v_latest_turn_labels = _view(
    "v_latest_turn_labels",
    _C("call_id", sa.String),
    _C("external_id", sa.String),
    _C("start_s", sa.Double),
    _C("end_s", sa.Double),
    _C("label", sa.String),
    _C("value", sa.String),
    _C("who", sa.String),
    _C("source", sa.String),
    _C("at", UTCDateTime()),
)
_CALL_COLS = (
    _C("call_id", sa.String),
    _C("external_id", sa.String),
    _C("agent_id", sa.String),
    _C("queue", sa.String),
    _C("started_at", UTCDateTime()),
    _C("call_date", sa.Date),
    _C("duration", sa.Double),
)
v_call_scores = _view(
    "v_call_scores",
    *_CALL_COLS,
    _C("label", sa.String),
    _C("model_version", sa.String),
    _C("value", sa.String),
    _C("confidence", sa.Double),
    _C("probabilities", JSONType),
    _C("scored_at", UTCDateTime()),
    _C("promoted", sa.Boolean),
    _C("human_value", sa.String),
    _C("agrees", sa.Boolean),
)
v_flagged_calls = _view(
    "v_flagged_calls",
    *(_C(c.name, c.type) for c in _CALL_COLS),
    _C("qa_score", sa.Double),
    _C("qa_passed", sa.Boolean),
    _C("failed_rules", sa.Integer),
    _C("forbidden_hits", sa.Integer),
    _C("points_lost", sa.Double),
)
v_agent_daily = _view(
    "v_agent_daily",
    _C("agent_id", sa.String),
    _C("call_date", sa.Date),
    _C("calls", sa.Integer),
    _C("minutes", sa.Double),
    _C("mean_qa_score", sa.Double),
    _C("qa_failed", sa.Integer),
    _C("flagged", sa.Integer),
    _C("quality_issues", sa.Integer),
    _C("mean_talk_ratio_agent", sa.Double),
    _C("mean_silence_total", sa.Double),
    _C("mean_overtalk_ratio", sa.Double),
    _C("interruptions_agent", sa.Integer),
    _C("mean_response_latency_agent", sa.Double),
)
