"""Pipeline runs and the rejections they stored."""

from __future__ import annotations

import hashlib
import platform
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from qc.records import (
    Rejection,
)
from warehouse.base import StoreBase
from warehouse.coltypes import utcnow
from warehouse.schema import (
    PipelineRun,
    RejectionRow,
)

if TYPE_CHECKING:

    pass

class RunStore(StoreBase):
    def start_run(self, settings_dict: dict[str, Any], code_version: str) -> str:
        """Record the start of a run; returns its id (32 hex characters)."""
        run_id = uuid.uuid4().hex
        with self._write() as s:
            s.add(
                PipelineRun(
                    run_id=run_id,
                    started_at=utcnow(),
                    status="running",
                    settings=dict(settings_dict),
                    code_version=code_version,
                    host=platform.node()[:255] or None,
                )
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        processed: int,
        rejected: int,
        skipped: int,
        audio_seconds: float,
        processing_seconds: float,
        mean_qa_score: float | None,
        flagged: int,
        report_markdown: str | None = None,
        real_time_factor: float | None = None,
    ) -> None:
        """Record the end of a run and its counts (calling it again overwrites them).
        ``real_time_factor``: wall seconds per audio second (default: processing / audio seconds)."""
        if real_time_factor is None and audio_seconds > 0:
            real_time_factor = processing_seconds / audio_seconds
        with self._write() as s:
            run = s.get(PipelineRun, run_id)
            if run is None:
                raise KeyError(f"no pipeline run {run_id!r}")
            run.finished_at = utcnow()
            run.status = "finished"
            run.processed, run.rejected, run.skipped, run.flagged = processed, rejected, skipped, flagged
            run.audio_seconds, run.processing_seconds = audio_seconds, processing_seconds
            run.mean_qa_score = mean_qa_score
            run.real_time_factor = real_time_factor
            run.report_markdown = report_markdown

    # --- calls ----------------------------------------------------------------------------------

    def save_rejection(self, rej: Rejection, run_id: str) -> None:
        """Store a rejected file. The same file rejected again (same content hash, or without a hash the
        same reason) updates its row: ``last_seen_at``, ``last_run_id``, ``times_seen`` (counted once per
        run), the latest reason; ``first_seen_at`` and ``first_run_id`` stay."""
        now = utcnow()
        identity = rej.call_id if rej.call_id else f"reason:{rej.reason}"
        key = hashlib.sha256(f"{rej.file}\x00{identity}".encode()).hexdigest()
        table = RejectionRow.__table__
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["rejection_key"],
            set_={
                "reason": stmt.excluded.reason,
                "external_id": sa.func.coalesce(stmt.excluded.external_id, table.c.external_id),
                "last_seen_at": stmt.excluded.last_seen_at,
                "last_run_id": stmt.excluded.last_run_id,
                "times_seen": table.c.times_seen
                + sa.case((table.c.last_run_id == stmt.excluded.last_run_id, 0), else_=1),
            },
        )
        row = {
            "rejection_key": key,
            "file": rej.file,
            "call_id": rej.call_id,
            "external_id": rej.external_id,
            "reason": rej.reason,
            "first_seen_at": now,
            "last_seen_at": now,
            "first_run_id": run_id,
            "last_run_id": run_id,
            "times_seen": 1,
        }
        with self._write() as s:
            s.execute(stmt, row)

    # --- labels ---------------------------------------------------------------------------------
