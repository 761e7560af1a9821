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
            s.add(VoiceprintCall(agent_id=agent_id, call_id=call_id))
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
