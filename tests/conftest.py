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
