"""callqc domain: typed records, settings, audio, diarization, ASR, QA features and rules.

Importing :mod:`qc` turns third-party telemetry off before any of those libraries is imported:
call recordings are private, and nothing about them may leave the machine by default.
"""

from qc._privacy import disable_telemetry

disable_telemetry()

__version__ = "0.1.0"
