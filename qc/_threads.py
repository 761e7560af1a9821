"""NumPy's BLAS on one thread, so that a call's results do not depend on where it was processed.

OpenBLAS splits a matrix product differently by thread count, and the float sums come out in another
order: Whisper's input features (NumPy) and with them its word probabilities differed in the 4th
decimal between a sequential run (OpenBLAS on every core) and a Dask worker (one thread: Dask sets
``OPENBLAS_NUM_THREADS=1`` in its workers), so the same batch stored different warehouses. The
pipeline's NumPy products are small (a mel filter bank over a 30 s window); its parallelism is calls
processed side by side (task runners) and the models' own threads (CTranslate2, torch), which this
leaves alone.
"""

from __future__ import annotations

import os

BLAS_ENV = ("OPENBLAS_NUM_THREADS",)


def pin_blas_threads() -> None:
    """One OpenBLAS thread: for copies loaded from now on (the variable is read when a library loads,
    e.g. SciPy's own OpenBLAS) and for the BLAS libraries loaded already (NumPy's, via threadpoolctl)."""
    for key in BLAS_ENV:
        os.environ[key] = "1"
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS, so that the limit below reaches it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
