"""What a two-channel file's channels hold, decided from the audio: two parties (one on each channel),
the same conversation twice ("dual mono": what a recorder, a mixer, a resampler or a lossy codec
writes, never bit for bit identical), or one live channel beside a silent one or beside a mere
quieter copy of it (cross-talk only).

Only the first is a stereo call for the channels path; the others are one conversation and go down
the mono path on one channel, so the leakage logic of the channels path never sees a copy of a
channel as cross-talk to be removed (which removes all the call's speech).

The test is on short frames of both channels: the levels of each channel's frames in a few frequency
bands, relative to that channel's own typical spectrum (so a fixed gain, a filter or a codec's
colouring cancels), correlated between the channels after aligning them within ``MAX_LAG_S``. The same
conversation correlates strongly; two parties anti-correlate (each channel is loud while its own
party talks); a steady tone or noise has no pattern to correlate and is left as it is. Of two dual-mono channels
the one that went through a narrowband codec on the way lacks the sound above 4 kHz: the other, the
original, is kept. Where the speech itself is narrowband (a telephone recording), both channels lack
it, and the louder is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FRAME_S = 0.032
HOP_S = 0.020
BANDS = 16
MAX_LAG_S = 0.2
LIVE_DB = 12.0  # a frame is live this far above its channel's noise floor
MIN_LIVE_S = 0.5  # a channel with less live audio than this is silent
SAME_CORR = 0.7  # spectro-temporal correlation at or above which the channels are one conversation
DUAL_MONO_DB = 10.0  # one conversation, channels this close in level: dual mono; further apart: a copy
OWN_DB = 15.0  # a frame this much louder, relative to the other channel, than is usual: a sound of its own
MIN_OWN_S = 1.0  # a channel with this much sound of its own carries a party of its own
WIDE_HZ = 4000.0  # what a narrowband (8 kHz) codec cannot carry
WIDEBAND_DB = -40.0  # speech brighter than this carries sound above WIDE_HZ (a wideband recording)
WIDER_DB = 8.0  # wideband dual mono whose channels' brightness differs this much: keep the brighter (the original)
BLOCK_S = 60.0
MAX_BLOCKS = 10  # long calls are sampled in this many blocks spread over the call


@dataclass(frozen=True)
class ChannelVerdict:
    """``kind``: ``two_party``, ``dual_mono``, ``copy`` (one channel is a quieter copy of the other),
    ``one_silent``, ``silent`` (neither channel has speech-like sound) or ``undecided`` (no pattern to
    compare: steady tones or noise). ``channel``: the channel to keep for the mono path, where one
    conversation. ``reason``: a sentence an analyst can read."""

    kind: str
    reason: str
    channel: int | None = None
    similarity: float | None = None
    level_db: float | None = None  # channel 0's level minus channel 1's, on the live frames
    delay_ms: float | None = None  # channel 1 is late by this much (negative: early)

    @property
    def one_conversation(self) -> bool:
        return self.kind in ("dual_mono", "copy", "one_silent")


def _band_levels(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame levels in dBFS, (frames, BANDS) band levels in dB, frame brightness in dB) of one channel.
    Brightness: the power above ``WIDE_HZ`` relative to the telephone band (NaN where the rate has no
    room above it): what a narrowband codec on the way takes away."""
    n, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if len(x) < n:
        return np.zeros(0), np.zeros((0, BANDS)), np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    edges = np.geomspace(100.0, min(4000.0, rate / 2 - 1), BANDS + 1)
    idx = np.digitize(freqs, edges) - 1
    bands = np.stack([power[:, idx == b].sum(axis=1) for b in range(BANDS)], axis=1)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    bright = np.full(len(frames), np.nan)
    if rate / 2 > WIDE_HZ + 1000:
        high = power[:, freqs >= WIDE_HZ].sum(axis=1)
        band = power[:, (freqs >= 300) & (freqs < 3400)].sum(axis=1)
        bright = 10 * np.log10((high + 1e-12) / (band + 1e-12))
    return level, 10 * np.log10(bands + 1e-10), bright


def _blocks(duration: float) -> list[tuple[float, float]]:
    if duration <= BLOCK_S * MAX_BLOCKS:
        return [(0.0, duration)]
    starts = np.linspace(0.0, duration - BLOCK_S, MAX_BLOCKS)
    return [(float(s), float(s) + BLOCK_S) for s in starts]


