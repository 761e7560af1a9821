"""Stereo diarization: one speaker per channel, with cross-talk leakage rejected.

Each channel's speech is where its VAD says speech *and* its frame energy is not explained by the
other channel leaking into it. The leakage gain (dB, other -> this channel) is estimated per call from
the frames where the other party speaks loudly (a low quantile of the energy difference, so overtalk
does not inflate it); a frame counts as this channel's own speech when the other channel is silent,
or when it is at least ``MARGIN_DB`` louder than the leakage plus the channel's noise floor would make
it. Genuine overtalk (both parties at speaking level) passes on both channels.
"""

from __future__ import annotations

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.diarize import Diarization, mark_overlaps, overlap_spans
from qc.records import Turn
from qc.vad import VadParams, frame_energy_db, hysteresis, segments, speech_probabilities

MARGIN_DB = 10.0
BRIDGE_GAP = 0.8  # a pause shorter than this inside one party's speech stays in the turn (s)
DEFAULT_LEAK_DB = -60.0  # when nothing can be estimated: assume clean channels
ACTIVE_ABOVE_FLOOR_DB = 15.0  # the other party speaks where its channel is this far above its floor


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


def channel_activity(probs: list[np.ndarray], energies: list[np.ndarray], params: VadParams) -> list[np.ndarray]:
    """Boolean own-speech mask per channel (frames), leakage removed.

    A frame is this channel's speech when its VAD probability is high and it is not explained by the
    other channel leaking in: either the other party is not speaking, or this channel is at least
    ``MARGIN_DB`` louder than the leakage plus its own noise floor would make it. Probabilities of frames explained by
    leakage are zeroed before the hysteresis, so leaked speech cannot start or extend a turn.
    """
    n = min(len(p) for p in probs)
    probs = [p[:n] for p in probs]
    energies = [e[:n] for e in energies]
    masks = []
    for c in (0, 1):
        o = 1 - c
        leak = leakage_db(energies[c], energies[o], probs[o])
        floor = float(np.percentile(energies[c], 10))  # the channel's own noise floor
        # what this channel would measure with the other party leaking in over its noise floor
        expected = 10.0 * np.log10(10 ** ((energies[o] + leak) / 10) + 10 ** (floor / 10))
        other_active = probs[o] >= params.offset
        explained_by_leak = other_active & (energies[c] < expected + MARGIN_DB)
        masks.append(hysteresis(np.where(explained_by_leak, 0.0, probs[c]), params))
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


def diarize_channels(rec: Recording, cfg: Settings, params: VadParams = VadParams()) -> Diarization:
    if rec.channels != 2:
        raise ValueError("channel diarization needs a two-channel recording")
    probs = [speech_probabilities(rec, c, name=cfg.vad_model) for c in (0, 1)]
    energies = [frame_energy_db(rec, c) for c in (0, 1)]
    masks = channel_activity(probs, energies, params)
    turns: list[Turn] = []
    for c, mask in enumerate(masks):
        for start, end in segments(mask, params, duration=rec.duration):
            turns.append(Turn(call_id=rec.call_id, start=round(start, 3), end=round(end, 3), channel=c,
                              speaker=speaker_label(c)))
    turns = bridge_pauses(turns, BRIDGE_GAP)
    turns.sort(key=lambda t: (t.start, t.channel))
    turns = mark_overlaps(turns)
    return Diarization(turns=tuple(turns), backend="channels", overlaps=tuple(overlap_spans(turns)))
