"""PII detection for call transcripts: Presidio + spaCy (:mod:`qc.pii.engine`) and numbers said
aloud (:mod:`qc.pii.spoken`). Redaction of words, turns and audio is :mod:`qc.redact`."""

from qc.pii.engine import DEFAULT_SPACY_MODEL, Detection, detect
from qc.pii.spoken import SpokenNumber, find_spoken_numbers

__all__ = ["DEFAULT_SPACY_MODEL", "Detection", "SpokenNumber", "detect", "find_spoken_numbers"]
