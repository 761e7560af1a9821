"""The label schema a classifier is built from: label names and their values, as the labels bring them.

Nothing here knows the synthetic labels: any label name and any set of values work. Targets are
class indexes per label, ``-1`` where a call has no label of that name (masked out of that head's
loss and metrics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

MISSING = -1


@dataclass(frozen=True)
class LabelSchema:
    """Ordered labels, each with its ordered values (a value's index is its class index)."""

    labels: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str]], min_values: int = 2) -> LabelSchema:
        """The schema of ``(call_id, label, value)`` rows: labels and values sorted by name. Labels
        with fewer than ``min_values`` distinct values cannot be learned and are left out."""
        values: dict[str, set[str]] = {}
        for _, label, value in rows:
            values.setdefault(str(label), set()).add(str(value))
        return cls(tuple((lab, tuple(sorted(vals))) for lab, vals in sorted(values.items())
                         if len(vals) >= min_values))

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LabelSchema:
        """From :meth:`to_json` (``{label: {"values": [...]}}``, the warehouse's ``label_schema``)."""
        out = []
        for label, spec in data.items():
            vals = spec["values"] if isinstance(spec, Mapping) else spec
            out.append((str(label), tuple(str(v) for v in vals)))  # type: ignore[union-attr]
        return cls(tuple(out))

    def to_json(self) -> dict[str, dict[str, list[str]]]:
        return {label: {"values": list(values)} for label, values in self.labels}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.labels)

    def values(self, label: str) -> tuple[str, ...]:
        return dict(self.labels)[label]

    def sizes(self) -> dict[str, int]:
        return {label: len(values) for label, values in self.labels}

    def encode(self, call_ids: list[str], rows: Iterable[tuple[str, str, str]]) -> dict[str, np.ndarray]:
        """label -> (len(call_ids),) int64 class indexes; :data:`MISSING` where a call has no such label
        or a value outside the schema."""
        pos = {cid: i for i, cid in enumerate(call_ids)}
        out = {label: np.full(len(call_ids), MISSING, np.int64) for label in self.names}
        index = {label: {v: k for k, v in enumerate(vals)} for label, vals in self.labels}
        for cid, label, value in rows:
            if cid in pos and label in index:
                out[label][pos[cid]] = index[label].get(str(value), MISSING)
        return out
