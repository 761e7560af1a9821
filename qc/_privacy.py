"""Telemetry defaults. A user who sets one of these variables keeps their own value."""

from __future__ import annotations

import os

TELEMETRY_OFF = {
    "PYANNOTE_METRICS_ENABLED": "0",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    # Prefect's local (ephemeral) API server migrates its own database on first start; the default
    # 20 s is too short for that on a 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


# The hub clients' offline switches: every model a run needs is on disk, so nothing is fetched, and a
# model setting that names something that is not there fails at once instead of trying the network.
OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
ALLOW_DOWNLOADS = "QC_ALLOW_DOWNLOADS"


def disable_telemetry() -> None:
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


def downloads_allowed() -> bool:
    """Whether ``QC_ALLOW_DOWNLOADS`` lets the hub clients fetch models (off by default)."""
    return os.environ.get(ALLOW_DOWNLOADS, "").strip().lower() in ("1", "true", "yes", "on")


def enforce_offline() -> None:
    """The hub clients offline, whatever the environment says, unless ``QC_ALLOW_DOWNLOADS=1``. Runs
    when :mod:`qc` is imported, before any hub client is: every entry point (the command line, the
    flows and their workers, the dashboard) imports :mod:`qc` first."""
    if not downloads_allowed():
        for key in OFFLINE:
            os.environ[key] = "1"
