"""Stereo diarization: one speaker per channel, with cross-talk leakage rejected.

Each channel's speech is where its VAD says speech *and* its frame energy is not explained by the
other channel leaking into it. The leakage gain (dB, other -> this channel) is estimated per call from
the frames where the other party speaks loudly (a low quantile of the energy difference, so overtalk
does not inflate it); a frame counts as this channel's own speech when the other channel is silent,
or when it is at least ``MARGIN_DB`` louder than the leakage plus the channel's noise floor would make
it. Genuine overtalk (both parties at speaking level) passes on both channels.

The VAD's segments then get their edges from the channel's own sound in 10 ms frames
(:func:`refine_edges`): Silero's 32 ms frames, hang-over and padding put every turn end late, and
talk time would add that up over every turn. A turn's edges are where the voice stands above the
channel's noise (``python -m bench.turn_edges`` measures them against the generator's truth).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.diarize.base import Diarization, mark_overlaps, overlap_spans
from qc.records import Turn
from qc.vad import (VadParams, frame_energy_db, hysteresis, load_vad, quiet_runs, segments,
                    speech_probabilities, true_runs)

MARGIN_DB = 10.0
# a pause shorter than this inside one party's speech stays in the turn (s); the pauses between
# sentences are measured to the 10 ms with the refined edges, so this is the metrics' MAX_PAUSE
BRIDGE_GAP = 0.5
DEFAULT_LEAK_DB = -60.0  # when nothing can be estimated: assume clean channels
ACTIVE_ABOVE_FLOOR_DB = 15.0  # the other party speaks where its channel is this far above its floor
LOUD_LEAN = 0.15  # where its channel is loud, a VAD probability this high is speech
EDGE_HOP = 0.01  # s: resolution of turn edges
EDGE_ABOVE_FLOOR_DB = 3.0  # a fine frame is sound where it is this far above the channel's floor
EDGE_CLOSE = 0.2  # s: shorter quiet stretches inside sound are closed
EDGE_SMOOTH = 3  # fine frames averaged (power) before thresholding
EDGE_REACH = 1.0  # s: how far an edge may move out of its VAD segment
EDGE_WORD_DB = 15.0  # dB over the floor: a run this loud ...
EDGE_WORD_MIN = 0.08  # s: ... for this long is a word, even where the VAD dropped it
EDGE_ATTACH = 0.4  # s: such a word this close before or after a segment belongs to it
EDGE_JOIN = 1.0  # s: VAD segments at most this far apart, joined by continuous sound, are one
EDGE_SPLIT = BRIDGE_GAP  # s: a segment is cut where its channel is measured quiet this long
EDGE_GHOST = 0.5  # s: a shorter VAD segment without any sound over the floor is not speech
EDGE_FLOOR_WINDOW = 5.0  # s: the noise floor for a segment's edges is measured this far around it


def speaker_label(channel: int) -> str:
    return f"SPEAKER_{channel:02d}"


def leakage_db(own_energy: np.ndarray, other_energy: np.ndarray, other_prob: np.ndarray) -> float:
    """Cross-talk gain (dB) from the other channel into this one.

    Over the frames where the other party clearly speaks loudly, ``own - other`` is the leakage gain
    while this party is quiet and higher during genuine overtalk; a low quantile picks the former.
    The own channel's VAD is deliberately not used: Silero hears leaked speech as speech. The other
    party counts as speaking where its VAD leans to speech and its channel is well above its own noise
    floor: Silero's confidence alone is not enough, as it stays below 0.85 for some loud voices (a
    low, harsh male voice never passed 0.83, the estimate fell back to clean channels and his leaked
    speech became 30 s of the customer's talk).
    """
    active = (other_prob >= 0.5) & (other_energy > np.percentile(other_energy, 10) + ACTIVE_ABOVE_FLOOR_DB)
    if active.sum() < 20:
        return DEFAULT_LEAK_DB
    loud = active & (other_energy > np.percentile(other_energy[active], 50))
    diff = own_energy[loud] - other_energy[loud]
    return float(np.percentile(diff, 25)) if diff.size >= 10 else DEFAULT_LEAK_DB


def channel_activity(probs: list[np.ndarray], energies: list[np.ndarray], params: VadParams,
                     leaks: list[float] | None = None) -> list[np.ndarray]:
    """Boolean own-speech mask per channel (frames), leakage removed.

    A frame is this channel's speech when its VAD probability is high and it is not explained by the
    other channel leaking in: either the other party is not speaking, or this channel is at least
    ``MARGIN_DB`` louder than the leakage plus its own noise floor would make it. The other party
    speaks where its VAD says so or its channel is ``ACTIVE_ABOVE_FLOOR_DB`` over its floor (Silero is
    slow to hear some voices' first words, while this channel's VAD hears their leak at once).
    Probabilities of frames explained by leakage are zeroed before the hysteresis, so leaked speech
    cannot start or extend a turn. Where the channel is ``ACTIVE_ABOVE_FLOOR_DB`` over its floor
    (and not explained by leakage), a probability of ``LOUD_LEAN`` is speech: Silero hovers at 0.2-0.6
    on some loud voices (flite's awb) and missed whole phrases of them, while it gives a steady hum
    nothing.
    """
    n = min(len(p) for p in probs)
    probs = [p[:n] for p in probs]
    energies = [e[:n] for e in energies]
    masks = []
    for c in (0, 1):
        o = 1 - c
        leak = leaks[c] if leaks is not None else leakage_db(energies[c], energies[o], probs[o])
        floor = float(np.percentile(energies[c], 10))  # the channel's own noise floor
        # what this channel would measure with the other party leaking in over its noise floor
        expected = 10.0 * np.log10(10 ** ((energies[o] + leak) / 10) + 10 ** (floor / 10))
        other_floor = float(np.percentile(energies[o], 10))
        other_active = (probs[o] >= params.offset) | (energies[o] > other_floor + ACTIVE_ABOVE_FLOOR_DB)
        explained_by_leak = other_active & (energies[c] < expected + MARGIN_DB)
        p = np.where(explained_by_leak, 0.0, probs[c])
        loud = (energies[c] > floor + ACTIVE_ABOVE_FLOOR_DB) & ~explained_by_leak
        p = np.where(loud & (p >= LOUD_LEAN), np.maximum(p, params.onset), p)
        masks.append(hysteresis(p, params))
    return masks


def bridge_pauses(turns: list[Turn], gap: float) -> list[Turn]:
    """Join consecutive turns of one channel less than ``gap`` apart when the other party says nothing
    in between (a pause between sentences belongs to the turn)."""
    import dataclasses

    out: list[Turn] = []
    for channel in sorted({t.channel for t in turns}):
        others = [t for t in turns if t.channel != channel]
        merged: list[Turn] = []
        for t in sorted((t for t in turns if t.channel == channel), key=lambda t: t.start):
            if merged and 0 <= t.start - merged[-1].end < gap and not any(
                    o.start < t.start and o.end > merged[-1].end for o in others):
                merged[-1] = dataclasses.replace(merged[-1], end=max(merged[-1].end, t.end))
            else:
                merged.append(t)
        out.extend(merged)
    return out


def fine_energy_db(rec: Recording, channel: int, hop: float = EDGE_HOP) -> np.ndarray:
    """Energy (dBFS) per ``hop`` seconds of one channel (10 ms: the turn edges' resolution)."""
    frame = int(round(hop * rec.sample_rate))
    return frame_energy_db(rec, channel, frame=frame, window_frames=int(30.0 * rec.sample_rate) // frame)


def _smooth_db(db: np.ndarray, frames: int | None = None) -> np.ndarray:
    """Energy (dB) averaged in power over ``frames`` fine frames, centred."""
    frames = EDGE_SMOOTH if frames is None else frames
    if frames <= 1:
        return db
    power = np.convolve(10 ** (db / 10), np.ones(frames) / frames, mode="same")
    return 10 * np.log10(power + 1e-12)


def own_sound_db(own: np.ndarray, other: np.ndarray, leak_db: float) -> np.ndarray:
    """A channel's fine-frame energy (dB, smoothed over ``EDGE_SMOOTH`` frames), NaN where it is
    explained by the other channel leaking in (not ``MARGIN_DB / 2`` over the leak)."""
    n = min(len(own), len(other))
    own, other = _smooth_db(own[:n]), _smooth_db(other[:n])
    return np.where(own > other + leak_db + MARGIN_DB / 2, own, np.nan)


def _local_floor(sound: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """The noise floor under each fine frame: the 10th percentile of the channel's sound within
    ``EDGE_FLOOR_WINDOW`` s of each segment (the highest where windows meet), the call's own elsewhere.
    Line noise changes over a long call (a 3-hour recording of near-silence with a noisier exchange
    every half hour): one floor for the whole call would make all of an exchange's noise "sound"."""
    hop, n = EDGE_HOP, len(sound)
    known = ~np.isnan(sound)
    floor = np.full(n, float(np.percentile(sound[known], 10)) if known.any() else 0.0)
    for start, end in spans:
        a = max(0, int((start - EDGE_FLOOR_WINDOW) / hop))
        b = min(n, int((end + EDGE_FLOOR_WINDOW) / hop) + 1)
        window = sound[a:b][known[a:b]]
        if window.size:
            floor[a:b] = np.maximum(floor[a:b], float(np.percentile(window, 10)))
    return floor


def refine_edges(spans: list[tuple[float, float]], sound: np.ndarray, duration: float
                 ) -> list[tuple[float, float]]:
    """Move VAD segments' edges to where the channel's own sound starts and stops.

    Silero's 32 ms frames, its hang-over and the padding place a turn's ends ~0.1 s late, and it
    drops some short first words (after a hold, or said over the other party); talk time sums those
    errors over every turn. ``sound`` is :func:`own_sound_db`. Sound is where the channel is
    ``EDGE_ABOVE_FLOOR_DB`` over its local noise floor (:func:`_local_floor`), with pauses under
    ``EDGE_CLOSE`` s closed. Each segment takes the extent of the sound runs it overlaps, and of a
    word-like run (``EDGE_WORD_DB`` loud for ``EDGE_WORD_MIN`` s) within ``EDGE_ATTACH`` s before or
    after it. Segments no more than ``EDGE_JOIN`` s apart that one run of sound connects become one.
    A segment is cut where its channel is measured quiet (no sound, not masked as leak) for
    ``EDGE_SPLIT`` s: Silero's hang-over bridges such pauses, which the metrics count as silence.
    An edge moves at most ``EDGE_REACH`` s out of its segment (a run reaching further is a hum or other
    steady sound, not this turn). Segments with no sound over the floor keep their VAD edges, unless
    they are shorter than ``EDGE_GHOST`` s: those are dropped (Silero's state carries the other
    party's leaked speech a few frames on, into a pause of theirs).
    """
    hop, reach, n = EDGE_HOP, EDGE_REACH, len(sound)
    if not spans or n == 0:
        return list(spans)
    over_floor = np.nan_to_num(sound - _local_floor(sound, spans), nan=0.0)
    active = over_floor > EDGE_ABOVE_FLOOR_DB
    close = int(round(EDGE_CLOSE / hop))
    for a, b in true_runs(~active):
        if a > 0 and b < n and b - a <= close:
            active[a:b] = True
    runs = true_runs(active)
    starts = np.array([a for a, _ in runs], dtype=float) * hop
    ends = np.array([b for _, b in runs], dtype=float) * hop
    word_frames = int(round(EDGE_WORD_MIN / hop))
    wordlike = np.array([int((over_floor[a:b] > EDGE_WORD_DB).sum()) >= word_frames for a, b in runs], bool)

    def touching(start: float, end: float) -> np.ndarray:
        near = (starts < end + EDGE_ATTACH) & (ends > start - EDGE_ATTACH)
        return np.flatnonzero(((starts < end) & (ends > start)) | (near & wordlike))

    groups: list[list[float]] = []  # segments joined by one continuous run of sound
    last_run = -1
    for start, end in spans:
        hit = touching(start, end)
        if not hit.size and end - start < EDGE_GHOST:
            continue
        if groups and hit.size and hit[0] <= last_run and start - groups[-1][1] <= EDGE_JOIN:
            groups[-1][1] = end
        else:
            groups.append([start, end])
        if hit.size:
            last_run = int(hit[-1])
    known = ~np.isnan(sound)
    split = int(round(EDGE_SPLIT / hop))
    out: list[tuple[float, float]] = []
    for start, end in groups:
        hit = touching(start, end)
        pieces = [(start, end)]
        if hit.size:
            first, last = float(starts[hit[0]]), float(ends[hit[-1]])
            start = first if first >= start - reach else start
            end = last if last <= end + reach else end
            pieces = []
            for prev, h in zip(hit[:-1], hit[1:]):  # cut at measured pauses the VAD's hang-over bridged
                quiet = slice(runs[prev][1], runs[h][0])
                if quiet.stop - quiet.start >= split and known[quiet].all():
                    pieces.append((start, float(ends[prev])))
                    start = float(starts[h])
            pieces.append((start, end))
        for start, end in pieces:
            start, end = max(0.0, start), min(duration, end)
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(end, out[-1][1]))
            else:
                out.append((start, end))
    return out


def diarize_channels(rec: Recording, cfg: Settings, params: VadParams = VadParams(), skip_quiet: bool = True,
                     parallel: bool = True) -> Diarization:
    """Turns of a two-channel call. ``skip_quiet``: the VAD does not hear the stretches where a channel
    stays near its noise floor (:func:`qc.vad.quiet_runs`; mostly the other party's turns), a third of
    a channel on the bench calls, with the same turns. ``parallel``: the two channels' VAD run at once
    (each is single-threaded)."""
    if rec.channels != 2:
        raise ValueError("channel diarization needs a two-channel recording")
    energies = [frame_energy_db(rec, c) for c in (0, 1)]

    model = load_vad(cfg.vad_model)  # loaded here, once: not by two threads at the same time

    def vad(c: int) -> np.ndarray:  # the VAD hears what is not near the channel's noise floor
        return speech_probabilities(rec, c, vad=model, skip=quiet_runs(energies[c]) if skip_quiet else None)

    if parallel and (os.cpu_count() or 1) > 1:  # one core each: the VAD session runs single-threaded
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="vad") as pool:
            probs = list(pool.map(vad, (0, 1)))
    else:
        probs = [vad(c) for c in (0, 1)]
    n = min(len(p) for p in probs + energies)
    leaks = [leakage_db(energies[c][:n], energies[1 - c][:n], probs[1 - c][:n]) for c in (0, 1)]
    masks = channel_activity(probs, energies, params, leaks=leaks)
    fine = [fine_energy_db(rec, c) for c in (0, 1)]
    turns: list[Turn] = []
    for c, mask in enumerate(masks):
        spans = segments(mask, params, duration=rec.duration)
        spans = refine_edges(spans, own_sound_db(fine[c], fine[1 - c], leaks[c]), rec.duration)
        for start, end in spans:
            turns.append(Turn(call_id=rec.call_id, start=round(start, 3), end=round(end, 3), channel=c,
                              speaker=speaker_label(c)))
    turns = bridge_pauses(turns, BRIDGE_GAP)
    turns.sort(key=lambda t: (t.start, t.channel))
    turns = mark_overlaps(turns)
    return Diarization(turns=tuple(turns), backend="channels", overlaps=tuple(overlap_spans(turns)))
