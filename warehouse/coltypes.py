"""Column types that behave the same on SQLite and PostgreSQL.

Times are stored as naive UTC (``TIMESTAMP WITHOUT TIME ZONE`` / ISO text on SQLite) and come back as
timezone-aware UTC datetimes. A naive datetime handed in is taken to be UTC already; an aware one is
converted to UTC first. So a call started at 09:00+02:00 is stored as 07:00 and read back as 07:00+00:00,
which compares equal to the original.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def to_utc_naive(value: datetime | None) -> datetime | None:
    """``value`` as a naive UTC datetime (naive input is assumed to be UTC already)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def to_utc_aware(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (naive input is assumed to be UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A point in time: stored naive UTC, returned aware UTC."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return to_utc_naive(value)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return to_utc_aware(value)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)
