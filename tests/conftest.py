"""Shared fixtures. Tests make their own audio; the shipped models run only in tests marked slow."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import qc  # noqa: F401  (telemetry off before anything else is imported)
from qc.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where tests leave artefacts worth looking at (screenshots, reports)."""
    out = Path(os.environ.get("QC_TEST_OUTPUT", "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def tone(seconds: float, rate: int = 8000, freq: float = 440.0, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """A tone with a little noise: stands in for audio where speech content does not matter."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_audio(path: Path, data: np.ndarray, rate: int = 8000, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.T if data.ndim == 2 else data, rate, **kwargs)
    return path


@pytest.fixture(scope="session")
def prefect_harness():
    """A throw-away Prefect API (SQLite) for flow tests, started once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def small_stereo_inbox(tmp_path_factory) -> Path:
    """Three synthetic stereo calls (~75-90 s each, flite TTS) with calls.csv: a small nightly batch."""
    from qc.synth import generate_corpus

    inbox = tmp_path_factory.mktemp("small-inbox")
    generate_corpus(inbox, calls=3, seed=404, layout="stereo")
    return inbox


@pytest.fixture(scope="session")
def small_batch_reference(small_stereo_inbox, tmp_path_factory, prefect_harness) -> Settings:
    """``small_stereo_inbox`` through ``nightly_qc`` sequentially, uninterrupted: the warehouse that
    other ways of running the same batch (Dask, killed and rerun) must reproduce. Do not write to it."""
    from flows.nightly import run_nightly

    cfg = Settings(data_dir=tmp_path_factory.mktemp("reference") / "data", task_runner="sequential")
    summary = run_nightly(small_stereo_inbox, cfg)
    assert summary.count("processed") == 3, summary.outcomes
    return cfg
