"""What every diarization backend shares: the result record, the speaker-count bounds of a call and
the overtalk between turns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from qc.config import Settings
from qc.records import Turn

Hook = Callable[[str, float], None]  # (stage, seconds) progress/timing callback
MAX_SPEAKERS = 8  # upper bound on the speaker count when only a lower bound is given
DEFAULT_MAX_SPEAKERS = 2  # a call without any count or bound: one speaker or two


@dataclass(frozen=True)
class Diarization:
    """Turns sorted by start, the backend that made them, and the spans where speakers overlap."""

    turns: tuple[Turn, ...]
    backend: str
    overlaps: tuple[tuple[float, float], ...] = ()
    # speaker -> (L2-normalised mean speaker embedding, seconds it covers), where the backend embeds
    # speakers anyway (embedded): what qc.voiceprint compares with an agent's voiceprint
    voices: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})


def speaker_bounds(cfg: Settings, num_speakers: int | None = None, min_speakers: int | None = None,
                   max_speakers: int | None = None) -> tuple[int | None, int, int]:
    """(exact count or None, lower bound, upper bound) for one call.

    Per-call arguments win over the settings. ``min_speakers``/``max_speakers``, when either is given,
    replace ``num_speakers``; an exact count outside the bounds is an error. With no count and no
    bound at all, a call has one or two speakers (``(None, 1, DEFAULT_MAX_SPEAKERS)``): the backend
    decides, so a voicemail or a labelled utterance is one speaker and a conversation two.
    """
    lo = min_speakers if min_speakers is not None else cfg.min_speakers
    hi = max_speakers if max_speakers is not None else cfg.max_speakers
    num = num_speakers if num_speakers is not None else cfg.num_speakers
    if num_speakers is None and (min_speakers is not None or max_speakers is not None
                                 or cfg.min_speakers is not None or cfg.max_speakers is not None):
        num = None
    if num is None and lo is None and hi is None:
        return None, 1, DEFAULT_MAX_SPEAKERS
    lo = lo or 1
    hi = hi or MAX_SPEAKERS
    if lo > hi:
        raise ValueError(f"min_speakers ({lo}) exceeds max_speakers ({hi})")
    if num is not None and not lo <= num <= hi:
        raise ValueError(f"num_speakers={num} is outside [{lo}, {hi}]")
    if num is not None:
        lo = hi = num
    return num, lo, hi


def overlap_spans(turns: list[Turn] | tuple[Turn, ...]) -> list[tuple[float, float]]:
    """Spans where two or more speakers' turns overlap (merged, sorted)."""
    events = sorted([(t.start, 1, t.speaker) for t in turns] + [(t.end, -1, t.speaker) for t in turns],
                    key=lambda e: (e[0], e[1]))
    active: dict[str, int] = {}
    spans: list[list[float]] = []
    start = None
    for time, delta, speaker in events:
        active[speaker] = active.get(speaker, 0) + delta
        speaking = sum(1 for v in active.values() if v > 0)
        if speaking >= 2 and start is None:
            start = time
        elif speaking < 2 and start is not None:
            if time > start:
                if spans and start - spans[-1][1] < 1e-9:
                    spans[-1][1] = time
                else:
                    spans.append([start, time])
            start = None
    return [(a, b) for a, b in spans]


def mark_overlaps(turns: list[Turn]) -> list[Turn]:
    """Set ``overlap`` on every turn that shares time with another speaker's turn."""
    spans = overlap_spans(turns)
    out = []
    for t in turns:
        hit = any(a < t.end and b > t.start for a, b in spans)
        out.append(dataclasses.replace(t, overlap=hit) if hit != t.overlap else t)
    return out
