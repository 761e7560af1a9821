"""Progress bars only on a terminal: logs, CI output and files stay readable.

When standard error is not a terminal, the progress bars of the libraries under callqc (tqdm, and
Hugging Face's weight loading and downloads, which use it) are off by default. A user who sets one of
these variables keeps their own value.
"""

from __future__ import annotations

import os
import sys


def on_terminal() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def bars_off_unless_terminal() -> None:
    if not on_terminal():
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
