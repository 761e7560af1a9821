"""The audio of one call: sentences synthesized, made telephone-like, placed on the call's timeline,
mixed to stereo or mono with cross-talk and background noise.

Every sentence is trimmed to its audible speech after the telephone band-pass (within
:data:`TRIM_DB` of its peak), and its span in the truth is where it is also above the call's line
noise (:func:`audible_span`), so turn boundaries in the truth are the speech boundaries a listener
hears (to a few milliseconds): on a 20 dB SNR call the last 40 dB of a fading "-th" lie under the
noise and no listener (or detector) can place them. Levels are absolute: speech sits at
:data:`NOMINAL_DBFS` (plus a small per-speaker offset and the style's loudness cue) and the noise floor
at the nominal level minus the SNR, so a louder (angry, rude) voice is louder against the same floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import butter, hilbert, resample_poly, sosfiltfilt

from qc.synth.scenario import Scenario, call_rng
from qc.synth.script import ScriptTurn
from math import gcd

from qc.synth.voices import SYNTH_RATE, synth_rate, synthesize

RATE = 8000
BAND = (300.0, 3400.0)
NOMINAL_DBFS = -22.0  # RMS of active speech at the neutral style
TRIM_DB = 40.0  # a sentence starts/ends where its 5 ms envelope comes within this of its peak
SENTENCE_PAUSE = (0.15, 0.3)  # pause between sentences of one turn (before the style scales it)
LEAD_IN = (0.3, 0.8)  # noise before the first turn
TAIL = (0.4, 0.9)  # noise after the last turn
MIN_OVERLAP = 0.25  # shorter overtalk is not worth a truth entry: the turn waits instead
LIFT_SHIFT_HZ = 3500.0  # fricative lift: 4-7 kHz energy shifted down into the band ...
LIFT_GAIN = 2.0  # ... at this gain (see lift_fricatives)

_BAND_SOS = butter(6, BAND, btype="bandpass", fs=RATE, output="sos")
_HIGH_SOS = butter(6, (4000.0, 10500.0), btype="bandpass", fs=SYNTH_RATE, output="sos")


@dataclass(frozen=True)
class PlacedTurn:
    """A turn where it ended up: times in seconds from the call start."""

    index: int
    speaker: str
    start: float
    end: float
    sentence_spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RenderedCall:
    audio: np.ndarray  # (frames, channels) int16 at RATE
    turns: tuple[PlacedTurn, ...]
    duration: float


def lift_fricatives(x: np.ndarray, rate: int = SYNTH_RATE, shift_hz: float = LIFT_SHIFT_HZ,
                    gain: float = LIFT_GAIN) -> np.ndarray:
    """Add the 4-10 kHz band, shifted down by ``shift_hz``, to the signal.

    The telephone band drops the hiss and bursts that tell espeak-ng's s, f, t and k apart; shifted
    into the band they survive (a hearing aid's frequency lowering, in its simplest form).
    """
    if gain <= 0 or len(x) < 64:
        return x
    high = sosfiltfilt(_HIGH_SOS, x)
    analytic = hilbert(high, next_fast_len(len(x)))[:len(x)]
    t = np.arange(len(x)) / rate
    return x + gain * np.real(analytic * np.exp(-2j * np.pi * shift_hz * t))


def telephone(x: np.ndarray, rate: int = SYNTH_RATE, lift: bool = True) -> np.ndarray:
    """TTS output at ``rate`` -> 8 kHz, 300-3400 Hz band-passed (zero phase: no delay).

    ``lift`` adds the fricative lift (espeak-ng needs it; flite's consonants survive the band).
    """
    pad = np.zeros(rate // 20, dtype=np.float64)
    x = x.astype(np.float64)
    if lift:
        x = lift_fricatives(x, rate)
    g = gcd(RATE, rate)
    y = resample_poly(np.concatenate([pad, x, pad]), RATE // g, rate // g)
    y = sosfiltfilt(_BAND_SOS, y)
    cut = len(pad) * RATE // rate
    return y[cut:len(y) - cut]


def envelope(x: np.ndarray, window: int = RATE // 200) -> np.ndarray:
    """Moving RMS over ``window`` samples (5 ms), centred."""
    return np.sqrt(np.convolve(x * x, np.ones(window) / window, mode="same"))


def trim(x: np.ndarray) -> np.ndarray:
    """The audible part of a sentence: from the first to the last sample whose envelope is within
    :data:`TRIM_DB` of the peak."""
    env = envelope(x)
    loud = np.flatnonzero(env > env.max() * 10 ** (-TRIM_DB / 20))
    if len(loud) == 0:
        raise ValueError("silent sentence")
    return x[loud[0]:loud[-1] + 1]


def audible_span(x: np.ndarray, noise_rms: float) -> tuple[int, int]:
    """Samples ``[a, b)`` of a trimmed sentence that stand above the line noise: from the first to the
    last sample whose 5 ms envelope exceeds ``noise_rms`` (the noise's RMS: 0 dB local SNR, the
    ideal binary mask's usual criterion). Where the noise is under the trim level, or the sentence
    never rises above it, the whole sentence."""
    env = envelope(x)
    if noise_rms <= env.max() * 10 ** (-TRIM_DB / 20):
        return 0, len(x)
    loud = np.flatnonzero(env > noise_rms)
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(x))


def active_rms(x: np.ndarray) -> float:
    """RMS over the 10 ms frames within 30 dB of the loudest one (speech, not its pauses)."""
    env = envelope(x, RATE // 100)
    active = env > env.max() * 10 ** (-30 / 20)
    return float(np.sqrt(np.mean(x[active] ** 2)))


def _sentence_audio(scenario: Scenario, script: tuple[ScriptTurn, ...]) -> dict[tuple[int, int], np.ndarray]:
    """(turn, sentence) -> leveled 8 kHz audio, one TTS run per speaker."""
    out: dict[tuple[int, int], np.ndarray] = {}
    for role, voice, style, gain_db in (
            ("agent", scenario.agent_voice, scenario.agent_style, scenario.speaker_gain_db[0]),
            ("customer", scenario.customer_voice, scenario.customer_style, scenario.speaker_gain_db[1])):
        keys = [(k, j) for k, turn in enumerate(script) if turn.speaker == role for j in range(len(turn.sentences))]
        texts = [script[k].sentences[j].text for k, j in keys]
        level = 10 ** ((NOMINAL_DBFS + gain_db + style.gain_db) / 20)
        for key, raw in zip(keys, synthesize(texts, voice, style)):
            audio = trim(telephone(raw, synth_rate(voice), lift=voice.engine == "espeak"))
            out[key] = audio * (level / active_rms(audio))
    return out


def _pink_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Band-limited noise with power falling as 1/f**slope, unit RMS."""
    m = next_fast_len(n)
    spectrum = np.fft.rfft(rng.standard_normal(m))
    f = np.maximum(np.fft.rfftfreq(m, 1 / RATE), 20.0)
    noise = sosfiltfilt(_BAND_SOS, np.fft.irfft(spectrum / f ** (slope / 2), m)[:n])
    return noise / np.sqrt(np.mean(noise ** 2))


def render_call(scenario: Scenario, script: tuple[ScriptTurn, ...]) -> RenderedCall:
    """Synthesize and mix ``script``; deterministic in (scenario, script)."""
    rng = call_rng(scenario.seed, scenario.index, 2)
    audio = _sentence_audio(scenario, script)
    noise_rms = 10 ** ((NOMINAL_DBFS - scenario.snr_db) / 20)
    placed: list[PlacedTurn] = []
    pieces: list[tuple[str, int, np.ndarray]] = []  # (speaker, start sample, audio)
    ends = {"agent": 0.0, "customer": 0.0}
    t_end = float(rng.uniform(*LEAD_IN))  # end of all speech so far
    extent = (t_end, t_end)  # the previous turn as placed (its trimmed sentences)
    for k, turn in enumerate(script):
        style = scenario.agent_style if turn.speaker == "agent" else scenario.customer_style
        parts, spans, offset = [], [], 0.0
        for j in range(len(turn.sentences)):
            if j:
                offset += max(0.08, float(rng.uniform(*SENTENCE_PAUSE)) * style.gap_scale)
            a = audio[(k, j)]
            heard = audible_span(a, noise_rms)
            spans.append((offset + heard[0] / RATE, offset + heard[1] / RATE))
            parts.append((offset, a))
            offset += len(a) / RATE
        length = offset
        if k == 0:
            start = t_end
        elif turn.gap < 0 and placed:
            prev_start, prev_end = extent
            overlap = min(-turn.gap, 0.6 * (prev_end - prev_start), 0.6 * length)
            start = prev_end - overlap if overlap >= MIN_OVERLAP else t_end + 0.2
        else:
            start = t_end + turn.gap
        start = max(start, turn.min_start, ends[turn.speaker] + 0.15)
        start = round(start * RATE) / RATE  # on the sample grid, so truth and audio agree exactly
        for off, a in parts:
            pieces.append((turn.speaker, round((start + off) * RATE), a))
        end = start + length
        extent = (start, end)
        # the truth's spans are the audible ones; the timeline goes on from the trimmed sentences'
        placed.append(PlacedTurn(k, turn.speaker, start + spans[0][0], start + spans[-1][1],
                                 tuple((start + a, start + b) for a, b in spans)))
        ends[turn.speaker] = end
        t_end = max(t_end, end)
    duration = t_end + float(rng.uniform(*TAIL))
    n = int(np.ceil(duration * RATE))
    tracks = {"agent": np.zeros(n), "customer": np.zeros(n)}
    for speaker, at, a in pieces:
        tracks[speaker][at:at + len(a)] += a
    slope = float(rng.uniform(0.8, 1.6))
    if scenario.layout == "stereo":
        leak = 10 ** (scenario.leakage_db / 20)
        agent_ch = tracks["agent"] + leak * tracks["customer"] + noise_rms * _pink_noise(rng, n, slope)
        customer_ch = tracks["customer"] + leak * tracks["agent"] + noise_rms * _pink_noise(rng, n, slope)
        channels = [agent_ch, customer_ch] if scenario.agent_channel == 0 else [customer_ch, agent_ch]
        mix = np.stack(channels, axis=1)
    else:
        mix = (tracks["agent"] + tracks["customer"] + noise_rms * _pink_noise(rng, n, slope))[:, None]
    pcm = np.clip(np.round(mix * 32767.0), -32768, 32767).astype(np.int16)
    # times on the 3-decimal grid the truth is written in
    return RenderedCall(pcm, tuple(placed), round(n / RATE, 3))
