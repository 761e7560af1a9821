"""Voiceprints in the warehouse: a call enrolled once, and one call's voice taken out again exactly."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from qc.voiceprint import update
from warehouse import Warehouse


def _voice(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(256)
    return v / np.linalg.norm(v)


def test_a_calls_voice_comes_out_as_if_never_enrolled(tmp_path):
    wh = Warehouse.from_url(f"sqlite:///{tmp_path / 'v.db'}")
    voices = {f"c{k}": (_voice(k), 10.0 + k) for k in range(3)}
    for call, (v, s) in voices.items():
        assert wh.enrol_voice("a1", call, v, s)
    assert not wh.enrol_voice("a1", "c1", _voice(9), 5.0)  # once per call
    assert wh.unenrol_voice("a1", "c1")
    (mean, total), expected = wh.voiceprint("a1"), None
    expected, seconds = update(None, 0.0, voices["c0"][0], voices["c0"][1])
    expected, seconds = update(expected, seconds, voices["c2"][0], voices["c2"][1])
    assert total == 2 and np.allclose(mean, expected, atol=1e-5)
    assert not wh.unenrol_voice("a1", "c1")  # not in it any more
    assert wh.unenrol_voice("a1", "c0") and wh.unenrol_voice("a1", "c2")
    assert wh.voiceprint("a1") is None  # the last call out: no voiceprint left
    wh.close()


def test_calls_enrolled_before_their_voices_were_kept_cannot_be_taken_out(tmp_path):
    wh = Warehouse.from_url(f"sqlite:///{tmp_path / 'v.db'}")
    wh.enrol_voice("a1", "old", _voice(1), 10.0)
    wh.enrol_voice("a1", "new", _voice(2), 10.0)
    with wh.engine.begin() as con:
        con.execute(sa.text("UPDATE voiceprint_calls SET embedding = NULL WHERE call_id = 'old'"))
    with pytest.raises(ValueError, match="forget it"):
        wh.unenrol_voice("a1", "new")
    assert wh.voiceprint("a1")[1] == 2  # nothing changed
    wh.close()
