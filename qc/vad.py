"""Voice activity detection: per-frame speech probabilities and speech segments.

The default engine runs Silero VAD v6 as a batched ONNX graph (the encoder runs over every 32 ms frame
at once; only the small recurrent decoder is sequential), several times faster on CPU than
frame-by-frame inference. Long calls are processed in windows with the recurrent state carried across, so memory
does not grow with call length.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from qc.assets import vad_model_path
from qc.audio import Recording

SAMPLE_RATE = 16000
FRAME = 512  # samples per VAD frame at 16 kHz
FRAME_SECONDS = FRAME / SAMPLE_RATE  # 0.032 s
_CONTEXT = 64
# ~30 s per inference window: the batched graph holds every frame's activations at once (300 s took
# ~290 MB), and longer windows are no faster
_WINDOW_FRAMES = 938
# A window whose peak stays below -60 dBFS holds no speech (telephone speech peaks near -20 dBFS and
# above; line noise sits far below); the VAD is not run on it.
_SILENT_PEAK = 10 ** (-60 / 20)
_FRESH_AFTER_FRAMES = 32  # ~1 s
# a stereo channel's frames this close to its noise floor, far enough from sound, are not heard (dB, frames)
QUIET_ABOVE_FLOOR_DB = 6.0
QUIET_MARGIN_FRAMES = 10  # 0.32 s


@dataclass(frozen=True)
class VadParams:
    onset: float = 0.5  # probability that starts speech
    offset: float = 0.35  # probability below which speech ends
    min_speech: float = 0.20  # shorter bursts are dropped (s)
    min_silence: float = 0.30  # shorter pauses are bridged (s)
    pad: float = 0.05  # added at both ends of a segment (s)


class SileroBatched:
    """Silero VAD v6, batched ONNX (the model file faster-whisper ships)."""

    def __init__(self, path: str):
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)

    def stream(self):
        return _SileroStream(self)


class _SileroStream:
    """Feeds consecutive audio blocks (multiples of 512 samples) with the state carried over."""

    def __init__(self, model: SileroBatched):
        self._model = model
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._tail = np.zeros(_CONTEXT, np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        frames = audio.reshape(-1, FRAME)
        context = np.empty((len(frames), _CONTEXT), np.float32)
        context[0] = self._tail
        context[1:] = frames[:-1, -_CONTEXT:]
        batch = np.concatenate([context, frames], axis=1)
        # InferenceSession.run is thread-safe: streams of several channels (or calls) run at once
        out, self._h, self._c = self._model._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._tail = frames[-1, -_CONTEXT:].copy()
        return np.asarray(out, np.float32).reshape(-1)


class SileroPackage:
    """The ``silero-vad`` package's model, frame by frame (slower; kept for parity checks)."""

    def __init__(self, path: str):
        from silero_vad import load_silero_vad

        self._model = load_silero_vad(onnx=path.endswith(".onnx"))
        self._lock = threading.Lock()

    def stream(self):
        import torch

        model = self._model
        lock = self._lock

        def run(audio: np.ndarray) -> np.ndarray:
            probs = np.empty(len(audio) // FRAME, np.float32)
            with lock, torch.inference_mode():
                for i in range(len(probs)):
                    chunk = torch.from_numpy(audio[i * FRAME:(i + 1) * FRAME])
                    probs[i] = float(model(chunk, SAMPLE_RATE))
            return probs

        model.reset_states()
        return run


@functools.lru_cache(maxsize=4)
def load_vad(name: str = "silero"):
    engine, path = vad_model_path(name)
    return SileroBatched(str(path)) if engine == "batched-onnx" else SileroPackage(str(path))


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs of ``mask`` (end exclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def quiet_runs(energy_db: np.ndarray, above_floor_db: float = QUIET_ABOVE_FLOOR_DB,
               margin: int = QUIET_MARGIN_FRAMES, min_frames: int = _FRESH_AFTER_FRAMES) -> np.ndarray:
    """Frames (bool, per 32 ms VAD frame) the VAD need not hear: runs of at least ``min_frames``
    frames that stay within ``above_floor_db`` of the channel's noise floor (its 10th percentile) and
    keep ``margin`` quiet frames to speech on both sides (the VAD still hears the lead-in to each
    sound and its hang-over). A stereo channel is near its floor for most of the other party's turns.
    """
    if energy_db.size == 0:
        return np.zeros(0, bool)
    quiet = energy_db < float(np.percentile(energy_db, 10)) + above_floor_db
    out = np.zeros(len(quiet), bool)
    for a, b in true_runs(quiet):
        a2 = a + margin if a > 0 else a  # the call's start and end need no lead-in
        b2 = b - margin if b < len(quiet) else b
        if b2 - a2 >= min_frames:
            out[a2:b2] = True
    return out


def speech_probabilities(rec: Recording, channel: int | None, vad=None, name: str = "silero",
                         skip: np.ndarray | None = None) -> np.ndarray:
    """Speech probability per 32 ms frame for one channel (``None``: the channels mixed).

    ``skip`` (bool per frame, e.g. :func:`quiet_runs`) marks frames known to hold no speech: they are
    not run through the model (probability 0), like dead air."""
    if rec.sample_rate != SAMPLE_RATE:
        raise ValueError(f"VAD runs at {SAMPLE_RATE} Hz, recording is at {rec.sample_rate} Hz")
    vad = vad or load_vad(name)
    stream = vad.stream()
    window = _WINDOW_FRAMES * FRAME / SAMPLE_RATE
    parts = []
    done = 0  # frames so far
    for start, block in rec.windows(window, channel=channel):
        if block.ndim == 2:
            block = block.mean(axis=0)
        pad = (-len(block)) % FRAME
        if pad:
            block = np.pad(block, (0, pad))
        frames = block.reshape(-1, FRAME)
        # Dead air (holds, long silences in multi-hour recordings) never comes near speech level, and
        # ``skip`` frames are known quiet: stretches of a second or more of either are not run through
        # the model. What follows dead air starts from a fresh model state, as at the start of a call
        # (a state worn by minutes of near-silence under-reads speech); across a skipped stretch of
        # line noise the state carries on (with a fresh state there, a 0.5 s pause between two of an
        # agent's sentences was heard as speech).
        dead = np.abs(frames).max(axis=1) < _SILENT_PEAK
        known = np.zeros(len(frames), bool)
        if skip is not None:
            part = skip[done:done + len(frames)]
            known[:len(part)] = part
        done += len(frames)
        pos = 0
        for a, b in true_runs(dead | known):
            # shorter dead air is heard with the sound around it; ``skip`` runs may be cut by the window
            if b - a >= _FRESH_AFTER_FRAMES or known[a:b].all():
                if a > pos:
                    parts.append(stream(np.ascontiguousarray(frames[pos:a].reshape(-1), dtype=np.float32)))
                parts.append(np.zeros(b - a, np.float32))
                if dead[a:b].sum() >= _FRESH_AFTER_FRAMES:
                    stream = vad.stream()
                pos = b
        if pos < len(frames):
            parts.append(stream(np.ascontiguousarray(frames[pos:].reshape(-1), dtype=np.float32)))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def frame_energy_db(rec: Recording, channel: int, frame: int = FRAME, window_frames: int = _WINDOW_FRAMES
                    ) -> np.ndarray:
    """Energy (dBFS) per ``frame`` samples of one channel, read ``window_frames`` frames at a time; by
    default per 32 ms VAD frame, aligned with :func:`speech_probabilities`."""
    window = window_frames * frame / rec.sample_rate
    parts = []
    for _, block in rec.windows(window, channel=channel):
        pad = (-len(block)) % frame
        if pad:
            block = np.pad(block, (0, pad))
        power = np.mean(np.square(block.reshape(-1, frame), dtype=np.float64), axis=1)
        parts.append(10.0 * np.log10(power + 1e-12))
    return np.concatenate(parts) if parts else np.zeros(0)


def segments(active: np.ndarray, params: VadParams = VadParams(), probs: np.ndarray | None = None,
             duration: float | None = None) -> list[tuple[float, float]]:
    """Speech segments (start, end) in seconds from per-frame probabilities (hysteresis) or a boolean mask.

    ``active`` may be probabilities (onset/offset thresholds apply) or booleans. Pauses shorter than
    ``min_silence`` are bridged, bursts shorter than ``min_speech`` dropped, and ``pad`` added.
    """
    mask = hysteresis(active, params) if active.dtype != bool else active
    raw: list[list[float]] = []
    i, n = 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            raw.append([i * FRAME_SECONDS, j * FRAME_SECONDS])
            i = j
        else:
            i += 1
    merged: list[list[float]] = []
    for seg in raw:
        if merged and seg[0] - merged[-1][1] < params.min_silence:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    limit = duration if duration is not None else n * FRAME_SECONDS
    out = []
    for start, end in merged:
        if end - start < params.min_speech:
            continue
        out.append((max(0.0, start - params.pad), min(limit, end + params.pad)))
    # padding can make neighbours touch: keep them disjoint
    for k in range(1, len(out)):
        if out[k][0] < out[k - 1][1]:
            mid = 0.5 * (out[k][0] + out[k - 1][1])
            out[k - 1] = (out[k - 1][0], mid)
            out[k] = (mid, out[k][1])
    return out


def hysteresis(probs: np.ndarray, params: VadParams) -> np.ndarray:
    mask = np.zeros(len(probs), bool)
    on = False
    for i, p in enumerate(probs):
        if not on and p >= params.onset:
            on = True
        elif on and p < params.offset:
            on = False
        mask[i] = on
    return mask
