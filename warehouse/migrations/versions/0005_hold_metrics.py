"""Conversation metrics measure hold (sustained sound without speech) and DTMF key tones apart from
silence: ``hold_time``, ``hold_count``, ``tone_time`` (0 for calls measured before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (("hold_time", sa.Double()), ("hold_count", sa.Integer()), ("tone_time", sa.Double()))


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("conversation_metrics", sa.Column(name, kind, nullable=False, server_default="0"))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("conversation_metrics", name)
