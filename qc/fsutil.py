"""Small file-system helpers shared by the model caches and the model registry."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_dir(final: Path, prefix: str) -> Iterator[Path]:
    """A temporary directory beside ``final`` to fill; when the block ends without an error it replaces
    ``final`` in one rename, so readers see the old directory or the complete new one, never a part.
    On an error the staging directory is removed and ``final`` is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=prefix))
    try:
        yield staging
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
