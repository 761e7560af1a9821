"""Labels of spans of calls (labelled utterances) and per-turn model scores.

``labels`` gains ``start_s``/``end_s`` (NULL: a label of the whole call); ``v_latest_labels`` keeps the
whole-call labels, ``v_latest_turn_labels`` the latest label per (call, label, span). ``turn_scores``
holds each turn's predictions by the model version that scored the call last.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from warehouse.coltypes import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# as in 0001, recreated over the new v_latest_labels
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

V_LATEST_LABELS_0001 = """
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

V_LATEST_LABELS = """
CREATE VIEW v_latest_labels AS
SELECT l.call_id, c.external_id, l.label, l.value, l.who, l.source, l.at
FROM (
    SELECT id, call_id, label, value, who, source, at,
           ROW_NUMBER() OVER (PARTITION BY call_id, label ORDER BY at DESC, id DESC) AS rn
    FROM labels
    WHERE start_s IS NULL
) l
JOIN calls c ON c.call_id = l.call_id
WHERE l.rn = 1
"""

V_LATEST_TURN_LABELS = """
CREATE VIEW v_latest_turn_labels AS
SELECT l.call_id, c.external_id, l.start_s, l.end_s, l.label, l.value, l.who, l.source, l.at
FROM (
    SELECT id, call_id, start_s, end_s, label, value, who, source, at,
           ROW_NUMBER() OVER (PARTITION BY call_id, label, start_s, end_s ORDER BY at DESC, id DESC) AS rn
    FROM labels
    WHERE start_s IS NOT NULL
) l
JOIN calls c ON c.call_id = l.call_id
WHERE l.rn = 1
"""


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_call_scores")
    op.execute("DROP VIEW IF EXISTS v_latest_labels")
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("start_s", sa.Double(), nullable=True))
        batch.add_column(sa.Column("end_s", sa.Double(), nullable=True))
    op.execute(V_LATEST_LABELS)
    op.execute(V_LATEST_TURN_LABELS)
    op.execute(V_CALL_SCORES)
    op.create_table(
        "turn_scores",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("start_s", sa.Double(), nullable=False),
        sa.Column("end_s", sa.Double(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("probabilities", JSON, nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "seq", "label", name="pk_turn_scores"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], name="fk_turn_scores_call_id_calls",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_turn_scores_model_version_label", "turn_scores", ["model_version", "label"])


def downgrade() -> None:
    op.drop_index("ix_turn_scores_model_version_label", "turn_scores")
    op.drop_table("turn_scores")
    op.execute("DROP VIEW IF EXISTS v_call_scores")
    op.execute("DROP VIEW IF EXISTS v_latest_turn_labels")
    op.execute("DROP VIEW IF EXISTS v_latest_labels")
    op.execute("DELETE FROM labels WHERE start_s IS NOT NULL")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("end_s")
        batch.drop_column("start_s")
    op.execute(V_LATEST_LABELS_0001)
    op.execute(V_CALL_SCORES)
