"""``callqc features backfill``: the features of stored calls computed again from their audio and their
stored analysis match what the nightly run stored, only the calls that need it are done, and a call
whose audio is gone is reported without stopping the others."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.features import backfill_features
from qc.call_features import FeatureStore
from qc.config import Settings

pytestmark = pytest.mark.slow


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _assert_same_features(new, old) -> None:
    assert np.array_equal(new.images, old.images)
    assert np.array_equal(new.present, old.present) and np.array_equal(new.turn_roles, old.turn_roles)
    assert new.turn_texts == old.turn_texts and len(new.turn_texts) > 5
    np.testing.assert_allclose(new.prosody, old.prosody, rtol=1e-5, atol=1e-6)
    s, r = new.speech, old.speech
    assert np.array_equal(s.spans, r.spans) and np.array_equal(s.roles, r.roles)
    np.testing.assert_allclose(s.egemaps, r.egemaps, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s.mfcc, r.mfcc, rtol=1e-4, atol=1e-4)
    heard = np.isfinite(r.whisper).all(1)
    assert heard.sum() >= 0.9 * len(heard)
    assert np.array_equal(np.isfinite(s.whisper).all(1), heard)
    width = r.whisper.shape[1] // 2
    # the same windows encoded again (transcription may have re-encoded a window alone to decode it again)
    assert _cosines(s.whisper[heard, :width], r.whisper[heard, :width]).min() > 0.98
    assert np.median(_cosines(s.whisper[heard, :width], r.whisper[heard, :width])) > 0.995


def test_backfill_computes_what_the_run_stored_for_the_calls_that_need_it(small_batch_reference: Settings,
                                                                            tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(small_batch_reference.data_dir, data)
    cfg = small_batch_reference.model_copy(update={"data_dir": data})
    store = FeatureStore.for_settings(cfg)
    ids = sorted(p.stem for p in (store.root / "calls").glob("*.npz"))
    assert len(ids) == 3
    stored = {c: store.load(c) for c in ids}
    # one call lost its features, one has them from before speech features existed, one is current
    (store.root / "calls" / f"{ids[0]}.npz").unlink()
    store.save(dataclasses.replace(stored[ids[1]], speech=None))

    report = backfill_features(cfg)
    assert (sorted(report.done), report.current, report.failed) == (ids[:2], [ids[2]], {})
    for c in ids[:2]:
        _assert_same_features(store.load(c), stored[c])
    assert sorted(backfill_features(cfg).current) == ids  # nothing left to do

    # a call whose audio is gone is reported with the reason; the others are still done
    with sqlite3.connect(data / "callqc.db") as db:
        db.execute("UPDATE calls SET source_path = ? WHERE call_id = ?", (str(tmp_path / "gone.wav"), ids[1]))
    monkeypatch.setenv("QC_DATA_DIR", str(data))
    from flows.cli import app

    out = CliRunner().invoke(app, ["features", "backfill", "--all"])
    assert out.exit_code == 1, out.output
    assert f"{ids[1]}: audio not found at {tmp_path / 'gone.wav'}" in out.output
    assert "features computed for 2 calls, 0 already current, 1 failed" in out.output
