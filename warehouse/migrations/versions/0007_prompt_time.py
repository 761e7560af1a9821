"""Conversation metrics measure recorded prompts (an IVR's menu, a queue's announcements) apart from
talk and silence: ``prompt_time`` (0 for calls measured before).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversation_metrics", sa.Column("prompt_time", sa.Double(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("conversation_metrics", "prompt_time")
