"""A process pool's workers end when the process that started them is killed: nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

CHILD = """
import sys
from pathlib import Path
from qc.synth import generate_corpus
generate_corpus(Path(sys.argv[1]), calls=40, seed=5, layout="stereo", workers=2)
"""


def test_corpus_workers_end_when_the_parent_is_killed(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "corpus")])
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while len(workers) < 2:  # the pool's two workers (beside multiprocessing's resource tracker)
            assert parent.poll() is None and time.monotonic() < deadline, "the pool never started"
            workers = [c for c in psutil.Process(parent.pid).children()
                       if "resource_tracker" not in " ".join(c.cmdline())]
            time.sleep(0.2)
        time.sleep(1.0)  # the workers are busy synthesizing
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"workers left running after their parent was killed: {[p.pid for p in alive]}"
    finally:
        if parent.poll() is None:
            parent.kill()
