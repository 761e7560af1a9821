"""Starting and steering a real second Python process for the warehouse tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def spawn_worker(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """``python -m tests.warehouse.wh_worker ARGS`` in a fresh interpreter (a real second process)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out = open(log, "wb")  # noqa: SIM115  (closed by the OS when the child ends)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.warehouse.wh_worker", *args], cwd=REPO, env=env, stdout=out, stderr=out
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"worker ended (rc {proc.returncode}) before {path.name}:\n{log.read_text()}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {path.name}:\n{log.read_text()}")
        time.sleep(0.02)
