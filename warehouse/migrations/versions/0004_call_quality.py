"""Calls record why they have their layout and what the consistency guard found wrong with them.

``calls`` gains ``layout_reason`` (qc.channels' verdict), ``quality_flags`` (a JSON list of sentences;
NULL for calls stored before the guard ran) and ``quality_ok``. ``v_agent_daily`` leaves calls with a
quality flag out of the mean QA score and the failed count, and counts them in ``quality_issues``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

V_AGENT_DAILY_0001 = """
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

V_AGENT_DAILY = """
CREATE VIEW v_agent_daily AS
SELECT c.agent_id, c.call_date,
       COUNT(*) AS calls,
       SUM(c.duration) / 60.0 AS minutes,
       AVG(CASE WHEN c.quality_ok THEN q.score END) AS mean_qa_score,
       SUM(CASE WHEN c.quality_ok AND q.passed IS NOT NULL AND NOT q.passed THEN 1 ELSE 0 END) AS qa_failed,
       SUM(CASE WHEN f.call_id IS NOT NULL THEN 1 ELSE 0 END) AS flagged,
       SUM(CASE WHEN c.quality_ok THEN 0 ELSE 1 END) AS quality_issues,
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


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_agent_daily")
    # plain ALTER TABLE (no batch copy of the table, which SQLite refuses under the views over it)
    op.add_column("calls", sa.Column("layout_reason", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("quality_flags", JSON, nullable=True))
    op.add_column("calls", sa.Column("quality_ok", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute(V_AGENT_DAILY)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_agent_daily")
    for column in ("quality_ok", "quality_flags", "layout_reason"):
        op.drop_column("calls", column)
    op.execute(V_AGENT_DAILY_0001)
