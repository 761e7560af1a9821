"""Sound that is nobody's talk: hold music (or any sustained sound without speech: a prompt loop, a
ringback) and DTMF key tones. They are found in the stretches the diarization left without turns, so
they are never transcribed as words nor counted as anyone's talk, and the call's metrics say how long
the caller was on hold instead of counting it as silence.

- **Tones**: 40 ms frames whose energy sits in one DTMF low-group and one high-group frequency (at
  least ``TONE_SHARE`` of it, the two within ``MAX_TWIST_DB`` of each other).
- **Hold**: a stretch outside every turn where the audio stays ``SOUND_DB`` above the call's noise
  floor for at least ``MIN_HOLD_S`` (pauses under ``HOLD_GAP_S`` joined), tones excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qc.records import Turn

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
FRAME_S = 0.04
HOP_S = 0.02
TONE_SHARE = 0.7
MAX_TWIST_DB = 10.0
SOUND_DB = 15.0
MIN_HOLD_S = 3.0
HOLD_GAP_S = 1.0
TURN_MARGIN_S = 0.3  # sound this close to a turn belongs to it
MIN_TONE_FRAMES = 2


@dataclass(frozen=True)
class NonTalk:
    start: float
    end: float
    kind: str  # hold | tones | prompt (qc.prompts)

    @property
    def duration(self) -> float:
        return self.end - self.start


def _frames(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame levels in dB, DTMF flags) of mono audio."""
    n, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if len(x) < n:
        return np.zeros(0), np.zeros(0, bool)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop].astype(np.float64)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    power = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    total = power[:, (freqs >= 300) & (freqs <= 3400)].sum(axis=1) + 1e-12

    def band(f: float) -> np.ndarray:
        return power[:, np.abs(freqs - f) <= 1.5 * rate / n].sum(axis=1)

    low = np.stack([band(f) for f in LOW], axis=1).max(axis=1)
    high = np.stack([band(f) for f in HIGH if f < rate / 2], axis=1).max(axis=1)
    twist = np.abs(10 * np.log10((low + 1e-12) / (high + 1e-12)))
    tones = ((low + high) / total >= TONE_SHARE) & (twist <= MAX_TWIST_DB)
    return level, tones


def _runs(flags: np.ndarray, min_len: int, gap: int = 0) -> list[tuple[int, int]]:
    """[start, end) frame index runs of True, joined over gaps of at most ``gap`` False frames."""
    runs: list[list[int]] = []
    for i in np.flatnonzero(flags):
        if runs and i - runs[-1][1] <= gap:
            runs[-1][1] = i + 1
        else:
            runs.append([int(i), int(i) + 1])
    return [(a, b) for a, b in runs if b - a >= min_len]


def find_non_talk(rec, turns: Sequence[Turn]) -> list[NonTalk]:
    """Hold and tone stretches of the call outside its turns, in time order."""
    rate = rec.sample_rate
    levels, tones = [], []
    block = 600.0
    start = 0.0
    while start < rec.duration:  # in blocks: a long call is read a window at a time
        x = rec.mono(start, min(rec.duration, start + block + FRAME_S))
        lv, tn = _frames(x, rate)
        keep = int(round(min(block, rec.duration - start) / HOP_S))
        levels.append(lv[:keep])
        tones.append(tn[:keep])
        start += block
    level = np.concatenate(levels) if levels else np.zeros(0)
    tone = np.concatenate(tones) if tones else np.zeros(0, bool)
    if not len(level):
        return []
    t = np.arange(len(level)) * HOP_S + FRAME_S / 2
    talk = np.zeros(len(level), bool)
    for turn in turns:
        talk |= (t >= turn.start - TURN_MARGIN_S) & (t <= turn.end + TURN_MARGIN_S)
    floor = float(np.percentile(level, 10))
    sound = (level > floor + SOUND_DB) & (level > -60.0)
    tone &= sound & ~talk
    out = [NonTalk(round(a * HOP_S, 3), round(float(t[b - 1]) + FRAME_S / 2, 3), "tones")
           for a, b in _runs(tone, MIN_TONE_FRAMES, gap=int(0.15 / HOP_S))]
    held = sound & ~talk & ~tone
    out += [NonTalk(round(a * HOP_S, 3), round(float(t[b - 1]) + FRAME_S / 2, 3), "hold")
            for a, b in _runs(held, int(MIN_HOLD_S / HOP_S), gap=int(HOLD_GAP_S / HOP_S))]
    return sorted(out, key=lambda s: s.start)
