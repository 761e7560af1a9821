"""Fixtures of the orchestration tests: a small nightly batch and the warehouse an uninterrupted run of it
leaves, which other ways of running the same batch (Dask, killed and rerun) must reproduce."""

from __future__ import annotations

from pathlib import Path

import pytest

from qc.config import Settings


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
