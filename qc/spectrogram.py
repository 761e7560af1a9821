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


def log_mel(samples: np.ndarray, cfg: SpectrogramConfig, center: bool = True) -> np.ndarray:
    """(n_mels, frames) log-mel power in dBFS, clipped to [floor_db, 0]. ``center=False``: frame k
    starts at sample ``k * hop`` (no padding), for excerpts cut to frame boundaries."""
    import librosa

    if samples.size < cfg.n_fft:
        samples = np.pad(samples, (0, cfg.n_fft - samples.size))
    mel = librosa.feature.melspectrogram(y=samples.astype(np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                         hop_length=cfg.hop, n_mels=cfg.n_mels, fmax=cfg.fmax, power=2.0,
                                         center=center)
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
    starts = _crop_starts(frames, cfg)
    return np.stack([spec[:, s : s + cfg.width] for s in starts])


def _crop_starts(frames: int, cfg: SpectrogramConfig) -> np.ndarray:
    return np.linspace(0, frames - cfg.width, cfg.crops).round().astype(int)


def role_images(read, turns: Sequence[Turn], cfg: SpectrogramConfig = SpectrogramConfig(),
                frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images of each role's speech and which roles spoke at all.

    ``read(start, end, channel) -> samples`` reads the call's audio at ``cfg.sample_rate`` (e.g.
    :meth:`qc.audio.Recording.read`); ``frames``: the call's length in samples (reads stop there).
    Returns ``images`` of shape (2, crops, n_mels, width), float16 in [0, 1] (0 = ``floor_db``), roles
    in :data:`qc.records.ROLES` order, and ``present`` (2,) bool.

    The images are crops of the log-mel spectrogram of each role's speech put end to end. Only the
    audio under the crops is read and transformed (about 31 s per role, however long the call), so a
    call of hours takes no more memory than one of minutes; the crops equal those cut from the
    spectrogram of the whole role.
    """
    images = np.zeros((len(ROLES), cfg.crops, cfg.n_mels, cfg.width), np.float16)
    present = np.zeros(len(ROLES), bool)
    sr = cfg.sample_rate
    for r, role in enumerate(ROLES):
        spans = []
        for t in turns:
            if t.role != role or t.end <= t.start:
                continue
            a, b = max(0, int(round(t.start * sr))), int(round(t.end * sr))
            if frames is not None:
                b = min(b, frames)
            if b > a:
                spans.append((a, b, t.channel))
        total = sum(b - a for a, b, _ in spans)
        if total == 0:
            continue
        present[r] = True
        spec_frames = 1 + total // cfg.hop  # what librosa's centred STFT of the whole would give
        if spec_frames <= cfg.width * cfg.crops:  # short: the crops overlap; transform it all
            whole = np.concatenate([read(a / sr, b / sr, ch) for a, b, ch in spans])
            crops = crops_of(log_mel(whole, cfg), cfg)
        else:
            excerpt = (cfg.width - 1) * cfg.hop + cfg.n_fft
            crops = np.stack([
                log_mel(_excerpt(read, spans, s * cfg.hop - cfg.n_fft // 2, excerpt, sr), cfg, center=False)
                for s in _crop_starts(spec_frames, cfg)])
        images[r] = ((crops - cfg.floor_db) / -cfg.floor_db).astype(np.float16)
    return images, present


def _excerpt(read, spans: list[tuple[int, int, int]], start: int, length: int, sr: int) -> np.ndarray:
    """Samples ``start``..``start + length`` of the spans put end to end (zeros outside them)."""
    out = np.zeros(length, np.float32)
    offset = 0  # where the current span starts in the concatenation
    for a, b, ch in spans:
        lo, hi = max(start, offset), min(start + length, offset + (b - a))
        if lo < hi:
            piece = read((a + lo - offset) / sr, (a + hi - offset) / sr, ch)
            out[lo - start:lo - start + len(piece)] = piece
        offset += b - a
        if offset >= start + length:
            break
    return out
