"""Prefect flows, the application services that join the classifier with the warehouse (scoring,
training, feature backfill, corrections) and the ``callqc`` command line, over :mod:`qc`, :mod:`models`
and :mod:`warehouse`."""

import qc  # noqa: F401  (turns telemetry off before Prefect is imported)
