"""Loading and compiling what a call needs, once per process, before its first call.

The first call a process analyses would otherwise pay for loading Whisper, the VAD, the speaker encoder,
spaCy and Presidio, and for compiling librosa's numba kernels (the spectrogram, pYIN pitch) and starting
openSMILE, spread over its stage times. :func:`warm_up` does all of it on a few seconds of synthetic
sound, so the calls' stage times are the calls' own, and the run reports the loading apart. Each loader
is cached per process (``functools.lru_cache``), so what is warmed here is what the calls use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from qc.config import Settings
from qc.records import Turn, Word

_LOCK = threading.Lock()
_WARM: set[tuple] = set()


def _key(cfg: Settings) -> tuple:
    return (cfg.asr_model, cfg.asr_device, cfg.vad_model, cfg.embedding_model, cfg.pii_model, cfg.redact_pii,
            cfg.redact_audio, cfg.speech_features, cfg.sample_rate)


def warm_up(cfg: Settings) -> dict[str, float]:
    """Load and compile everything a call analysed with ``cfg`` needs; seconds per part. Nothing (an
    empty dict) when this process is warm for these settings already."""
    key = _key(cfg)
    with _LOCK:
        if key in _WARM:
            return {}
        seconds: dict[str, float] = {}

        def timed(name: str, fn: Callable[[], object]) -> None:
            t0 = time.perf_counter()
            fn()
            seconds[name] = time.perf_counter() - t0

        rate = cfg.sample_rate
        t = np.arange(2 * rate) / rate
        voice = (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        timed("asr", lambda: _whisper(cfg))
        timed("vad", lambda: _vad(cfg, voice))
        timed("speaker encoder", lambda: _speaker_encoder(cfg))
        timed("spectrogram and prosody", lambda: _spectrogram(voice, rate))
        if cfg.speech_features:
            timed("speech features", lambda: _speech_features(voice, rate))
        timed("sentiment", _sentiment)
        if cfg.redact_pii or cfg.redact_audio:
            timed("pii", lambda: _pii(cfg))
        _WARM.add(key)
        return seconds


def _whisper(cfg: Settings) -> None:
    from qc.assets import load_whisper
    from qc.encoder_states import encoder_width

    encoder_width(load_whisper(cfg))  # loads the model and runs its encoder once


def _vad(cfg: Settings, voice: np.ndarray) -> None:
    from qc.vad import FRAME, load_vad

    vad = load_vad(cfg.vad_model)
    vad.stream()(np.ascontiguousarray(voice[: (len(voice) // FRAME) * FRAME]))


def _speaker_encoder(cfg: Settings) -> None:
    from qc.diarize.embedded import load_encoder, torch_device

    load_encoder(cfg.embedding_model, torch_device())


def _spectrogram(voice: np.ndarray, rate: int) -> None:
    from qc.prosody import role_prosody
    from qc.spectrogram import SpectrogramConfig, role_images

    turns = [Turn("warm-up", 0.0, 2.0, 0, "S0", "agent", "hello")]
    words = [Word("warm-up", 0.1, 0.5, "hello", 0.9, 0, "S0", "agent")]

    def read(a: float, b: float, channel: int = 0) -> np.ndarray:
        return voice[int(a * rate):int(b * rate)]

    role_images(read, turns, SpectrogramConfig(sample_rate=rate), frames=len(voice))
    role_prosody(read, turns, words, rate)


def _speech_features(voice: np.ndarray, rate: int) -> None:
    from qc.features import egemaps, mfcc_stats

    egemaps(voice, rate)
    mfcc_stats(voice, rate)


def _sentiment() -> None:
    from qc.sentiment import polarity

    polarity("thank you, that is great")


def _pii(cfg: Settings) -> None:
    from qc.pii.engine import detect

    detect("My name is John Smith and my card is 4111 1111 1111 1111.", cfg.pii_model)
