"""Voices, speaking styles, and the synthesis of one speaker's sentences (flite or espeak-ng).

Two text-to-speech engines from Debian can speak a corpus (``--tts``):

- **flite** (the default): CMU's statistical-parametric voices (slt, rms, awb). They survive the
  telephone band well: Whisper tiny.en reads band-passed flite sentences at about 3-9% WER. Speaker
  identities are made from the base voices at different mean pitches and tempos.
- **espeak-ng**: formant synthesis, the harder case (about 13-30% WER for tiny.en after the band-pass).

The rest of this note is about espeak-ng. Telephone audio keeps 300-3400 Hz; espeak-ng puts much of what makes its consonants intelligible above
that, so most stock voices come out of the band-pass badly for Whisper. The voices below were picked
by measuring Whisper tiny.en's word error rate on band-passed speech: the variants that do well have
weak formants above F5 (energy the telephone band throws away anyway). Some of them are our own
variant files, written into a private copy of espeak-ng's data directory (symbolic links to the
system's files plus ours) that lives for the process.

A :class:`Style` is how a speaker talks in one call (the voice cue of an emotion or of politeness):
speed, pitch, pitch range, loudness and pauses. espeak-ng is deterministic for a fresh process, so
the same text, voice and style always give the same samples.
"""

from __future__ import annotations

import atexit
import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf

ESPEAK = "espeak-ng"
FLITE = "flite"
SYNTH_RATE = 22050  # espeak-ng's output rate
FLITE_RATE = 16000  # flite's output rate (its 16 kHz voices)
TTS_ENGINES = ("flite", "espeak")
BREAK_MS = 1200  # silence between sentences of one run, where the run is cut apart
_SPLIT_MIN = 0.9  # a run of digital silence at least this long (s) is a sentence boundary

Gender = Literal["female", "male"]
Engine = Literal["flite", "espeak"]
StyleName = Literal["neutral", "angry", "satisfied", "polite", "rude"]
Range = Literal["x-low", "low", "medium", "high", "x-high"]


@dataclass(frozen=True)
class Voice:
    """One speaker identity.

    espeak-ng: a language and variant at a base pitch (0..99) and speed (words per minute). flite: a
    base voice (``variant``: slt, rms, awb, kal16) at a mean pitch in Hz and a duration stretch
    (``speed`` in percent: 100 is the voice's own tempo, 110 is 10% slower).
    """

    id: str
    language: str  # espeak-ng language, e.g. "en-us" ("en" for flite)
    variant: str  # espeak-ng variant file (stock or one of ours), or the flite voice
    gender: Gender
    pitch: int  # espeak-ng pitch 0..99, or flite mean F0 in Hz, at the neutral style
    speed: int  # espeak-ng words per minute, or flite duration stretch in percent
    engine: Engine = "espeak"

    @property
    def espeak_name(self) -> str:
        return f"{self.language}+{self.variant}" if self.engine == "espeak" else f"flite:{self.variant}"

    @property
    def speaker(self) -> str:
        """The underlying synthetic speaker (kal and kal16 are one man)."""
        return self.variant.removesuffix("16")


@dataclass(frozen=True)
class Style:
    """How a voice is used in one call, relative to its neutral delivery."""

    name: StyleName
    rate: float  # speed multiplier
    pitch: int  # added to the voice's espeak-ng pitch
    range: Range  # SSML prosody range (pitch movement)
    gain_db: float  # loudness relative to the nominal speech level
    gap_scale: float  # multiplies the pauses before this speaker's turns and between sentences
    word_gap: int  # extra pause between words, in 10 ms units (espeak-ng -g)


# The voice cues. Angry: faster, higher, much more pitch movement, louder, quick to answer. Satisfied:
# slower, higher, wide pitch range, softer, unhurried. Rude: faster, low and flat, loud, clipped
# pauses. Polite: a little slower, warm (slightly higher, lively), a touch softer. Speed changes stay
# within about 10%: faster espeak-ng speech costs Whisper far more than any other cue does.
STYLES: dict[StyleName, Style] = {
    "neutral": Style("neutral", rate=1.0, pitch=0, range="medium", gain_db=0.0, gap_scale=1.0, word_gap=2),
    "angry": Style("angry", rate=1.1, pitch=16, range="x-high", gain_db=6.0, gap_scale=0.55, word_gap=2),
    "satisfied": Style("satisfied", rate=0.9, pitch=12, range="x-high", gain_db=-3.0, gap_scale=1.15,
                       word_gap=3),
    "rude": Style("rude", rate=1.1, pitch=-12, range="x-low", gain_db=5.0, gap_scale=0.5, word_gap=2),
    "polite": Style("polite", rate=0.94, pitch=6, range="high", gain_db=-1.5, gap_scale=1.1, word_gap=3),
}

