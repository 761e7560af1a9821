"""Initial warehouse schema: calls and their derived rows, scores, labels, model versions, runs,
rejections, and the analyst views.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from warehouse.coltypes import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _call_fk() -> sa.ForeignKey:
    return sa.ForeignKey("calls.call_id", ondelete="CASCADE")


# Frozen copy of qc.records.ConversationMetrics as of this revision (a new field needs a new migration).
METRICS_0001: list[tuple[str, type, bool]] = [
    ("duration", float, False),
    ("talk_time_agent", float, False),
    ("talk_time_customer", float, False),
    ("talk_ratio_agent", float, True),
    ("silence_total", float, False),
    ("silence_longest", float, False),
    ("silence_count", int, False),
    ("overtalk_time", float, False),
    ("overtalk_ratio", float, False),
    ("interruptions_agent", int, False),
    ("interruptions_customer", int, False),
    ("response_latency_agent", float, True),
    ("response_latency_customer", float, True),
    ("words_per_minute_agent", float, True),
    ("words_per_minute_customer", float, True),
    ("turns_agent", int, False),
    ("turns_customer", int, False),
    ("time_to_greeting", float, True),
    ("sentiment_agent_start", float, True),
    ("sentiment_agent_end", float, True),
    ("sentiment_customer_start", float, True),
    ("sentiment_customer_end", float, True),
]

V_LATEST_LABELS = """
CREATE VIEW v_latest_labels AS
SELECT l.call_id, c.external_id, l.label, l.value, l.who, l.source, l.at
FROM (
    SELECT id, call_id, label, value, who, source, at,
           ROW_NUMBER() OVER (PARTITION BY call_id, label ORDER BY at DESC, id DESC) AS rn
    FROM labels
) l
JOIN calls c ON c.call_id = l.call_id
WHERE l.rn = 1
"""

V_CALL_SCORES = """
CREATE VIEW v_call_scores AS
SELECT s.call_id, c.external_id, c.agent_id, c.queue, c.started_at, c.call_date, c.duration,
       s.label, s.model_version, s.value, s.confidence, s.probabilities, s.scored_at,
       COALESCE(m.promoted, FALSE) AS promoted,
       h.value AS human_value,
       CASE WHEN h.value IS NULL THEN NULL WHEN h.value = s.value THEN TRUE ELSE FALSE END AS agrees
FROM scores s
JOIN calls c ON c.call_id = s.call_id
LEFT JOIN model_versions m ON m.version = s.model_version
LEFT JOIN v_latest_labels h ON h.call_id = s.call_id AND h.label = s.label
"""

V_FLAGGED_CALLS = """
CREATE VIEW v_flagged_calls AS
SELECT c.call_id, c.external_id, c.agent_id, c.queue, c.started_at, c.call_date, c.duration,
       q.score AS qa_score, q.passed AS qa_passed,
       COALESCE(r.failed_rules, 0) AS failed_rules,
       COALESCE(r.forbidden_hits, 0) AS forbidden_hits,
       COALESCE(r.points_lost, 0.0) AS points_lost
FROM calls c
LEFT JOIN qa_scores q ON q.call_id = c.call_id
LEFT JOIN (
    SELECT call_id,
           COUNT(*) AS failed_rules,
           SUM(CASE WHEN kind = 'forbidden_phrase' THEN 1 ELSE 0 END) AS forbidden_hits,
           SUM(points_lost) AS points_lost
    FROM rule_results
    WHERE NOT passed
    GROUP BY call_id
) r ON r.call_id = c.call_id
WHERE (q.passed IS NOT NULL AND NOT q.passed) OR r.call_id IS NOT NULL
"""

V_AGENT_DAILY = """
CREATE VIEW v_agent_daily AS
SELECT c.agent_id, c.call_date,
       COUNT(*) AS calls,
       SUM(c.duration) / 60.0 AS minutes,
       AVG(q.score) AS mean_qa_score,
       SUM(CASE WHEN q.passed IS NOT NULL AND NOT q.passed THEN 1 ELSE 0 END) AS qa_failed,
       SUM(CASE WHEN f.call_id IS NOT NULL THEN 1 ELSE 0 END) AS flagged,
       AVG(m.talk_ratio_agent) AS mean_talk_ratio_agent,
       AVG(m.silence_total) AS mean_silence_total,
       AVG(m.overtalk_ratio) AS mean_overtalk_ratio,
       SUM(m.interruptions_agent) AS interruptions_agent,
       AVG(m.response_latency_agent) AS mean_response_latency_agent
