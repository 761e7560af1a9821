"""Log-mel spectrogram images of a call, one stack per role (agent, customer).

Each role's speech (its diarized turns, read from the channel each turn was heard on) is joined and
turned into a log-mel spectrogram (librosa). The spectrogram is cut into ``crops`` images of
``width`` frames spread evenly over the role's speech, so a long call is sampled from start to end
instead of being cut after the first seconds. Levels are absolute (dB against full scale, not
normalised per image): how loud someone speaks is part of how they sound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qc.records import ROLES, Turn


@dataclass(frozen=True)
class SpectrogramConfig:
    """How the images are drawn. ``hop`` in samples at ``sample_rate``; ``fmax`` in Hz."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 320  # 20 ms
    n_mels: int = 64
    fmax: float = 4000.0  # telephone audio carries nothing above 4 kHz
    width: int = 256  # frames per image (5.1 s)
    crops: int = 6  # images per role
    floor_db: float = -90.0  # dB full scale mapped to 0; 0 dBFS maps to 1


def log_mel(samples: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """(n_mels, frames) log-mel power in dBFS, clipped to [floor_db, 0]."""
    import librosa

    if samples.size < cfg.n_fft:
        samples = np.pad(samples, (0, cfg.n_fft - samples.size))
    mel = librosa.feature.melspectrogram(y=samples.astype(np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                         hop_length=cfg.hop, n_mels=cfg.n_mels, fmax=cfg.fmax, power=2.0)
    # power of a full-scale sine in one FFT frame (hann window): the reference for 0 dBFS
    ref = (np.hanning(cfg.n_fft).sum() / 2) ** 2
    return np.clip(10.0 * np.log10(np.maximum(mel / ref, 1e-12)), cfg.floor_db, 0.0)


def crops_of(spec: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """(crops, n_mels, width) images spread evenly over ``spec`` (short speech is tiled, not padded
    with silence, so every image is speech)."""
    frames = spec.shape[1]
    if frames == 0:
        return np.zeros((cfg.crops, cfg.n_mels, cfg.width), np.float32)
    if frames < cfg.width:
        spec = np.tile(spec, (1, int(np.ceil(cfg.width / frames))))
        frames = spec.shape[1]
    starts = np.linspace(0, frames - cfg.width, cfg.crops).round().astype(int)
    return np.stack([spec[:, s : s + cfg.width] for s in starts])


def role_images(read, turns: Sequence[Turn], cfg: SpectrogramConfig = SpectrogramConfig()
                ) -> tuple[np.ndarray, np.ndarray]:
    """Images of each role's speech and which roles spoke at all.

    ``read(start, end, channel) -> samples`` reads the call's audio at ``cfg.sample_rate`` (e.g.
    :meth:`qc.audio.Recording.read`). Returns ``images`` of shape (2, crops, n_mels, width), float16
    in [0, 1] (0 = ``floor_db``), roles in :data:`qc.records.ROLES` order, and ``present`` (2,) bool.
    """
    images = np.zeros((len(ROLES), cfg.crops, cfg.n_mels, cfg.width), np.float16)
    present = np.zeros(len(ROLES), bool)
    for r, role in enumerate(ROLES):
        parts = [read(t.start, t.end, t.channel) for t in turns if t.role == role and t.end > t.start]
        parts = [p for p in parts if p.size]
        if not parts:
            continue
        spec = log_mel(np.concatenate(parts), cfg)
        images[r] = ((crops_of(spec, cfg) - cfg.floor_db) / -cfg.floor_db).astype(np.float16)
        present[r] = True
    return images, present
