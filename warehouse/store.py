"""The :class:`Warehouse`: every write and read of the SQL database goes through here.

Writes are idempotent units of work, one transaction each: a call's rows are replaced as a whole when it
is reprocessed (:meth:`Warehouse.save_call`), scores are upserted by (call, label, model version), a
rejection seen again updates its row, a label import is all-or-nothing.
"""

from __future__ import annotations

from warehouse.calls import CallStore
from warehouse.labels import LabelImportReport, LabelStore
from warehouse.runs import RunStore
from warehouse.versions import ModelStore, ModelVersion
from warehouse.voices import VoiceStore

__all__ = ["LabelImportReport", "ModelVersion", "Warehouse"]


class Warehouse(RunStore, CallStore, VoiceStore, LabelStore, ModelStore):
    """The SQL side of the warehouse, one engine under its parts: runs and rejections
    (:mod:`warehouse.runs`), calls and their children (:mod:`warehouse.calls`), voiceprints
    (:mod:`warehouse.voices`), labels (:mod:`warehouse.labels`) and model versions
    (:mod:`warehouse.versions`). Open with :meth:`open`; one instance per process."""