# Our variant: a stock-like voice with the formants above F5 silenced and a tone curve that keeps
# energy inside the telephone band.
CUSTOM_VARIANTS: dict[str, str] = {
    "qcm2": """name qcm2
gender male
pitch 90 160
formant 0 100 125 100
formant 1 96 90 80
formant 2 97 70 90
formant 3 97 60 90
formant 4 97 60 90
formant 5 75 50 90
formant 6 90 0 100
formant 7 100 0 100
formant 8 100 0 100
tone 100 200 600 150 800 100 2400 80 3600 95 5400 100
""",
}

# Each agent keeps one voice; customers draw from their own pool (scenario.py keeps the two parties of
# a call clearly apart). Measured with Whisper tiny.en on band-passed sentences; female variants all
# came out worse than these, so only one agent and one customer voice are female.
AGENT_VOICES: dict[str, Voice] = {
    "agent-01": Voice("a1-pablo", "en-us", "pablo", "male", 50, 160),
    "agent-02": Voice("a2-f2", "en-us", "f2", "female", 50, 160),
    "agent-03": Voice("a3-rob", "en-us", "rob", "male", 42, 160),
    "agent-04": Voice("a4-m1", "en-us", "m1", "male", 50, 160),
    "agent-05": Voice("a5-qcm2", "en-us", "qcm2", "male", 50, 160),
    "agent-06": Voice("a6-nguyen", "en-us", "Nguyen", "male", 60, 160),
}
CUSTOMER_VOICES: tuple[Voice, ...] = (
    Voice("c1-grandpa", "en-us", "grandpa", "male", 50, 160),
    Voice("c2-mike", "en-us", "Mike", "male", 50, 160),
    Voice("c3-m3", "en-us", "m3", "male", 45, 160),
    Voice("c4-mario", "en-us", "Mario", "male", 55, 160),
    Voice("c5-nguyen", "en-us", "Nguyen", "male", 38, 160),
    Voice("c6-rob", "en-us", "rob", "male", 65, 160),
    Voice("c7-pablo", "en-us", "pablo", "male", 72, 160),
    Voice("c8-qcm2", "en-us", "qcm2", "male", 35, 160),
    Voice("c9-f2", "en-us", "f2", "female", 62, 160),
)


# flite identities: the three statistical-parametric CMU voices at several mean pitches (their own:
# slt ~175 Hz, rms ~105 Hz, awb ~125 Hz). Picked by Whisper tiny.en WER on band-passed call sentences
# with background noise (15 neutral + 15 angry sentences each): rms 100-135 Hz 4.5-6%, awb 125 Hz 5%,
# slt 190-205 Hz 8-9%; dropped: slt 160-175 Hz (10-17%), awb 140 Hz (10%), kal16 (13%).
FLITE_AGENT_VOICES: dict[str, Voice] = {
    "agent-01": Voice("fa1-slt", "en", "slt", "female", 190, 100, "flite"),
    "agent-02": Voice("fa2-rms", "en", "rms", "male", 110, 100, "flite"),
    "agent-03": Voice("fa3-awb", "en", "awb", "male", 125, 108, "flite"),
    "agent-04": Voice("fa4-slt", "en", "slt", "female", 202, 105, "flite"),
    "agent-05": Voice("fa5-rms", "en", "rms", "male", 130, 100, "flite"),
    "agent-06": Voice("fa6-awb", "en", "awb", "male", 118, 104, "flite"),
}
FLITE_CUSTOMER_VOICES: tuple[Voice, ...] = (
    Voice("fc1-rms", "en", "rms", "male", 125, 100, "flite"),
    Voice("fc2-slt", "en", "slt", "female", 196, 100, "flite"),
    Voice("fc3-awb", "en", "awb", "male", 122, 105, "flite"),
    Voice("fc4-rms", "en", "rms", "male", 102, 104, "flite"),
    Voice("fc5-slt", "en", "slt", "female", 186, 104, "flite"),
    Voice("fc6-awb", "en", "awb", "male", 130, 110, "flite"),
    Voice("fc7-rms", "en", "rms", "male", 135, 100, "flite"),
)


