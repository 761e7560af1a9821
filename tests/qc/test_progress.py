"""Progress bars only on a terminal: a run whose output goes to a log or a pipe prints none."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, sys
import qc
from tqdm.auto import tqdm
for _ in tqdm(range(3), desc="epochs", disable=None): pass
for _ in tqdm(range(3), desc="weights"): pass
print(os.environ.get("TQDM_DISABLE"), os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"))
"""


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True,
                          timeout=120)


def test_no_bars_when_output_is_not_a_terminal():
    out = _run({})
    assert out.stdout.split() == ["1", "1"]
    assert "epochs" not in out.stderr and "weights" not in out.stderr and "it/s" not in out.stderr


def test_a_users_own_setting_is_kept():
    # tqdm reads any non-empty TQDM_DISABLE as true: an empty one is how a user asks for bars in a log
    out = _run({"TQDM_DISABLE": "", "HF_HUB_DISABLE_PROGRESS_BARS": "0"})
    assert out.stdout.split() == ["0"]  # print shows the empty value as nothing
    assert "weights" in out.stderr
