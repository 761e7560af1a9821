"""The analysts' labels: imported all or nothing, set one at a time, read as their latest value."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from warehouse.base import IN_CHUNK, StoreBase
from warehouse.coltypes import utcnow
from warehouse.schema import (
    Call,
    LabelRow,
    v_latest_labels,
    v_latest_turn_labels,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class LabelImportReport:
    """What :meth:`Warehouse.import_labels` did. Nothing is imported unless :attr:`ok`."""

    imported: int
    unchanged: int  # rows whose value already was the latest label: not stored again
    unknown_ids: tuple[str, ...] = ()  # external ids no stored call has
    ambiguous_ids: tuple[str, ...] = ()  # external ids that name more than one stored call
    conflicts: tuple[tuple[str, str], ...] = ()  # (external id, label) given twice with different values
    invalid_rows: tuple[int, ...] = ()  # 0-based indexes of rows with an empty field or a bad span

    @property
    def ok(self) -> bool:
        return not (self.unknown_ids or self.ambiguous_ids or self.conflicts or self.invalid_rows)

    def describe(self) -> str:
        if self.ok:
            return f"imported {self.imported} labels ({self.unchanged} unchanged)"
        parts = []
        if self.unknown_ids:
            parts.append(f"{len(self.unknown_ids)} unknown call ids: {', '.join(self.unknown_ids[:10])}")
        if self.ambiguous_ids:
            parts.append(
                f"{len(self.ambiguous_ids)} ambiguous call ids: {', '.join(self.ambiguous_ids[:10])}"
            )
        if self.conflicts:
            shown = ", ".join(f"{e}/{lab}" for e, lab in self.conflicts[:10])
            parts.append(f"{len(self.conflicts)} conflicting rows: {shown}")
        if self.invalid_rows:
            parts.append(
                f"{len(self.invalid_rows)} rows with an empty field or a span outside the call "
                f"(rows {list(self.invalid_rows[:10])})"
            )
        return "nothing imported: " + "; ".join(parts)


class LabelStore(StoreBase):
    def import_labels(self, rows: Sequence[Sequence[Any]], who: str, source: str) -> LabelImportReport:
        """Import human labels ``(external call id, label, value)`` or ``(external call id, label, value,
        start, end)``, all or nothing. A row with ``start`` and ``end`` (seconds; both or neither) labels
        that span of the call (a labelled utterance), one without them the whole call.

        If any external id is unknown or names several stored calls, any (id, label, span) is given twice
        with different values, any field is empty, or a span is not a part of its call (``0 <= start <
        end <= duration``), nothing is imported and the report says why. Rows whose value already is
        the latest label of that (call, label, span) are not stored again, so importing the same file
        twice changes nothing.
        """
        parsed: dict[int, tuple[str, str, str, tuple[float, float] | None]] = {}
        invalid: list[int] = []
        for i, r in enumerate(rows):
            parts = [str(x).strip() if x is not None else "" for x in r]
            if len(parts) not in (3, 5) or not all(parts[:3]):
                invalid.append(i)
                continue
            span = None
            if len(parts) == 5 and (parts[3] or parts[4]):
                try:
                    span = (float(parts[3]), float(parts[4]))
                except ValueError:
                    invalid.append(i)
                    continue
                if not (0 <= span[0] < span[1]):
                    invalid.append(i)
                    continue
            parsed[i] = (parts[0], parts[1], parts[2], span)
        wanted: dict[tuple[str, str, tuple[float, float] | None], str] = {}
        conflicts: dict[tuple[str, str], None] = {}
        for ext, label, value, span in parsed.values():
            if wanted.setdefault((ext, label, span), value) != value:
                conflicts[(ext, label)] = None
        external_ids = sorted({ext for ext, _, _ in wanted})
        with self._write() as s:
            by_ext: dict[str, list[tuple[str, float]]] = {}
            for i in range(0, len(external_ids), IN_CHUNK):
                chunk = external_ids[i : i + IN_CHUNK]
                for ext, cid, duration in s.execute(
                    sa.select(Call.external_id, Call.call_id, Call.duration).where(Call.external_id.in_(chunk))
                ):
                    by_ext.setdefault(ext, []).append((cid, duration))
            unknown = tuple(e for e in external_ids if e not in by_ext)
            ambiguous = tuple(e for e in external_ids if len(by_ext.get(e, ())) > 1)
            outside = [i for i, (ext, _, _, span) in parsed.items()
                       if span is not None and ext in by_ext and span[1] > by_ext[ext][0][1] + 0.01]
            report = LabelImportReport(
                imported=0,
                unchanged=0,
                unknown_ids=unknown,
                ambiguous_ids=ambiguous,
                conflicts=tuple(conflicts),
                invalid_rows=tuple(sorted(invalid + outside)),
            )
            if not report.ok:
                return report
            call_of = {e: by_ext[e][0][0] for e in external_ids}
            current = self._latest_labels(s, sorted(set(call_of.values())))
            current_spans = self._latest_span_labels(s, sorted(set(call_of.values())))
            now = utcnow()
            new_rows = []
            unchanged = 0
            for (ext, label, span), value in wanted.items():
                call_id = call_of[ext]
                latest = current.get((call_id, label)) if span is None else current_spans.get((call_id, label, span))
                if latest == value:
                    unchanged += 1
                    continue
                new_rows.append(
                    {
                        "call_id": call_id,
                        "label": label,
                        "value": value,
                        "who": who,
                        "source": source,
                        "at": now,
                        "start_s": None if span is None else span[0],
                        "end_s": None if span is None else span[1],
                    }
                )
            if new_rows:
                s.execute(LabelRow.__table__.insert(), new_rows)
        return dataclasses.replace(report, imported=len(new_rows), unchanged=unchanged)

    def _latest_span_labels(self, s: Session, call_ids: list[str]) -> dict[tuple[str, str, tuple[float, float]], str]:
        v = v_latest_turn_labels.c
        out: dict[tuple[str, str, tuple[float, float]], str] = {}
        for i in range(0, len(call_ids), IN_CHUNK):
            chunk = call_ids[i : i + IN_CHUNK]
            q = sa.select(v.call_id, v.label, v.start_s, v.end_s, v.value).where(v.call_id.in_(chunk))
            out.update({(c, lab, (a, b)): val for c, lab, a, b, val in s.execute(q)})
        return out

    def _latest_labels(self, s: Session, call_ids: list[str]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for i in range(0, len(call_ids), IN_CHUNK):
            chunk = call_ids[i : i + IN_CHUNK]
            q = sa.select(v_latest_labels.c.call_id, v_latest_labels.c.label, v_latest_labels.c.value).where(
                v_latest_labels.c.call_id.in_(chunk)
            )
            out.update({(c, lab): v for c, lab, v in s.execute(q)})
        return out

    def set_label(self, call_id: str, label: str, value: str, who: str, source: str = "dashboard") -> None:
        """Set or correct one label; the previous values stay in the history (who, when)."""
        with self._write() as s:
            if s.get(Call, call_id) is None:
                raise KeyError(f"no call {call_id!r}")
            s.add(LabelRow(call_id=call_id, label=label, value=value, who=who, source=source, at=utcnow()))

    def labels_frame(self) -> pd.DataFrame:
        """The latest label per (call, label): call_id, external_id, label, value, who, at."""
        from warehouse.frames import frame

        cols = [v_latest_labels.c[n] for n in ("call_id", "external_id", "label", "value", "who", "at")]
        stmt = sa.select(*cols).order_by(v_latest_labels.c.call_id, v_latest_labels.c.label)
        return frame(self.engine, stmt)

    def turn_labels_frame(self) -> pd.DataFrame:
        """The latest label per (call, label, span) of the labelled spans of calls: call_id,
        external_id, start_s, end_s, label, value, who, at."""
        from warehouse.frames import frame

        v = v_latest_turn_labels.c
        cols = [v[n] for n in ("call_id", "external_id", "start_s", "end_s", "label", "value", "who", "at")]
        return frame(self.engine, sa.select(*cols).order_by(v.call_id, v.start_s, v.label))

    def label_history(self, call_id: str) -> pd.DataFrame:
        """Every label ever set on a call, oldest first."""
        from warehouse.frames import frame

        t = LabelRow.__table__
        stmt = sa.select(t.c.label, t.c.value, t.c.who, t.c.source, t.c.at).where(t.c.call_id == call_id)
        return frame(self.engine, stmt.order_by(t.c.at, t.c.id))

    # --- model versions -------------------------------------------------------------------------
