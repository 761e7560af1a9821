"""Who spoke when. One entry point, :func:`diarize`, over three backends:

- ``channels``: stereo calls, one speaker per channel; speech found per channel with VAD and frame
  energies, so the other party leaking into a channel is not mistaken for speech (default for stereo);
- ``embedded``: VAD + speaker embeddings + clustering for mono calls (default for mono);
- ``pyannote``: a ``pyannote.audio`` pipeline loaded from a local directory or hub id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from qc.audio import Recording
from qc.config import Settings
from qc.diarize.base import (DEFAULT_MAX_SPEAKERS, MAX_SPEAKERS, Diarization, Hook, mark_overlaps, overlap_spans,
                             speaker_bounds)

__all__ = ["DEFAULT_MAX_SPEAKERS", "MAX_SPEAKERS", "Diarization", "Hook", "choose_backend", "diarize",
           "mark_overlaps", "overlap_spans", "speaker_bounds"]


def choose_backend(rec: Recording, cfg: Settings, backend: str | None = None) -> str:
    name = backend or cfg.diarization_backend
    if name == "auto":
        return "channels" if rec.layout == "stereo" else "embedded"
    if name == "channels" and rec.layout != "stereo":
        raise ValueError("the 'channels' diarization backend needs a stereo call")
    return name


def diarize(rec: Recording, cfg: Settings, backend: str | None = None, *, num_speakers: int | None = None,
            min_speakers: int | None = None, max_speakers: int | None = None,
            exclude: Sequence[tuple[float, float]] = ()) -> Diarization:
    """Diarize one recording with the configured (or given) backend.

    ``num_speakers`` / ``min_speakers`` / ``max_speakers`` override the settings for this call (see
    :func:`speaker_bounds`); the ``channels`` backend has one speaker per channel by construction.
    ``exclude``: spans that are nobody's talk (recorded prompts, :mod:`qc.prompts`): no turn covers them
    and, on a mono call, their voice is not one of the speakers counted.
    """
    name = choose_backend(rec, cfg, backend)
    counts = dict(num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers)
    if name == "channels":
        from qc.diarize.channels import diarize_channels

        return _without(diarize_channels(rec, cfg), exclude)
    if name == "embedded":
        from qc.diarize.embedded import diarize_embedded

        return diarize_embedded(rec, cfg, **counts, exclude=exclude)
    if name == "pyannote":
        from qc.diarize.pyannote_backend import diarize_pyannote

        return _without(diarize_pyannote(rec, cfg, **counts), exclude)
    raise ValueError(f"unknown diarization backend {name!r}")


def _without(d: Diarization, exclude: Sequence[tuple[float, float]]) -> Diarization:
    """``d`` with the turns' parts inside ``exclude`` cut away (pieces under 0.1 s dropped)."""
    if not exclude:
        return d
    turns = []
    for t in d.turns:
        pieces = [(t.start, t.end)]
        for a, b in exclude:
            pieces = [p for x, y in pieces for p in ((x, min(y, a)), (max(x, b), y)) if p[1] - p[0] >= 0.1]
        turns += [dataclasses.replace(t, start=x, end=y) for x, y in pieces]
    return dataclasses.replace(d, turns=tuple(turns), overlaps=tuple(overlap_spans(turns)))