def voice_tables(tts: str) -> tuple[dict[str, Voice], tuple[Voice, ...]]:
    """(agent voices by agent id, customer voices) for a TTS engine."""
    if tts == "flite":
        return FLITE_AGENT_VOICES, FLITE_CUSTOMER_VOICES
    if tts == "espeak":
        return AGENT_VOICES, CUSTOMER_VOICES
    raise ValueError(f"tts must be one of {', '.join(TTS_ENGINES)}, got {tts!r}")


class SynthesisError(RuntimeError):
    """The TTS engine is missing or failed."""


def check_engine(tts: str) -> None:
    """Raise :class:`SynthesisError` when the engine for ``tts`` is not installed."""
    voice_tables(tts)
    if tts == "flite":
        if shutil.which(FLITE) is None:
            raise SynthesisError("flite is not installed (Debian/Ubuntu: apt-get install flite)")
    else:
        data_path()


@functools.lru_cache(maxsize=1)
def _system_data_dir() -> Path:
    if shutil.which(ESPEAK) is None:
        raise SynthesisError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    out = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if not match or not Path(match.group(1)).is_dir():
        raise SynthesisError(f"cannot find espeak-ng's data directory in {out!r}")
    return Path(match.group(1))


@functools.lru_cache(maxsize=1)
def data_path() -> Path:
    """A private espeak-ng data directory (the parent of ``espeak-ng-data``) holding our variants."""
    system = _system_data_dir()
    root = Path(tempfile.mkdtemp(prefix="callqc-espeak-"))
    atexit.register(shutil.rmtree, root, True)
    data = root / "espeak-ng-data"
    data.mkdir()
    for entry in system.iterdir():
        if entry.name != "voices":
            os.symlink(entry, data / entry.name)
    voices = data / "voices"
    voices.mkdir()
    for entry in (system / "voices").iterdir():
        if entry.name != "!v":
            os.symlink(entry, voices / entry.name)
    variants = voices / "!v"
    variants.mkdir()
    stock = system / "voices" / "!v"
    if stock.is_dir():
        for entry in stock.iterdir():
            os.symlink(entry, variants / entry.name)
    for name, text in CUSTOM_VARIANTS.items():
        (variants / name).write_text("language variant\n" + text)
    return root


def ssml(sentences: Sequence[str], style: Style) -> str:
    """The SSML document espeak-ng reads: the sentences apart by a long break, in the style's range."""
    body = f'<break time="{BREAK_MS}ms"/>'.join(escape(s) for s in sentences)
    return f'<speak><prosody range="{style.range}">{body}</prosody></speak>'


def espeak_args(voice: Voice, style: Style) -> list[str]:
    speed = max(80, min(450, round(voice.speed * style.rate)))
    pitch = max(0, min(99, voice.pitch + style.pitch))
    return ["-v", voice.espeak_name, "-s", str(speed), "-p", str(pitch), "-g", str(style.word_gap)]


def _run(document: str, voice: Voice, style: Style) -> np.ndarray:
    cmd = [ESPEAK, f"--path={data_path()}", "-m", *espeak_args(voice, style), "--stdout", document]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        raise SynthesisError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="int16")
    if rate != SYNTH_RATE:
        raise SynthesisError(f"espeak-ng wrote {rate} Hz, expected {SYNTH_RATE}")
    return audio


