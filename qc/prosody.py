"""How each role speaks, in a few numbers: loudness, pitch, tempo and timing.

The spectrogram images show what a voice sounds like over a few seconds; these measures summarise how
it is used over the whole call, which is where the voice cues of emotion and politeness are (louder
or softer, higher and more animated pitch, faster or slower, quick or unhurried answers). All are
relative to nothing the speaker does not control: levels are dB against full scale (the recording's
own gain is shared by both roles, so the classifier can compare them), pitch is in semitones, so its
spread and movement mean the same for a deep and a high voice.

:func:`role_prosody` returns a (2 roles, :data:`N_PROSODY`) array in :data:`PROSODY_FEATURES` order,
NaN where a measure has nothing to be measured on (a role that never answers has no response latency).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from qc.records import ROLES, Turn, Word

PROSODY_FEATURES = (
    "level_db",  # median level of the role's active frames, dBFS
    "level_spread_db",  # interquartile range of that level, dB
    "pause_ratio",  # share of the role's turn time below the active threshold (pauses within turns)
    "f0_median_st",  # median pitch of voiced frames, semitones above 55 Hz
    "f0_spread_st",  # interquartile range of the pitch, semitones
    "f0_range_st",  # 10th to 90th percentile of the pitch, semitones
    "voiced_ratio",  # voiced share of the active frames
    "words_per_second",  # recognised words per second of the role's turn time
    "word_duration",  # median duration of the role's words, s
    "word_gap",  # median pause between the role's neighbouring words in one turn, s
    "response_latency",  # median gap before the role's turns that answer the other role, s
)
N_PROSODY = len(PROSODY_FEATURES)

FRAME_S = 0.02  # hop of the level and pitch tracks
ACTIVE_BELOW_PEAK_DB = 20.0  # frames within this of the role's loud frames (95th percentile) are active
ACTIVE_ABOVE_FLOOR_DB = 6.0  # ... and this far above the line's floor (5th percentile), on noisy lines
FMIN, FMAX = 60.0, 500.0  # pitch search range, Hz (telephone voices, both genders, animated)
MAX_SECONDS = 30.0  # audio per role read for level and pitch, spread over the call's turns (pYIN: ~0.4 s)
PITCH_RESOLUTION = 0.5  # semitones; pYIN's default 0.1 costs 14x the time on CPU
MAX_WORD_GAP = 1.0  # longer pauses between words are sentence breaks, not the speaker's word spacing
MAX_LATENCY = 5.0  # answers after a longer gap are not answers


def role_prosody(read: Callable[[float, float, int], np.ndarray], turns: Sequence[Turn],
                 words: Sequence[Word], sample_rate: int, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """(2, N_PROSODY) float32, roles in :data:`qc.records.ROLES` order.

    ``read(start, end, channel) -> samples`` reads the call's audio at ``sample_rate`` (e.g.
    :meth:`qc.audio.Recording.read`); ``turns`` and ``words`` as the pipeline attributed them."""
    out = np.full((len(ROLES), N_PROSODY), np.nan, np.float32)
    ordered = sorted((t for t in turns if t.end > t.start), key=lambda t: t.start)
    for r, role in enumerate(ROLES):
        mine = [t for t in ordered if t.role == role]
        if not mine:
            continue
        level, voice = _level_and_pitch(read, _spread(mine, max_seconds), sample_rate)
        out[r, :7] = level + voice
        talk = sum(t.duration for t in mine)
        role_words = sorted((w for w in words if w.role == role and w.end > w.start), key=lambda w: w.start)
        if role_words:
            out[r, 7] = len(role_words) / talk
            out[r, 8] = float(np.median([w.duration for w in role_words]))
            gaps = _word_gaps(role_words, mine)
            if gaps.size:
                out[r, 9] = float(np.median(gaps))
        latencies = _latencies(ordered, role)
        if latencies.size:
            out[r, 10] = float(np.median(latencies))
    return out


def _spread(turns: list[Turn], budget: float) -> list[Turn]:
    """Turns of at most ``budget`` seconds in all, picked evenly over the call (cut where one is long)."""
    total = sum(t.duration for t in turns)
    if total <= budget:
        return turns
    step = total / budget  # take every step-th second, as whole turns where possible
    picked, acc, due = [], 0.0, 0.0
    for t in turns:
        if acc >= due:
            keep = min(t.duration, budget - sum(p.duration for p in picked))
            if keep <= 0:
                break
            picked.append(Turn(t.call_id, t.start, t.start + keep, t.channel, t.speaker, t.role))
            due += t.duration * step
        acc += t.duration
    return picked


def _level_and_pitch(read, turns: list[Turn], sr: int) -> tuple[list[float], list[float]]:
    import librosa

    hop = int(round(FRAME_S * sr))
    frame = 4 * hop  # 80 ms: two periods of the lowest pitch searched, and then some
    db_parts, f0_parts = [], []
    for t in turns:
        y = read(t.start, t.end, t.channel).astype(np.float32)
        if y.size < frame:
            continue
        rms = librosa.feature.rms(y=y, frame_length=2 * hop, hop_length=hop, center=True)[0]
        f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=frame, hop_length=hop,
                                     center=True, resolution=PITCH_RESOLUTION, n_thresholds=50,
                                     max_transition_rate=60.0)
        n = min(rms.size, f0.size)
        db_parts.append(20 * np.log10(np.maximum(rms[:n] * np.sqrt(2), 1e-6)))  # a full-scale sine is 0 dBFS
        f0_parts.append(np.where(voiced[:n], f0[:n], np.nan))
    if not db_parts:
        return [np.nan] * 3, [np.nan] * 4
    db, f0 = np.concatenate(db_parts), np.concatenate(f0_parts)
    floor, peak = np.percentile(db, [5, 95])
    # relative to the speaker's own loud frames, so a louder voice is the same frames, only louder
    active = db > max(peak - ACTIVE_BELOW_PEAK_DB, floor + ACTIVE_ABOVE_FLOOR_DB)
    if not active.any():  # silence or steady noise only: nothing spoken to measure
        return [np.nan] * 3, [np.nan] * 4
    q1, q2, q3 = np.percentile(db[active], [25, 50, 75])
    level = [float(q2), float(q3 - q1), float(1.0 - active.mean())]
    st = 12 * np.log2(f0 / 55.0)
    voiced_active = np.isfinite(st) & active
    ratio = float(voiced_active.sum() / active.sum())
    if voiced_active.sum() < 5:
        return level, [np.nan, np.nan, np.nan, ratio]
    p10, p25, p50, p75, p90 = np.percentile(st[voiced_active], [10, 25, 50, 75, 90])
    return level, [float(p50), float(p75 - p25), float(p90 - p10), ratio]


def _word_gaps(words: list[Word], turns: list[Turn]) -> np.ndarray:
    """Pauses between neighbouring words of one turn, up to :data:`MAX_WORD_GAP`."""
    starts = np.array([t.start for t in turns])
    turn_of = np.searchsorted(starts, [w.start for w in words], side="right") - 1
    gaps = [b.start - a.end for a, b, ta, tb in zip(words, words[1:], turn_of, turn_of[1:], strict=False)
            if ta == tb and b.start >= a.end]
    g = np.array(gaps, np.float64)
    return g[g <= MAX_WORD_GAP]


def _latencies(turns: list[Turn], role: str) -> np.ndarray:
    """Gaps before ``role``'s turns that follow the other role's speech (negative: they started while
    the other still spoke), up to :data:`MAX_LATENCY`."""
    out = []
    last_other_end = None
    last_mine_end = -np.inf
    for t in turns:
        if t.role == role:
            if last_other_end is not None and last_other_end > last_mine_end:
                gap = t.start - last_other_end
                if gap <= MAX_LATENCY:
                    out.append(max(gap, -MAX_LATENCY))
            last_mine_end = max(last_mine_end, t.end)
        elif t.role in ROLES:
            last_other_end = t.end if last_other_end is None else max(last_other_end, t.end)
    return np.array(out, np.float64)
