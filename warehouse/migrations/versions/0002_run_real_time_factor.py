"""Runs record their real-time factor (processing seconds per audio second).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("real_time_factor", sa.Double(), nullable=True))
    op.execute("UPDATE pipeline_runs SET real_time_factor = processing_seconds / audio_seconds "
               "WHERE audio_seconds > 0 AND processing_seconds IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("real_time_factor")