def _split(audio: np.ndarray, count: int, rate: int = SYNTH_RATE) -> list[np.ndarray] | None:
    """Cut one run at its ``count - 1`` long silences; None when they cannot be found.

    Silence is what stays 60 dB below the run's peak for :data:`_SPLIT_MIN` seconds or more (some
    variants breathe or echo, so it is not always digital zero).
    """
    if count == 1:
        return [audio]
    x = audio.astype(np.float64)
    window = rate // 100
    env = np.sqrt(np.convolve(x * x, np.ones(window) / window, mode="same"))
    quiet = np.concatenate([[False], env < env.max() * 1e-3, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    long_runs = [(a, b) for a, b in zip(starts, ends) if b - a >= _SPLIT_MIN * rate and a > 0
                 and b < len(audio)]
    if len(long_runs) != count - 1:
        return None
    cuts = [0] + [(a + b) // 2 for a, b in long_runs] + [len(audio)]
    return [audio[cuts[k]:cuts[k + 1]] for k in range(count)]


# flite's pitch movement (Hz of F0 standard deviation) for the SSML range names of a style.
# Wider movement than x-high below cost Whisper more than the cue is worth (angry 0.12-0.16 WER at 42 Hz).
FLITE_RANGE_HZ: dict[str, float] = {"x-low": 7.0, "low": 13.0, "medium": 20.0, "high": 26.0, "x-high": 32.0}
FLITE_PITCH_HZ_PER_STEP = 1.3  # a style's espeak-ng pitch step, in Hz of flite mean F0


def flite_args(voice: Voice, style: Style) -> list[str]:
    """flite options for ``voice`` in ``style``: tempo, mean pitch and pitch movement."""
    stretch = voice.speed / 100.0 / style.rate
    f0 = voice.pitch + FLITE_PITCH_HZ_PER_STEP * style.pitch
    scale = 1.0 if voice.gender == "male" else 1.2  # a female voice moves more Hz for the same cue
    return ["-voice", voice.variant, "--setf", f"duration_stretch={stretch:.3f}",
            "--setf", f"int_f0_target_mean={f0:.1f}",
            "--setf", f"int_f0_target_stddev={FLITE_RANGE_HZ[style.range] * scale:.1f}"]


@functools.lru_cache(maxsize=8)
def _flite_command(variant: str) -> tuple[str, ...]:
    """Debian's one-voice binary (``flite_cmu_us_rms``: same samples, a third less start-up than
    ``flite -voice rms``, which registers every voice first) where installed, else ``flite -voice``."""
    single = shutil.which(f"flite_cmu_us_{variant}")
    return (single,) if single else (FLITE, "-voice", variant)


def _flite_run(sentence: str, voice: Voice, style: Style) -> np.ndarray:
    """One sentence through flite (its SSML breaks are ignored, so sentences cannot be batched and
    cut apart again; starting flite costs ~10 ms, the synthesis itself is the expense)."""
    with tempfile.TemporaryDirectory(prefix="callqc-flite-") as tmp:
        text, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        text.write_text(sentence + "\n")
        proc = subprocess.run([*_flite_command(voice.variant), *flite_args(voice, style)[2:], "-f", str(text),
                               "-o", str(wav)], capture_output=True)
        if proc.returncode != 0 or not wav.exists():
            raise SynthesisError(f"flite failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        audio, rate = sf.read(wav, dtype="int16")
    if rate != FLITE_RATE:
        raise SynthesisError(f"flite voice {voice.variant} wrote {rate} Hz, expected {FLITE_RATE}")
    return audio


def synth_rate(voice: Voice) -> int:
    """The sample rate of :func:`synthesize`'s output for ``voice``."""
    return FLITE_RATE if voice.engine == "flite" else SYNTH_RATE


def synthesize(sentences: Sequence[str], voice: Voice, style: Style) -> list[np.ndarray]:
    """Each sentence spoken by ``voice`` in ``style``: float32 samples at :func:`synth_rate`, in -1..1.

    espeak-ng: all sentences go through one process (starting it is the expense), apart by long breaks
    that are cut again. flite: one process per sentence. Raises :class:`SynthesisError` when the engine is missing or fails.
    """
    if not sentences:
        return []
    if voice.engine == "flite":
        pieces = [_flite_run(s, voice, style) for s in sentences]
    else:
        pieces = _split(_run(ssml(sentences, style), voice, style), len(sentences), SYNTH_RATE)
        if pieces is None:  # a sentence with a long pause of its own: synthesize one at a time
            pieces = [_run(ssml([s], style), voice, style) for s in sentences]
    return [p.astype(np.float32) / 32768.0 for p in pieces]