FROM calls c
LEFT JOIN qa_scores q ON q.call_id = c.call_id
LEFT JOIN conversation_metrics m ON m.call_id = c.call_id
LEFT JOIN v_flagged_calls f ON f.call_id = c.call_id
GROUP BY c.agent_id, c.call_date
"""

VIEWS = ("v_agent_daily", "v_flagged_calls", "v_call_scores", "v_latest_labels")  # drop order


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=True),
        sa.Column("rejected", sa.Integer(), nullable=True),
        sa.Column("skipped", sa.Integer(), nullable=True),
        sa.Column("flagged", sa.Integer(), nullable=True),
        sa.Column("audio_seconds", sa.Double(), nullable=True),
        sa.Column("processing_seconds", sa.Double(), nullable=True),
        sa.Column("mean_qa_score", sa.Double(), nullable=True),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("report_markdown", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_pipeline_runs"),
    )
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=True),
        sa.Column("queue", sa.String(128), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("call_date", sa.Date(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("layout", sa.String(8), nullable=False),
        sa.Column("channels", sa.SmallInteger(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("agent_channel", sa.SmallInteger(), nullable=True),
        sa.Column("role_confidence", sa.Double(), nullable=True),
        sa.Column("role_strategy", sa.String(64), nullable=True),
        sa.Column("timings", JSON, nullable=False),
        sa.Column("first_processed_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_calls"),
        sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.run_id"], name="fk_calls_run_id_pipeline_runs"),
    )
    op.create_index("ix_calls_external_id", "calls", ["external_id"])
    op.create_index("ix_calls_call_date", "calls", ["call_date"])
    op.create_index("ix_calls_run_id", "calls", ["run_id"])
    op.create_index("ix_calls_agent_id_call_date", "calls", ["agent_id", "call_date"])

    op.create_table(
        "qa_scores",
        sa.Column("call_id", sa.String(64), _call_fk(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("breakdown", JSON, nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_qa_scores"),
    )
    for name, extra in (
        ("turns", [sa.Column("sentiment", sa.Double(), nullable=True)]),
        ("words", [sa.Column("probability", sa.Double(), nullable=False)]),
    ):
        op.create_table(
            name,
            sa.Column("call_id", sa.String(64), _call_fk(), nullable=False),
            sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("start_s", sa.Double(), nullable=False),
            sa.Column("end_s", sa.Double(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            *extra,
            sa.Column("channel", sa.SmallInteger(), nullable=False),
            sa.Column("speaker", sa.String(64), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("overlap", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("call_id", "seq", name=f"pk_{name}"),
        )
    op.create_table(
        "conversation_metrics",
        sa.Column("call_id", sa.String(64), _call_fk(), nullable=False),
        *[
            sa.Column(name, sa.Integer() if kind is int else sa.Double(), nullable=nullable)
            for name, kind, nullable in METRICS_0001
        ],
        sa.PrimaryKeyConstraint("call_id", name="pk_conversation_metrics"),
    )
    op.create_table(
        "rule_results",
        sa.Column("call_id", sa.String(64), _call_fk(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("points_lost", sa.Double(), nullable=False),
        sa.Column("evidence_text", sa.Text(), nullable=True),
        sa.Column("evidence_start_s", sa.Double(), nullable=True),
        sa.Column("evidence_end_s", sa.Double(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "seq", name="pk_rule_results"),
    )
    op.create_index("ix_rule_results_rule_id", "rule_results", ["rule_id"])

    op.create_table(
        "scores",
        sa.Column("call_id", sa.String(64), _call_fk(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("probabilities", JSON, nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "label", "model_version", name="pk_scores"),
    )
    op.create_index("ix_scores_model_version_label", "scores", ["model_version", "label"])

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labels"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], name="fk_labels_call_id_calls"),
    )
    op.create_index("ix_labels_call_id_label_at", "labels", ["call_id", "label", "at"])

    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("label_schema", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("test_split", JSON, nullable=False),
        sa.Column("report_markdown", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_model_versions"),
    )
    op.create_index(
        "uq_model_versions_one_promoted",
        "model_versions",
        ["promoted"],
        unique=True,
        sqlite_where=sa.text("promoted"),
        postgresql_where=sa.text("promoted"),
    )
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=False),
        sa.Column("rolled_back_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_model_promotions"),
        sa.ForeignKeyConstraint(
            ["version"], ["model_versions.version"], name="fk_model_promotions_version_model_versions"
        ),
    )
    op.create_index("ix_model_promotions_version", "model_promotions", ["version"])

    op.create_table(
        "rejections",
        sa.Column("rejection_key", sa.String(64), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("first_run_id", sa.String(32), nullable=False),
        sa.Column("last_run_id", sa.String(32), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rejection_key", name="pk_rejections"),
        sa.ForeignKeyConstraint(
            ["first_run_id"], ["pipeline_runs.run_id"], name="fk_rejections_first_run_id_pipeline_runs"
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["pipeline_runs.run_id"], name="fk_rejections_last_run_id_pipeline_runs"
        ),
    )
    op.create_index("ix_rejections_call_id", "rejections", ["call_id"])
    op.create_index("ix_rejections_last_seen_at", "rejections", ["last_seen_at"])

    for sql in (V_LATEST_LABELS, V_CALL_SCORES, V_FLAGGED_CALLS, V_AGENT_DAILY):
        op.execute(sql)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (
        "rejections",
        "model_promotions",
        "model_versions",
        "labels",
        "scores",
        "rule_results",
        "conversation_metrics",
        "words",
        "turns",
        "qa_scores",
        "calls",
        "pipeline_runs",
    ):
        op.drop_table(table)
