"""Analyst queries: typed SELECTs over the warehouse views, returned as pandas DataFrames.

Every filter is a bound parameter (no SQL is built from strings). Dates are ``datetime.date`` and
inclusive at both ends; datetime columns come back as timezone-aware UTC (``datetime64[us, UTC]``).
Each function takes a :class:`warehouse.Warehouse` or a SQLAlchemy ``Engine``/``Connection``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.frames import engine_of as _engine, frame
from warehouse.schema import (
    Call,
    LabelRow,
    PipelineRun,
    QAScoreRow,
    RejectionRow,
    RuleResultRow,
    ScoreRow,
    TurnRow,
    v_agent_daily,
    v_call_scores,
    v_flagged_calls,
    v_latest_labels,
)

if TYPE_CHECKING:
    from warehouse.store import Warehouse


def _date_range(
    stmt: sa.Select[Any], column: Any, date_from: date | None, date_to: date | None
) -> sa.Select[Any]:
    if date_from is not None:
        stmt = stmt.where(column >= sa.bindparam("date_from", date_from, type_=sa.Date))
    if date_to is not None:
        stmt = stmt.where(column <= sa.bindparam("date_to", date_to, type_=sa.Date))
    return stmt


@dataclass(frozen=True)
class CallFilter:
    """Which calls a query reads: call dates ``date_from``..``date_to`` (inclusive), one agent, one
    queue; None: any. Every query over calls takes one (``where``)."""

    date_from: date | None = None
    date_to: date | None = None
    agent_id: str | None = None
    queue: str | None = None

    def apply(self, stmt: sa.Select[Any], columns: Any) -> sa.Select[Any]:
        """``stmt`` narrowed to these calls; ``columns``: the selected table's or view's columns
        (``call_date``, ``agent_id`` and, where the filter names a queue, ``queue``)."""
        stmt = _date_range(stmt, columns.call_date, self.date_from, self.date_to)
        if self.agent_id is not None:
            stmt = stmt.where(columns.agent_id == self.agent_id)
        if self.queue is not None:
            if "queue" not in columns:
                raise ValueError("this query has no queue to filter on")
            stmt = stmt.where(columns.queue == self.queue)
        return stmt


ALL_CALLS = CallFilter()


def call_scores(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
    *,
    label: str | None = None,
    model_version: str | None = None,
    promoted_only: bool = False,
) -> pd.DataFrame:
    """Rows of ``v_call_scores``: one per (call, label, model version), with the call's agent, queue,
    date, the model's value and confidence, whether that model is the promoted one, and the latest human
    label (``human_value``) and whether they agree."""
    v = v_call_scores.c
    stmt = where.apply(sa.select(v_call_scores), v)
    if label is not None:
        stmt = stmt.where(v.label == label)
    if model_version is not None:
        stmt = stmt.where(v.model_version == model_version)
    if promoted_only:
        stmt = stmt.where(v.promoted)
    return frame(source, stmt.order_by(v.call_date, v.call_id, v.label, v.model_version))


def agent_daily(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
) -> pd.DataFrame:
    """Rows of ``v_agent_daily``: per agent and call date, calls, minutes, mean QA score, QA failures,
    flagged calls and mean conversation metrics."""
    v = v_agent_daily.c
    stmt = where.apply(sa.select(v_agent_daily), v)
    return frame(source, stmt.order_by(v.call_date, v.agent_id))


def flagged_calls(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """Rows of ``v_flagged_calls``: calls whose QA score failed or that failed at least one rule, worst
    (lowest QA score, then most points lost) first."""
    v = v_flagged_calls.c
    stmt = where.apply(sa.select(v_flagged_calls), v)
    stmt = stmt.order_by(v.qa_score.asc().nulls_last(), v.points_lost.desc(), v.call_id)
    if limit is not None:
        stmt = stmt.limit(int(limit))
    return frame(source, stmt)


def transcript(source: Warehouse | Engine | Connection, call_id: str) -> pd.DataFrame:
    """The turns of one call in order: seq, start_s, end_s, channel, speaker, role, text, overlap."""
    t = TurnRow.__table__
    stmt = sa.select(t).where(t.c.call_id == call_id).order_by(t.c.seq)
    return frame(source, stmt)


def rule_results(source: Warehouse | Engine | Connection, call_id: str) -> pd.DataFrame:
    """The rule results of one call, with their evidence (text and time span in seconds)."""
    t = RuleResultRow.__table__
    return frame(source, sa.select(t).where(t.c.call_id == call_id).order_by(t.c.seq))


def calls(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
) -> pd.DataFrame:
    """Calls rows in a date range."""
    t = Call.__table__
    stmt = where.apply(sa.select(t), t.c)
    return frame(source, stmt.order_by(t.c.call_date, t.c.call_id))


def runs(source: Warehouse | Engine | Connection, *, limit: int = 50) -> pd.DataFrame:
    """The latest pipeline runs, newest first."""
    t = PipelineRun.__table__
    stmt = sa.select(t).order_by(t.c.started_at.desc()).limit(int(limit))
    return frame(source, stmt)


def rejections(source: Warehouse | Engine | Connection, *, run_id: str | None = None) -> pd.DataFrame:
    """Rejected files (one row per file and content hash/reason), most recently seen first."""
    t = RejectionRow.__table__
    stmt = sa.select(t)
    if run_id is not None:
        stmt = stmt.where(t.c.last_run_id == run_id)
    return frame(source, stmt.order_by(t.c.last_seen_at.desc(), t.c.file))


def sql(source: Warehouse | Engine | Connection, query: str, **params: Any) -> pd.DataFrame:
    """Run an analyst's own SELECT with bound ``:name`` parameters, e.g.
    ``sql(wh, "SELECT * FROM v_agent_daily WHERE agent_id = :agent", agent="a7")``."""
    if not isinstance(source, Connection):
        with _engine(source).connect() as conn:
            return sql(conn, query, **params)
    result = source.execute(sa.text(query), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


# The analyst examples shown in the README; tests run each on SQLite and PostgreSQL.
EXAMPLES: dict[str, str] = {
    "agents_by_flagged_calls": """
