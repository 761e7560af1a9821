"""The model registry: versions of the classifier, which one is promoted, and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from warehouse.base import StoreBase
from warehouse.coltypes import utcnow
from warehouse.schema import (
    ModelPromotion,
    ModelVersionRow,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ModelVersion:
    """A registered classifier version (one row of ``model_versions``)."""

    version: str
    artifact_uri: str
    label_schema: dict[str, Any]
    metrics: dict[str, Any]
    test_split: tuple[str, ...]
    report_markdown: str | None
    created_at: datetime
    promoted: bool
    promoted_at: datetime | None


class ModelStore(StoreBase):
    def register_model_version(
        self,
        version: str,
        artifact_uri: str,
        label_schema: dict[str, Any],
        metrics: dict[str, Any],
        test_split: list[str],
        report_markdown: str | None,
    ) -> ModelVersion:
        """Record a trained model version (not promoted). Registering the same version again with the
        same artifact updates its metadata; with another artifact it raises ``ValueError``."""
        with self._write() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                row = ModelVersionRow(version=version, created_at=utcnow(), promoted=False, promoted_at=None)
                s.add(row)
            elif row.artifact_uri != artifact_uri:
                raise ValueError(
                    f"model version {version!r} is already registered with artifact {row.artifact_uri!r}"
                )
            row.artifact_uri = artifact_uri
            row.label_schema = dict(label_schema)
            row.metrics = dict(metrics)
            row.test_split = list(test_split)
            row.report_markdown = report_markdown
            s.flush()
            return _model_version(row)

    def promote(self, version: str) -> ModelVersion:
        """Make ``version`` the one promoted version (no-op if it already is)."""
        with self._write() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                raise KeyError(f"no model version {version!r}")
            if not row.promoted:
                now = utcnow()
                s.execute(sa.update(ModelVersionRow).where(ModelVersionRow.promoted).values(promoted=False))
                s.flush()
                row.promoted, row.promoted_at = True, now
                s.add(ModelPromotion(version=version, promoted_at=now, rolled_back_at=None))
            s.flush()
            return _model_version(row)

    def rollback(self) -> ModelVersion:
        """Undo the latest promotion: the version promoted before it is promoted again.

        Promotions form a stack, so rolling back twice goes back two promotions. Raises ``LookupError``
        (changing nothing) when nothing is promoted or there is no earlier version to go back to.
        """
        with self._write() as s:
            live = list(
                s.scalars(
                    sa.select(ModelPromotion)
                    .where(ModelPromotion.rolled_back_at.is_(None))
                    .order_by(ModelPromotion.id.desc())
                )
            )
            if not live:
                raise LookupError("no promoted model version to roll back")
            current = live[0]
            previous = next((p for p in live[1:] if p.version != current.version), None)
            if previous is None:
                raise LookupError(f"no earlier promoted version to roll back to from {current.version!r}")
            now = utcnow()
            for p in live:  # everything above `previous` on the stack is undone
                if p.id > previous.id:
                    p.rolled_back_at = now
            s.execute(sa.update(ModelVersionRow).where(ModelVersionRow.promoted).values(promoted=False))
            s.flush()
            row = s.get(ModelVersionRow, previous.version)
            assert row is not None
            s.refresh(row)
            row.promoted, row.promoted_at = True, now
            s.flush()
            return _model_version(row)

    def promoted_version(self) -> ModelVersion | None:
        with self._read() as s:
            row = s.scalar(sa.select(ModelVersionRow).where(ModelVersionRow.promoted))
            return _model_version(row) if row is not None else None

    def model_version(self, version: str) -> ModelVersion:
        with self._read() as s:
            row = s.get(ModelVersionRow, version)
            if row is None:
                raise KeyError(f"no model version {version!r}")
            return _model_version(row)

    def model_versions(self) -> pd.DataFrame:
        """Every registered version, newest first."""
        from warehouse.frames import frame

        t = ModelVersionRow.__table__
        return frame(self.engine, sa.select(t).order_by(t.c.created_at.desc(), t.c.version.desc()))


# --- record <-> row -----------------------------------------------------------------------------


def _model_version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        version=row.version,
        artifact_uri=row.artifact_uri,
        label_schema=dict(row.label_schema),
        metrics=dict(row.metrics),
        test_split=tuple(row.test_split),
        report_markdown=row.report_markdown,
        created_at=row.created_at,
        promoted=row.promoted,
        promoted_at=row.promoted_at,
    )
