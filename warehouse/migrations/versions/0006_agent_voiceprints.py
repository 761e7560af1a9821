"""Agent voiceprints (qc.voiceprint): one enrolled voice per agent, and the calls it came from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from warehouse.coltypes import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "agent_voiceprints",
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("embedding", JSON, nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_voiceprints"),
    )
    op.create_table(
        "voiceprint_calls",
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "call_id", name="pk_voiceprint_calls"),
        sa.ForeignKeyConstraint(["agent_id"], ["agent_voiceprints.agent_id"],
                                name="fk_voiceprint_calls_agent_id_agent_voiceprints", ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("voiceprint_calls")
    op.drop_table("agent_voiceprints")
