"""Prefect flows and the ``callqc`` command line: thin shells over :mod:`qc`, :mod:`models` and
:mod:`warehouse`."""

import qc  # noqa: F401  (turns telemetry off before Prefect is imported)