def analyse_channels(read: Callable[[float, float], np.ndarray], duration: float, rate: int) -> ChannelVerdict:
    """What the two channels hold. ``read(start, end)`` returns (2, n) samples at ``rate``."""
    levels: list[list[np.ndarray]] = [[], []]
    bands: list[list[np.ndarray]] = [[], []]
    brightness: list[list[np.ndarray]] = [[], []]
    diff_energy = energy = 0.0
    for a, b in _blocks(duration):
        block = read(a, b).astype(np.float64)
        diff_energy += float(np.sum((block[0] - block[1]) ** 2))
        energy += float(np.sum(block[0] ** 2) + np.sum(block[1] ** 2))
        for c in (0, 1):
            lv, bd, br = _band_levels(block[c], rate)
            levels[c].append(lv)
            bands[c].append(bd)
            brightness[c].append(br)
    if energy > 0 and diff_energy / energy < 1e-4:
        return ChannelVerdict("dual_mono", "dual mono: identical channels: a mono call on channel 0", channel=0,
                              similarity=1.0, level_db=0.0, delay_ms=0.0)
    lv = [np.concatenate(levels[c]) for c in (0, 1)]
    bd = [np.concatenate(bands[c]) for c in (0, 1)]
    m = min(len(lv[0]), len(lv[1]))
    if m == 0:
        return ChannelVerdict("silent", "too short to compare the channels")
    lv, bd = [v[:m] for v in lv], [v[:m] for v in bd]
    floor = [float(np.percentile(v, 10)) for v in lv]
    live = [(lv[c] > floor[c] + LIVE_DB) & (lv[c] > -60.0) for c in (0, 1)]
    live_s = [float(v.sum()) * HOP_S for v in live]
    if max(live_s) < MIN_LIVE_S:
        return ChannelVerdict("silent", "no speech-like sound on either channel")
    for c in (0, 1):
        if live_s[c] < MIN_LIVE_S:
            k = 1 - c
            return ChannelVerdict("one_silent", f"channel {c} is silent: a mono call on channel {k}", channel=k)
    active = live[0] | live[1]
    z = [bd[c] - np.median(bd[c][active], axis=0) for c in (0, 1)]
    env = [z[c].mean(axis=1) for c in (0, 1)]
    max_lag = int(MAX_LAG_S / HOP_S)
    best_corr, best_lag = -2.0, 0
    for lag in range(-max_lag, max_lag + 1):
        # channel 1 late by ``lag`` frames: compare channel 0 at t with channel 1 at t + lag
        i0 = np.arange(max(0, -lag), min(m, m - lag))
        sel = i0[active[i0] | active[i0 + lag]]
        if len(sel) < 10:
            continue
        a, b = env[0][sel], env[1][sel + lag]
        if a.std() < 1e-6 or b.std() < 1e-6:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best_corr:
            best_corr, best_lag = r, lag
    i0 = np.arange(max(0, -best_lag), min(m, m - best_lag))
    sel = i0[active[i0] | active[i0 + best_lag]]
    a, b = z[0][sel].ravel(), z[1][sel + best_lag].ravel()
    if len(sel) < 10 or a.std() < 0.5 or b.std() < 0.5:
        return ChannelVerdict("undecided", "both channels are steady (tones or noise): kept as two channels")
    corr = float(np.corrcoef(a, b)[0, 1])
    delay = best_lag * HOP_S * 1000
    # a party who says little (a "yes" in a long call) hardly moves the correlation: one conversation
    # also means that neither channel has sound of its own that the other lacks
    diff = lv[0][sel] - lv[1][sel + best_lag]
    level = float(np.median(diff))
    rel = diff - level
    own_s = [float(((rel > OWN_DB) & live[0][sel]).sum()) * HOP_S,
             float(((-rel > OWN_DB) & live[1][sel + best_lag]).sum()) * HOP_S]
    if corr < SAME_CORR or max(own_s) >= MIN_OWN_S:
        return ChannelVerdict("two_party", f"two parties, one on each channel (similarity {corr:.2f}, "
                              f"sound of its own {own_s[0]:.1f} s / {own_s[1]:.1f} s)",
                              similarity=corr, level_db=level, delay_ms=delay)
    if abs(level) <= DUAL_MONO_DB:
        both = live[0] & live[1]
        bright = [np.concatenate(brightness[c])[:m] for c in (0, 1)]
        wider = [float(np.nanmedian(bright[c][both])) if both.any() and np.isfinite(bright[c][both]).any()
                 else np.nan for c in (0, 1)]
        gap = abs(wider[0] - wider[1]) if np.isfinite(wider).all() else 0.0
        if max(wider) > WIDEBAND_DB and gap >= WIDER_DB:
            keep = int(np.argmax(wider))
            why = f"channel {keep} keeps {gap:.0f} dB more above {WIDE_HZ / 1000:.0f} kHz"
        else:
            keep = 0 if level >= 0 else 1
            why = f"channel {keep} is the louder"
        return ChannelVerdict(
            "dual_mono", f"dual mono: both channels carry the same conversation (similarity {corr:.2f}, "
            f"level difference {abs(level):.1f} dB, delay {abs(delay):.0f} ms; {why}): a mono call on "
            f"channel {keep}", channel=keep, similarity=corr, level_db=level, delay_ms=delay)
    keep, quiet = (0, 1) if level > 0 else (1, 0)
    return ChannelVerdict(
        "copy", f"channel {quiet} carries only a copy of channel {keep}, {abs(level):.0f} dB quieter "
        f"(similarity {corr:.2f}): a mono call on channel {keep}", channel=keep, similarity=corr,
        level_db=level, delay_ms=delay)
