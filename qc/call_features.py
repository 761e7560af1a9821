"""What the classifier reads of a call, computed once per call and stored without pickle.

A call's features are its per-role log-mel images (:mod:`qc.spectrogram`), its per-role prosody
(:mod:`qc.prosody`: level, pitch, tempo, timing over the whole call), the text of its turns as the
pipeline stored them (the ASR words, redacted), each turn with its role, and each turn's speech
features (:mod:`qc.features`: Whisper encoder statistics, eGeMAPS, MFCC). They are written
once, when the call is analysed, to ``<data_dir>/features/calls/<call_id>.npz`` (plain arrays; read
with ``allow_pickle=False``), so training and scoring never rerun ASR.

Encoder outputs that do not change while a classifier trains (a frozen MiniLM's lower layers, the
frozen EfficientNet's pooled features) are cached next to them under ``features/<kind>/<key>/``.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.prosody import N_PROSODY, role_prosody
from qc.records import ROLES, CallResult, TurnFeatures
from qc.spectrogram import SpectrogramConfig, role_images

FEATURES_VERSION = 4  # 2: prosody; 3: per-turn speech features; 4: text turns' spans (older files load without them)
log = logging.getLogger("callqc")


SPAN = "@"  # an example id ``<call_id>@<start>-<end>`` names a span of a call (call ids are hex digests)


def span_id(call_id: str, start: float, end: float) -> str:
    """The example id of the span ``start``..``end`` (s) of a call: a labelled utterance or one turn."""
    return f"{call_id}{SPAN}{float(start):.3f}-{float(end):.3f}"


def parse_example(example_id: str) -> tuple[str, tuple[float, float] | None]:
    """``(call_id, (start, end))`` of a span's example id, ``(call_id, None)`` of a whole call's."""
    call_id, sep, span = example_id.partition(SPAN)
    if not sep:
        return call_id, None
    start, _, end = span.partition("-")
    try:
        a, b = float(start), float(end)
    except ValueError:
        raise ValueError(f"bad span in example id {example_id!r}") from None
    if not b > a:
        raise ValueError(f"empty span in example id {example_id!r}")
    return call_id, (a, b)


def call_of(example_id: str) -> str:
    """The call an example id (a call's or a span's) belongs to."""
    return example_id.partition(SPAN)[0]


def in_span(spans: np.ndarray, start: float, end: float) -> np.ndarray:
    """(n,) bool: the turns (``spans``: (n, 2) start and end) that belong to the span ``start``..``end``:
    those at least half inside it, or covering at least half of it."""
    spans = np.asarray(spans, np.float64).reshape(-1, 2)
    overlap = np.clip(np.minimum(spans[:, 1], end) - np.maximum(spans[:, 0], start), 0, None)
    own = np.maximum(spans[:, 1] - spans[:, 0], 1e-6)
    return (overlap > 0) & ((overlap >= 0.5 * own) | (overlap >= 0.5 * (end - start)))


@dataclass(frozen=True)
class CallFeatures:
    """One call as the classifier sees it. ``images``: (2, crops, n_mels, width) float16 in [0, 1],
    roles in :data:`qc.records.ROLES` order; ``present``: which roles spoke; ``turn_roles``: index into
    ROLES per turn (-1: unknown role); ``turn_texts``: each turn's words; ``prosody``: (2,
    :data:`qc.prosody.N_PROSODY`) float32, NaN where unmeasured; ``speech``: every turn's speech
    features (:mod:`qc.features`), None in features stored before they were computed; ``turn_spans``:
    (n, 2) float32 start and end (s) of each turn of ``turn_texts``, None in features stored before
    version 4."""

    call_id: str
    images: np.ndarray
    present: np.ndarray
    turn_roles: np.ndarray
    turn_texts: tuple[str, ...]
    prosody: np.ndarray
    speech: TurnFeatures | None = None
    turn_spans: np.ndarray | None = None


def restrict(f: CallFeatures, start: float, end: float) -> CallFeatures:
    """The features of the span ``start``..``end`` of a call: the words and speech features of its turns
    in the span (:func:`in_span`), the roles that speak in it; the call-wide images and prosody stay as
    the span's context (the model reads a role's only where that role speaks in the span). Features
    stored before version 4 (no turn spans) give a span no words."""
    speech = f.speech
    roles: set[int] = set()
    if speech is not None:
        keep = in_span(speech.spans, start, end)
        speech = TurnFeatures(speech.spans[keep], speech.roles[keep], speech.whisper[keep], speech.egemaps[keep],
                              speech.mfcc[keep])
        roles |= {int(r) for r in speech.roles}
    if f.turn_spans is not None:
        keep_text = in_span(f.turn_spans, start, end)
        texts = tuple(t for t, k in zip(f.turn_texts, keep_text) if k)
        turn_roles, turn_spans = f.turn_roles[keep_text], f.turn_spans[keep_text]
        roles |= {int(r) for r in turn_roles}
    else:
        texts, turn_roles, turn_spans = (), f.turn_roles[:0], None
    present = np.array([r in roles for r in range(len(ROLES))]) & np.asarray(f.present, bool)
    return CallFeatures(span_id(f.call_id, start, end), f.images, present, turn_roles, texts, f.prosody, speech,
                        turn_spans)


def call_features(result: CallResult, rec: Recording, spec: SpectrogramConfig | None = None) -> CallFeatures:
    """Features of an analysed call, drawn from its decoded recording (``rec.sample_rate`` Hz)."""
    spec = spec or SpectrogramConfig(sample_rate=rec.sample_rate)
    if spec.sample_rate != rec.sample_rate:
        raise ValueError(f"spectrogram rate {spec.sample_rate} != recording rate {rec.sample_rate}")

    def read(a: float, b: float, ch: int) -> np.ndarray:
        return rec.read(a, b, channel=ch)

    images, present = role_images(read, result.turns, spec, frames=rec.frames)
    role_index = {r: i for i, r in enumerate(ROLES)}
    turns = [t for t in result.turns if t.text.strip()]
    return CallFeatures(
        call_id=result.call_id, images=images, present=present,
        turn_roles=np.array([role_index.get(t.role, -1) for t in turns], np.int8),
        turn_texts=tuple(t.text.strip() for t in turns),
        prosody=role_prosody(read, result.turns, result.words, rec.sample_rate),
        speech=result.speech,
        turn_spans=np.array([(t.start, t.end) for t in turns], np.float32).reshape(-1, 2),
    )


@functools.lru_cache(maxsize=8)
def _warn_old_features(root: Path) -> None:
    log.warning("%s holds features stored before version 2 (no prosody): their prosody reads as unmeasured; "
                "analyse those calls again for the full features", root)


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class FeatureStore:
    """Per-call features and encoder caches under one root (``<data_dir>/features``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_settings(cls, cfg: Settings) -> FeatureStore:
        return cls(cfg.data_dir / "features")

    def _path(self, call_id: str) -> Path:
        call_id = call_of(call_id)
        if not call_id or "/" in call_id or call_id.startswith("."):
            raise ValueError(f"bad call id {call_id!r}")
        return self.root / "calls" / f"{call_id}.npz"

    def save(self, f: CallFeatures) -> None:
        """Write (or replace) one call's features atomically."""
        speech = {} if f.speech is None else {
            f"speech_{k}": getattr(f.speech, k) for k in ("spans", "roles", "whisper", "egemaps", "mfcc")}
        _atomic_savez(self._path(f.call_id), version=np.array(FEATURES_VERSION), images=f.images,
                      present=f.present, turn_roles=f.turn_roles,
                      turn_texts=np.array(f.turn_texts, dtype=np.str_), prosody=f.prosody, **speech,
                      **({} if f.turn_spans is None else {"turn_spans": f.turn_spans}))

    def has(self, call_id: str) -> bool:
        return self._path(call_id).exists()

    def load(self, call_id: str) -> CallFeatures:
        """The features of a call, or of a span of one (an example id, :func:`span_id`: see
        :func:`restrict`). Raises ``KeyError`` when the call has no stored features."""
        call, span = parse_example(call_id)
        if span is not None:
            return restrict(self.load(call), *span)
        path = self._path(call_id)
        if not path.exists():
            raise KeyError(f"no stored features for call {call_id!r}")
        with np.load(path, allow_pickle=False) as z:
            version = int(z["version"])
            if version not in (1, 2, 3, FEATURES_VERSION):
                raise KeyError(f"features of {call_id!r} have version {version}, need {FEATURES_VERSION}")
            if version == 1:  # stored before prosody: read as unmeasured (the models fill in the median)
                _warn_old_features(self.root)
                prosody = np.full((len(ROLES), N_PROSODY), np.nan, np.float32)
            else:
                prosody = z["prosody"]
            speech = None
            if "speech_spans" in z.files:
                speech = TurnFeatures(*(z[f"speech_{k}"] for k in ("spans", "roles", "whisper", "egemaps", "mfcc")))
            spans = z["turn_spans"] if "turn_spans" in z.files else None
            return CallFeatures(call_id, z["images"], z["present"], z["turn_roles"],
                                tuple(str(t) for t in z["turn_texts"]), prosody, speech, spans)

    def stat(self, call_id: str) -> int:
        """The stored file's modification time (ns): changes when the call's features are stored again;
        ``KeyError`` when it has none."""
        try:
            return self._path(call_id).stat().st_mtime_ns
        except FileNotFoundError:
            raise KeyError(f"no stored features for call {call_id!r}") from None

    def current(self, call_id: str, speech: bool = True) -> bool:
        """Whether the call's stored features are of this version (and, with ``speech``, hold its
        per-turn speech features): False for a call with none, or with older ones (``callqc features
        backfill`` computes them again)."""
        path = self._path(call_id)
        if not path.exists():
            return False
        with np.load(path, allow_pickle=False) as z:
            return int(z["version"]) == FEATURES_VERSION and (not speech or "speech_spans" in z.files)

    def has_speech(self, call_id: str) -> bool:
        """Whether the call's stored features hold its per-turn speech features (features stored
        before they existed, or with ``speech_features`` off, do not: ``callqc run --reprocess``)."""
        path = self._path(call_id)
        if not path.exists():
            return False
        with np.load(path, allow_pickle=False) as z:
            return "speech_spans" in z.files

    def available(self, call_ids: Iterable[str]) -> list[str]:
        return [c for c in call_ids if self.has(c)]

    # --- encoder caches -----------------------------------------------------------------------
    def cache_path(self, kind: str, key: str, call_id: str) -> Path:
        """Where an encoder's output for a call or a span (``call_id``: an example id) is cached."""
        if not call_id or "/" in call_id or call_id.startswith("."):
            raise ValueError(f"bad example id {call_id!r}")
        return self.root / kind / key / f"{call_id}.npz"

    def load_cached(self, kind: str, key: str, call_id: str) -> dict[str, np.ndarray] | None:
        """A cached encoder output; None when there is none, or when the call's features were stored
        again after it was cached (the call was reprocessed)."""
        path = self.cache_path(kind, key, call_id)
        try:
            if path.stat().st_mtime_ns < self._path(call_id).stat().st_mtime_ns:
                return None
        except FileNotFoundError:
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save_cached(self, kind: str, key: str, call_id: str, **arrays: np.ndarray) -> None:
        _atomic_savez(self.cache_path(kind, key, call_id), **arrays)
