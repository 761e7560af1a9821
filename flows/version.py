"""The version a run records: the package version and, in a git checkout, the commit it runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import qc


def code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return f"{qc.__version__}+{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return qc.__version__