SELECT agent_id, SUM(calls) AS calls, SUM(flagged) AS flagged, SUM(qa_failed) AS qa_failed,
       AVG(mean_qa_score) AS mean_qa_score, AVG(mean_talk_ratio_agent) AS talk_ratio
FROM v_agent_daily
WHERE call_date BETWEEN '2024-06-01' AND '2024-06-07'
GROUP BY agent_id
ORDER BY flagged DESC, agent_id
""",
    "model_vs_human": """
SELECT label, value AS model_says, human_value AS human_says, COUNT(*) AS calls
FROM v_call_scores
WHERE promoted AND human_value IS NOT NULL AND NOT agrees
GROUP BY label, value, human_value
ORDER BY calls DESC, label
""",
    "forbidden_phrase_evidence": """
SELECT f.call_date, f.external_id, f.agent_id, r.rule_id,
       r.evidence_text, r.evidence_start_s, r.evidence_end_s
FROM v_flagged_calls f
JOIN rule_results r ON r.call_id = f.call_id
WHERE NOT r.passed AND r.kind = 'forbidden_phrase' AND f.call_date >= '2024-06-01'
ORDER BY f.call_date, f.external_id
""",
}


# --- the analysts' dashboard --------------------------------------------------------------------
# Aggregates and lists over calls with the dashboard's filters. Every value is a bound parameter; the
# few choices that pick a column (``by``, ``order``, ``what``) are looked up in fixed tables.

CallGroup = Literal["call_date", "agent_id", "queue"]
CallOrder = Literal["worst", "newest", "oldest", "longest"]
DistinctOf = Literal["agent_id", "queue", "rule_id", "label", "score_label", "model_version"]


def _calls_with_qa() -> Any:
    """calls LEFT JOIN qa_scores LEFT JOIN v_flagged_calls (a call is flagged when it has a row there)."""
    c, q, f = Call.__table__, QAScoreRow.__table__, v_flagged_calls
    return c.outerjoin(q, q.c.call_id == c.c.call_id).outerjoin(f, f.c.call_id == c.c.call_id)


def call_list(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
    *,
    score_min: float | None = None,
    score_max: float | None = None,
    failed_rule: str | None = None,
    label: str | None = None,
    label_value: str | None = None,
    labelled: bool | None = None,
    model_version: str | None = None,
    flagged_only: bool = False,
    order: CallOrder = "worst",
    limit: int | None = 500,
) -> pd.DataFrame:
    """Calls with their QA score and rule failures: call_id, external_id, agent_id, queue, started_at,
    call_date, duration, layout, qa_score, qa_passed, failed_rules, points_lost, flagged, quality_ok,
    quality_flags (the consistency guard's findings, :mod:`qc.quality`).

    ``score_min``/``score_max`` bound the QA score (inclusive; unscored calls drop out). ``failed_rule``
    keeps calls that failed that rule. Human labels (latest per call and label): ``label`` with
    ``label_value`` keeps calls labelled so; ``labelled=True``/``False`` keeps calls that have / lack
    ``label`` (any label when ``label`` is None). ``model_version`` keeps calls that version scored.
    ``order="worst"`` puts the lowest QA score first (unscored last), then the most points lost.
    """
    c, q, f = Call.__table__.c, QAScoreRow.__table__.c, v_flagged_calls.c
    stmt = sa.select(
        c.call_id,
        c.external_id,
        c.agent_id,
        c.queue,
        c.started_at,
        c.call_date,
        c.duration,
        c.layout,
        q.score.label("qa_score"),
        q.passed.label("qa_passed"),
        sa.func.coalesce(f.failed_rules, 0).label("failed_rules"),
        sa.func.coalesce(f.points_lost, 0.0).label("points_lost"),
        f.call_id.is_not(None).label("flagged"),
        c.quality_ok,
        c.quality_flags,
    ).select_from(_calls_with_qa())
    stmt = where.apply(stmt, Call.__table__.c)
    if score_min is not None:
        stmt = stmt.where(q.score >= float(score_min))
    if score_max is not None:
        stmt = stmt.where(q.score <= float(score_max))
    if failed_rule is not None:
        r = RuleResultRow.__table__.c
        stmt = stmt.where(
            sa.exists().where(r.call_id == c.call_id, r.rule_id == failed_rule, sa.not_(r.passed))
        )
    if label_value is not None and label is None:
        raise ValueError("label_value needs label")
    lab = v_latest_labels.c
    has_label = sa.exists().where(lab.call_id == c.call_id)
    if label is not None:
        has_label = has_label.where(lab.label == label)
    if label_value is not None:
        stmt = stmt.where(has_label.where(lab.value == label_value))
    elif labelled is True or (labelled is None and label is not None):
        stmt = stmt.where(has_label)
    elif labelled is False:
        stmt = stmt.where(sa.not_(has_label))
    if model_version is not None:
        s = ScoreRow.__table__.c
        stmt = stmt.where(sa.exists().where(s.call_id == c.call_id, s.model_version == model_version))
    if flagged_only:
        stmt = stmt.where(f.call_id.is_not(None))
    orders = {
        "worst": (
            q.score.asc().nulls_last(),
            sa.func.coalesce(f.points_lost, 0.0).desc(),
            c.call_date.desc(),
        ),
        "newest": (c.call_date.desc(), c.started_at.desc().nulls_last()),
        "oldest": (c.call_date.asc(), c.started_at.asc().nulls_last()),
        "longest": (c.duration.desc(),),
    }
    if order not in orders:
        raise ValueError(f"order must be one of {sorted(orders)}, got {order!r}")
    stmt = stmt.order_by(*orders[order], c.call_id)
    if limit is not None:
        stmt = stmt.limit(int(limit))
    return frame(source, stmt)


def qa_summary(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
    *,
    by: CallGroup = "call_date",
) -> pd.DataFrame:
    """Calls grouped by ``by`` (call_date, agent_id or queue): calls, minutes, scored (calls with a QA
    score), passed, mean_qa_score, pass_rate (passed / scored, NaN when none is scored), flagged and
    quality_issues. Calls with a quality flag (:mod:`qc.quality`) count in ``calls``, ``minutes`` and
    ``quality_issues`` only: their scores say more about the recording than about the agent."""
    c, q, f = Call.__table__.c, QAScoreRow.__table__.c, v_flagged_calls.c
    groups = {"call_date": c.call_date, "agent_id": c.agent_id, "queue": c.queue}
    if by not in groups:
        raise ValueError(f"by must be one of {sorted(groups)}, got {by!r}")
    key = groups[by]
    stmt = sa.select(
        key.label(by),
        sa.func.count().label("calls"),
        (sa.func.sum(c.duration) / 60.0).label("minutes"),
        sa.func.count(sa.case((c.quality_ok, q.score))).label("scored"),
        sa.func.sum(sa.case((sa.and_(c.quality_ok, q.passed), 1), else_=0)).label("passed"),
        sa.func.avg(sa.case((c.quality_ok, q.score))).label("mean_qa_score"),
        sa.func.sum(sa.case((f.call_id.is_not(None), 1), else_=0)).label("flagged"),
        sa.func.sum(sa.case((c.quality_ok, 0), else_=1)).label("quality_issues"),
    ).select_from(_calls_with_qa())
    stmt = where.apply(stmt, Call.__table__.c)
    df = frame(source, stmt.group_by(key).order_by(key))
    for col in ("calls", "scored", "passed", "flagged", "quality_issues"):
        df[col] = df[col].fillna(0).astype(int)
    df["pass_rate"] = (df["passed"] / df["scored"].where(df["scored"] > 0)).astype(float)
    return df


def qa_scores(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
) -> pd.DataFrame:
    """One row per scored call: call_id, call_date, agent_id, queue, score, passed (for distributions)."""
    c, q = Call.__table__.c, QAScoreRow.__table__.c
    stmt = sa.select(c.call_id, c.call_date, c.agent_id, c.queue, q.score, q.passed).select_from(
        Call.__table__.join(QAScoreRow.__table__, q.call_id == c.call_id)
    )
    stmt = where.apply(stmt, Call.__table__.c)
    return frame(source, stmt.order_by(c.call_date, c.call_id))


def rule_failures(
    source: Warehouse | Engine | Connection,
    where: CallFilter = ALL_CALLS,
    *,
    by: CallGroup | None = None,
) -> pd.DataFrame:
    """Failed rules counted per rule (and per ``by`` when given): [by,] rule_id, kind, failures (calls
    that failed the rule), points_lost; most failures first."""
    c, r = Call.__table__.c, RuleResultRow.__table__.c
    groups = {"call_date": c.call_date, "agent_id": c.agent_id, "queue": c.queue}
    if by is not None and by not in groups:
        raise ValueError(f"by must be None or one of {sorted(groups)}, got {by!r}")
    keys = ([groups[by].label(by)] if by else []) + [r.rule_id, r.kind]
    stmt = (
        sa.select(
            *keys,
            sa.func.count().label("failures"),
            sa.func.sum(r.points_lost).label("points_lost"),
        )
        .select_from(RuleResultRow.__table__.join(Call.__table__, c.call_id == r.call_id))
        .where(sa.not_(r.passed))
    )
    stmt = where.apply(stmt, Call.__table__.c)
    group = ([groups[by]] if by else []) + [r.rule_id, r.kind]
    order = ([groups[by]] if by else []) + [sa.func.count().desc(), r.rule_id]
    return frame(source, stmt.group_by(*group).order_by(*order))


def distinct_values(source: Warehouse | Engine | Connection, what: DistinctOf) -> list[str]:
    """The distinct non-empty values of one filter column, sorted: agent_id, queue (calls), rule_id
    (rule results), label (human labels), score_label or model_version (model scores)."""
    columns = {
        "agent_id": Call.__table__.c.agent_id,
        "queue": Call.__table__.c.queue,
        "rule_id": RuleResultRow.__table__.c.rule_id,
        "label": LabelRow.__table__.c.label,
        "score_label": ScoreRow.__table__.c.label,
        "model_version": ScoreRow.__table__.c.model_version,
    }
    if what not in columns:
        raise ValueError(f"what must be one of {sorted(columns)}, got {what!r}")
    col = columns[what]
    df = frame(source, sa.select(col).where(col.is_not(None)).distinct().order_by(col))
    return [str(v) for v in df.iloc[:, 0] if str(v) != ""]


def date_bounds(source: Warehouse | Engine | Connection) -> tuple[date | None, date | None]:
    """The first and last call date stored (None, None for an empty warehouse)."""
    c = Call.__table__.c
    df = frame(source, sa.select(sa.func.min(c.call_date).label("lo"), sa.func.max(c.call_date).label("hi")))
    lo, hi = df.iloc[0]["lo"], df.iloc[0]["hi"]
    return (_as_date(lo), _as_date(hi))


def _as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite's MIN() of a DATE column comes back as text


def label_values(source: Warehouse | Engine | Connection) -> pd.DataFrame:
    """Every (label, value) pair seen in human labels or model scores: label, value (sorted)."""
    lab, s = LabelRow.__table__.c, ScoreRow.__table__.c
    union = sa.union(sa.select(lab.label, lab.value), sa.select(s.label, s.value)).subquery()
    return frame(source, sa.select(union.c.label, union.c.value).order_by(union.c.label, union.c.value))


def label_activity(
    source: Warehouse | Engine | Connection, *, who: str | None = None, limit: int = 200
) -> pd.DataFrame:
    """The latest label rows written (history, newest first): at, who, source, call_id, external_id,
    label, value."""
    lab, c = LabelRow.__table__.c, Call.__table__.c
    stmt = sa.select(
        lab.at, lab.who, lab.source, lab.call_id, c.external_id, lab.label, lab.value
    ).select_from(LabelRow.__table__.join(Call.__table__, c.call_id == lab.call_id))
    if who is not None:
        stmt = stmt.where(lab.who == who)
    return frame(source, stmt.order_by(lab.at.desc(), lab.id.desc()).limit(int(limit)))


def model_agreement(source: Warehouse | Engine | Connection) -> pd.DataFrame:
    """Per model version and label: scored calls, labelled (calls with a human label), agreed (model
    value equals the latest human label) and agreement (agreed / labelled, NaN without labels)."""
    v = v_call_scores.c
    stmt = sa.select(
        v.model_version,
        v.label,
        sa.func.count().label("scored"),
        sa.func.count(v.human_value).label("labelled"),
        sa.func.sum(sa.case((v.agrees, 1), else_=0)).label("agreed"),
    ).group_by(v.model_version, v.label)
    df = frame(source, stmt.order_by(v.model_version, v.label))
    for col in ("scored", "labelled", "agreed"):
        df[col] = df[col].fillna(0).astype(int)
    df["agreement"] = (df["agreed"] / df["labelled"].where(df["labelled"] > 0)).astype(float)
    return df


def find_calls(source: Warehouse | Engine | Connection, key: str, *, limit: int = 20) -> pd.DataFrame:
    """Calls whose call id or external id is exactly ``key``: call_id, external_id, agent_id,
    call_date (newest first)."""
    c = Call.__table__.c
    key = key.strip()
    stmt = (
        sa.select(c.call_id, c.external_id, c.agent_id, c.call_date)
        .where(sa.or_(c.call_id == key, c.external_id == key))
        .order_by(c.call_date.desc(), c.call_id)
        .limit(int(limit))
    )
    return frame(source, stmt)
