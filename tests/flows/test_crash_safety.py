"""Crash safety: ``callqc run`` killed with SIGKILL in the middle of a batch, then run again, leaves the
same warehouse (SQL and Parquet) as an uninterrupted run: no partial files, no duplicate or missing rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qc.config import Settings
from tests.snapshot import assert_same, snapshot, stray_files

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict[str, str]:
    from prefect.settings import get_current_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_")}
    env.update(QC_DATA_DIR=str(data_dir), QC_TASK_RUNNER="sequential", HF_HUB_OFFLINE="1",
               PREFECT_API_URL=str(get_current_settings().api.url))  # the session's test server
    return env


def _stored_calls(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    except sqlite3.Error:  # not created or not migrated yet
        return 0


def _callqc(*args: str) -> list[str]:
    return [sys.executable, "-c", "from flows.cli import app; app()", *args]


def test_sigkill_mid_batch_then_rerun_matches_an_uninterrupted_run(small_stereo_inbox: Path, tmp_path: Path,
                                                                   small_batch_reference: Settings):
    reference = small_batch_reference
    data_dir = tmp_path / "crashed"
    db = data_dir / "callqc.db"
    proc = subprocess.Popen(_callqc("run", str(small_stereo_inbox)), env=_env(data_dir), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 480
    while _stored_calls(db) < 1:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no call stored in time"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    done_before = _stored_calls(db)
    assert 1 <= done_before < 3, "the kill did not land in the middle of the batch"
    print(f"killed with {done_before} of 3 calls stored; "
          f"Parquet before the rerun: {sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob('*.parquet*'))}")

    rerun = subprocess.run(_callqc("run", str(small_stereo_inbox)), env=_env(data_dir), cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"{3 - done_before} processed, 0 rejected, {done_before} skipped" in rerun.stdout, rerun.stdout

    crashed = Settings(data_dir=data_dir, task_runner="sequential")
    a, b = snapshot(reference), snapshot(crashed)
    assert len(a["sql"]["calls"]) == 3 and len(a["parquet"]["words"]) == len(a["sql"]["words"]) > 300
    assert_same(a, b)
    assert stray_files(crashed.parquet_dir) == []
    assert not list(crashed.work_dir.glob("*")) if crashed.work_dir.exists() else True
