"""Each call an agent's voiceprint was enrolled from keeps its voice (embedding, seconds, when), so that
one call's contribution can be taken out again when its roles turn out wrong. NULL for calls enrolled
before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from warehouse.coltypes import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("voiceprint_calls") as batch:
        batch.add_column(sa.Column("embedding", JSON, nullable=True))
        batch.add_column(sa.Column("seconds", sa.Double(), nullable=True))
        batch.add_column(sa.Column("enrolled_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voiceprint_calls") as batch:
        batch.drop_column("enrolled_at")
        batch.drop_column("seconds")
        batch.drop_column("embedding")
