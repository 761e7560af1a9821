"""What the speech model hears in each turn: Whisper's encoder states, pooled per turn.

Transcription already runs Whisper's encoder over every window of speech; the states it computes
there carry how something was said (voice quality, effort, pitch movement) as well as what was said.
:func:`capturing` gives a view of a loaded faster-whisper model that hands each encoder output it
computes to a :class:`TurnStates`; transcription decodes through that view, and the states are pooled
into each turn's mean and standard deviation over its 20 ms frames without encoding anything twice.

A frame belongs to a turn when its centre lies inside the turn's span, on the turn's channel (a mono
call's windows hold the mixed-down audio, which every turn of the call shares).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qc.records import Turn

FRAME_SECONDS = 0.02  # one Whisper encoder frame (two 10 ms mel frames)


@dataclass(frozen=True)
class Placed:
    """A span of the call (``start``..``end`` s, on ``channel``; None: mixed down) placed at ``offset``
    seconds in the audio a window was cut from."""

    start: float
    end: float
    offset: float
    channel: int | None = None

    @property
    def batch_end(self) -> float:
        return self.offset + (self.end - self.start)


class TurnStates:
    """Per-turn sums of encoder states, filled window by window; :meth:`pooled` gives mean and std.

    Thread-safe: one call's windows may be decoded by several threads."""

    def __init__(self, turns: Sequence[Turn]):
        self.spans = np.array([(t.start, t.end) for t in turns], np.float64).reshape(-1, 2)
        self.channels = np.array([t.channel for t in turns], np.int64)
        self.n = np.zeros(len(turns), np.int64)
        self.sum: np.ndarray | None = None
        self.sq: np.ndarray | None = None
        self._lock = threading.Lock()

    def add(self, states: np.ndarray, window_start: float, placed: Sequence[Placed]) -> None:
        """One window's encoder output ``states`` (frames, dim): frame ``k`` is centred at
        ``window_start + (k + 0.5) * FRAME_SECONDS`` in the audio that ``placed`` maps to the call."""
        states = np.asarray(states, np.float32)
        centres = window_start + (np.arange(len(states)) + 0.5) * FRAME_SECONDS
        with self._lock:
            if self.sum is None:
                self.sum = np.zeros((len(self.n), states.shape[1]), np.float64)
                self.sq = np.zeros_like(self.sum)
            for p in placed:
                inside = (centres >= p.offset) & (centres < p.batch_end)
                if not inside.any():
                    continue
                call_time = p.start + centres[inside] - p.offset
                rows = states[inside]
                hit = (self.spans[:, 0] < p.end) & (self.spans[:, 1] > p.start)
                if p.channel is not None:
                    hit &= self.channels == p.channel
                for k in np.flatnonzero(hit):
                    mine = (call_time >= self.spans[k, 0]) & (call_time < self.spans[k, 1])
                    if mine.any():
                        x = rows[mine].astype(np.float64)
                        self.sum[k] += x.sum(0)
                        self.sq[k] += np.square(x).sum(0)
                        self.n[k] += int(mine.sum())

    def select(self, indices: Sequence[int]) -> TurnStates:
        """The states of the turns ``indices`` only, in that order (e.g. without the recorded prompts)."""
        idx = np.asarray(indices, np.int64)
        out = TurnStates([])
        out.spans, out.channels, out.n = self.spans[idx], self.channels[idx], self.n[idx]
        if self.sum is not None:
            out.sum, out.sq = self.sum[idx], self.sq[idx]
        return out

    def pooled(self, dim: int) -> np.ndarray:
        """(turns, 2 * dim) float32: each turn's mean then standard deviation of its frames; NaN for a
        turn no window covered (``dim``: the encoder's width, used when no window came at all)."""
        out = np.full((len(self.n), 2 * dim), np.nan, np.float32)
        if self.sum is None:
            return out
        have = self.n > 0
        mean = self.sum[have] / self.n[have, None]
        var = np.maximum(self.sq[have] / self.n[have, None] - np.square(mean), 0.0)
        out[have] = np.concatenate([mean, np.sqrt(var)], 1)
        return out


_WIDTHS: dict[int, int] = {}


def encoder_width(model) -> int:
    """The width of a faster-whisper model's encoder states (384 for tiny, 512 for base): probed once
    per loaded model on a fraction of a second of silence."""
    key = id(model.model)
    if key not in _WIDTHS:
        probe = model.model.encode(_silence(model), to_cpu=True)
        _WIDTHS[key] = int(to_numpy(probe).shape[-1])
    return _WIDTHS[key]


def _silence(model):
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.zeros((1, model.model.n_mels, 20), np.float32))


def to_numpy(storage) -> np.ndarray:
    """A CTranslate2 StorageView (on any device) as a float32 NumPy array."""
    if getattr(storage, "device", "cpu") != "cpu":
        import ctranslate2

        storage = storage.to_device(ctranslate2.Device.cpu)
    arr = np.array(storage)
    return arr.astype(np.float32, copy=False)


def capturing(model, sink: TurnStates):
    """A view of the loaded faster-whisper ``model`` (sharing its weights) whose encoder outputs go
    to ``sink``: call :meth:`expect` with the windows of the next encodes, in batch-row order. Encodes
    no window was expected for (Whisper seeking inside a window, a retry) are not recorded."""
    from faster_whisper import WhisperModel

    class Capturing(WhisperModel):
        def __init__(self) -> None:  # a view: never loads anything
            pass

        def expect(self, windows: Sequence[tuple[float, Sequence[Placed]]]) -> None:
            self._expected = list(windows)

        def encode(self, features: np.ndarray):
            out = WhisperModel.encode(self, features)
            pending = self.__dict__.get("_expected") or []
            if pending:
                rows = to_numpy(out)
                if rows.ndim == 2:
                    rows = rows[None]
                take, self._expected = pending[: len(rows)], pending[len(rows):]
                for states, (start, placed) in zip(rows, take):
                    sink.add(states, start, placed)
            return out

    view = Capturing()
    view.__dict__.update(model.__dict__)
    view._expected = []
    return view
