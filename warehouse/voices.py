"""Agents' enrolled voiceprints (biometric data: :mod:`qc.voiceprint`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from warehouse.base import StoreBase
from warehouse.coltypes import utcnow
from warehouse.schema import (
    AgentVoiceprint,
    VoiceprintCall,
)

if TYPE_CHECKING:
    import pandas as pd


class VoiceStore(StoreBase):
    def voiceprint(self, agent_id: str) -> tuple[np.ndarray, int] | None:
        """An agent's enrolled voice and the number of calls it comes from, or None."""
        with self._read() as s:
            row = s.get(AgentVoiceprint, agent_id)
            return None if row is None else (np.asarray(row.embedding, np.float32), int(row.calls))

    def enrol_voice(self, agent_id: str, call_id: str, embedding: np.ndarray, seconds: float) -> bool:
        """Fold one call's agent voice into the agent's voiceprint; False (and nothing changed) when
        that call was enrolled already."""
        from qc.voiceprint import update

        with self._write() as s:
            row = s.get(AgentVoiceprint, agent_id, with_for_update=True)
            if row is not None and s.get(VoiceprintCall, (agent_id, call_id)) is not None:
                return False
            mean, total = update(None if row is None else np.asarray(row.embedding), 0.0 if row is None else row.seconds,
                                 np.asarray(embedding, np.float64), float(seconds))
            values = [round(float(x), 6) for x in mean]
            if row is None:
                s.add(AgentVoiceprint(agent_id=agent_id, embedding=values, seconds=total, calls=1,
                                      updated_at=utcnow()))
                s.flush()
            else:
                row.embedding, row.seconds, row.calls, row.updated_at = values, total, row.calls + 1, utcnow()
            s.add(VoiceprintCall(agent_id=agent_id, call_id=call_id, seconds=float(seconds), enrolled_at=utcnow(),
                                 embedding=[round(float(x), 6) for x in np.asarray(embedding, np.float64)]))
            return True

    def unenrol_voice(self, agent_id: str, call_id: str) -> bool:
        """Take one call's voice out of the agent's voiceprint (it was not the agent's: the call's roles
        were wrong), folding the other calls in again in the order they were enrolled; the voiceprint is
        deleted when no call is left. False when that call was not enrolled. Raises ``ValueError`` when
        another of the agent's calls was enrolled before per-call voices were kept (forget the whole
        voiceprint then: ``callqc agents forget AGENT``)."""
        from qc.voiceprint import update

        with self._write() as s:
            row = s.get(AgentVoiceprint, agent_id, with_for_update=True)
            gone = s.get(VoiceprintCall, (agent_id, call_id))
            if row is None or gone is None:
                return False
            rest = list(s.scalars(sa.select(VoiceprintCall).where(VoiceprintCall.agent_id == agent_id,
                                                                  VoiceprintCall.call_id != call_id)))
            if any(r.embedding is None for r in rest):
                raise ValueError(f"the voiceprint of {agent_id} holds calls enrolled before per-call voices were "
                                 f"kept: forget it (`callqc agents forget {agent_id}`) and let it enrol again")
            s.delete(gone)
            if not rest:
                s.delete(row)
                return True
            mean, total = None, 0.0
            for r in sorted(rest, key=lambda r: (r.enrolled_at, r.call_id)):
                mean, total = update(mean, total, np.asarray(r.embedding, np.float64), float(r.seconds or 0.0))
            row.embedding, row.seconds, row.calls = [round(float(x), 6) for x in mean], total, len(rest)
            row.updated_at = utcnow()
            return True

    def forget_voice(self, agent_id: str) -> bool:
        """Delete an agent's voiceprint and the record of its calls; False when there was none."""
        with self._write() as s:
            s.execute(sa.delete(VoiceprintCall).where(VoiceprintCall.agent_id == agent_id))
            return s.execute(sa.delete(AgentVoiceprint).where(AgentVoiceprint.agent_id == agent_id)).rowcount > 0

    def voiceprints(self) -> pd.DataFrame:
        """agent_id, calls, seconds, updated_at of every enrolled agent (not the embeddings)."""
        import pandas as pd

        t = AgentVoiceprint.__table__.c
        with self.engine.connect() as con:
            return pd.read_sql(sa.select(t.agent_id, t.calls, t.seconds, t.updated_at).order_by(t.agent_id), con)
