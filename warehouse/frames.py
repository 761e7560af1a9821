"""SQL results as DataFrames with the same Python values on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.coltypes import UTCDateTime


class HasEngine(Protocol):
    engine: Engine


def engine_of(source: HasEngine | Engine) -> Engine:
    return source if isinstance(source, Engine) else source.engine


def frame(source: HasEngine | Engine | Connection, stmt: sa.Select[Any]) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a DataFrame with the statement's column names.

    The statement's column types are applied by SQLAlchemy, so SQLite and PostgreSQL give the same
    Python values (dates as dates, booleans as booleans, JSON decoded); datetimes become UTC timestamps.
    """
    if not isinstance(source, Connection):
        with engine_of(source).connect() as conn:
            return frame(conn, stmt)
    result = source.execute(stmt)
    columns = list(result.keys())
    df = pd.DataFrame(result.fetchall(), columns=columns)
    for col in stmt.selected_columns:
        if isinstance(col.type, UTCDateTime | sa.DateTime) and col.name in df:
            df[col.name] = pd.to_datetime(df[col.name], utc=True)
        elif isinstance(col.type, sa.Boolean) and col.name in df and not df[col.name].isna().any():
            df[col.name] = df[col.name].astype(bool)
    return df
