"""Worker processes that end with the process that started them.

A process pool's workers wait for tasks forever; when their parent is killed (SIGKILL, an OOM kill, a
``kill`` of a CLI run), nothing tells them, and they stay behind holding memory and files. On Linux a
worker asks the kernel to send it SIGTERM the moment its parent dies (``PR_SET_PDEATHSIG``); elsewhere
this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A process pool ``initializer``: this process gets SIGTERM when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)
