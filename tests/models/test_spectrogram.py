"""Spectrogram images of each role's speech: the crops equal those of the whole role's spectrogram while
reading only the audio under them (bounded memory for calls of hours)."""

from __future__ import annotations

import numpy as np
import pytest

from qc.records import Turn
from qc.spectrogram import SpectrogramConfig, crops_of, log_mel, role_images

SR = 16000


class Reader:
    """``read(start, end, channel)`` over an in-memory two-channel call, counting the samples read."""

    def __init__(self, audio: np.ndarray):
        self.audio = audio
        self.samples_read = 0

    def __call__(self, start: float, end: float, channel: int) -> np.ndarray:
        a, b = int(round(start * SR)), min(self.audio.shape[1], int(round(end * SR)))
        self.samples_read += max(0, b - a)
        return self.audio[channel, a:b]


def call(seconds: float, turn: float, seed: int = 0) -> tuple[np.ndarray, list[Turn]]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    audio = np.stack([0.1 * np.sin(2 * np.pi * (300 + 50 * np.sin(t)) * t), 0.05 * rng.standard_normal(n)])
    audio = audio.astype(np.float32)
    turns, start, k = [], 0.5, 0
    while start + turn < seconds:
        role = ("agent", "customer")[k % 2]
        turns.append(Turn("c", round(start, 3), round(start + turn * (0.6 + 0.4 * (k % 3) / 2), 3), k % 2,
                          f"SPEAKER_0{k % 2}", role=role))
        start += turn + 0.7
        k += 1
    return audio, turns


def whole_role_crops(reader: Reader, turns: list[Turn], role: str, cfg: SpectrogramConfig) -> np.ndarray:
    parts = [reader(t.start, t.end, t.channel) for t in turns if t.role == role]
    return crops_of(log_mel(np.concatenate(parts), cfg), cfg)


@pytest.mark.parametrize("seconds,turn", [(20.0, 3.0), (600.0, 7.0)])  # short: crops overlap; long: excerpts
def test_crops_equal_the_whole_roles_spectrogram(seconds, turn):
    cfg = SpectrogramConfig()
    audio, turns = call(seconds, turn)
    images, present = role_images(Reader(audio), turns, cfg, frames=audio.shape[1])
    assert present.all()
    for r, role in enumerate(("agent", "customer")):
        expected = (whole_role_crops(Reader(audio), turns, role, cfg) - cfg.floor_db) / -cfg.floor_db
        assert images[r].shape == (cfg.crops, cfg.n_mels, cfg.width)
        np.testing.assert_allclose(images[r].astype(np.float32), expected, atol=2e-3)  # float16 storage


def test_only_the_audio_under_the_crops_is_read():
    cfg = SpectrogramConfig()
    audio, turns = call(1800.0, 9.0)  # 30 minutes, ~13 min of speech per role
    reader = Reader(audio)
    role_images(reader, turns, cfg, frames=audio.shape[1])
    per_crop = (cfg.width - 1) * cfg.hop + cfg.n_fft
    assert reader.samples_read <= 2 * cfg.crops * per_crop  # ~31 s a role, not 13 minutes


def test_a_role_that_never_speaks_is_absent():
    audio, turns = call(20.0, 3.0)
    images, present = role_images(Reader(audio), [t for t in turns if t.role == "agent"], SpectrogramConfig())
    assert present.tolist() == [True, False] and not images[1].any()
