"""Stored call features -> the in-memory inputs of a classifier, with the frozen encoders run once.

:func:`prepare` loads each call's stored features and the encoder outputs that do not change while a
model trains (frozen MiniLM layers, frozen EfficientNet features), computing and caching those on
disk the first time a call is seen (``FeatureStore.save_cached``), so a second training run or a
nightly scoring run only reads them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from qc.call_features import FEATURES_VERSION, FeatureStore, call_of, parse_example
from models.fusion import FusionConfig, FusionInputs
from models.image import band_stats, effnet_features
from models.text import TextBatch, encode_lower, role_ngrams
from qc.features import EGEMAPS_DIM
from qc.records import TurnFeatures
from qc.prosody import N_PROSODY
from qc.records import ROLES
from qc.spectrogram import SpectrogramConfig

Progress = Callable[[int, int], None]  # (done, total)


def spec_key(spec: SpectrogramConfig) -> str:
    """The stored features an encoder cache was computed from: their drawing and their version."""
    return hashlib.sha256(repr((asdict(spec), FEATURES_VERSION)).encode()).hexdigest()[:12]


def role_speech(speech: TurnFeatures | None, dim: int) -> np.ndarray:
    """(2 roles, ``dim``) float32: per role, the duration-weighted mean over its turns of each turn's
    Whisper state statistics, then its eGeMAPS functionals (``dim`` = their widths together); NaN
    where a role has no measured turn (or the call has no speech features)."""
    out = np.full((len(ROLES), dim), np.nan, np.float32)
    if speech is None or not len(speech):
        return out
    if speech.whisper.shape[1] + EGEMAPS_DIM != dim:
        raise ValueError(f"speech features of width {speech.whisper.shape[1] + EGEMAPS_DIM}, the model reads {dim}")
    weight = np.maximum(speech.spans[:, 1] - speech.spans[:, 0], 1e-3).astype(np.float64)
    for r in range(len(ROLES)):
        mine = speech.roles == r
        for part, cols in ((speech.whisper, slice(0, dim - EGEMAPS_DIM)), (speech.egemaps, slice(dim - EGEMAPS_DIM, dim))):
            x = part[mine].astype(np.float64)
            ok = np.isfinite(x).all(1)
            if ok.any():
                out[r, cols] = np.average(x[ok], axis=0, weights=weight[mine][ok])
    return out


def agent_stats(store: FeatureStore, groups: Mapping[str, str], dim: int) -> dict[str, np.ndarray]:
    """group -> (3, ``dim``): how many of the group's calls (``groups``: call id -> agent) have the agent
    role's speech features, and their mean and variance: each agent's own baseline, from every stored
    call of theirs, labelled or not (no label is read)."""
    key = (str(store.root), dim, tuple(sorted(groups.items())))
    if key in _AGENT_STATS:
        return _AGENT_STATS[key]
    values: dict[str, list[np.ndarray]] = {}
    for cid, group in groups.items():
        v = _agent_vector(store, cid, dim) if group else None
        if v is not None:
            values.setdefault(group, []).append(v)
    out = {}
    for group, vs in values.items():
        x = np.stack(vs).astype(np.float64)
        out[group] = np.stack([np.full(dim, len(vs)), x.mean(0), x.var(0)]).astype(np.float32)
    _AGENT_STATS.clear()  # one set at a time: the latest training, evaluation or scoring run's
    _AGENT_STATS[key] = out
    return out


_AGENT_STATS: dict[tuple, dict[str, np.ndarray]] = {}


def _agent_vector(store: FeatureStore, call_id: str, dim: int) -> np.ndarray | None:
    """The agent role's :func:`role_speech` of a stored call (None: none measured), read once per
    process while the stored file is unchanged."""
    try:
        stamp = store.stat(call_id)
    except KeyError:
        return None
    return _agent_vector_cached(store.root, call_id, dim, stamp)


@functools.lru_cache(maxsize=200_000)
def _agent_vector_cached(root, call_id: str, dim: int, stamp: int) -> np.ndarray | None:
    v = role_speech(FeatureStore(root).load(call_id).speech, dim)[0]
    return v if np.isfinite(v).all() else None


def speech_dim(store: FeatureStore, call_ids: Sequence[str]) -> int:
    """The width of :func:`role_speech` for these calls' stored speech features (0: none has any)."""
    for cid in call_ids:
        f = store.load(cid)
        if f.speech is not None:
            return f.speech.whisper.shape[1] + EGEMAPS_DIM
    return 0


@dataclass
class Prepared:
    """Inputs of ``call_ids``, aligned by position. Only what the config's branches read is filled."""

    call_ids: list[str]
    text: list[dict[str, np.ndarray]] | None
    image: list[np.ndarray] | None
    present: np.ndarray  # (n, 2) bool
    prosody: np.ndarray | None = None  # (n, 2, N_PROSODY) float32, NaN where unmeasured
    speech: np.ndarray | None = None  # (n, 2, speech_dim) float32 (role_speech), NaN where unmeasured
    agent: np.ndarray | None = None  # (n, 3, speech_dim) float32: the call's agent's agent_stats (count 0: none)

    def batch(self, idx: Sequence[int]) -> FusionInputs:
        idx = list(idx)
        text = TextBatch.collate([self.text[i] for i in idx]) if self.text is not None else None
        image = torch.from_numpy(np.stack([self.image[i] for i in idx])) if self.image is not None else None
        prosody = torch.from_numpy(self.prosody[idx]) if self.prosody is not None else None
        speech = torch.from_numpy(self.speech[idx]) if self.speech is not None else None
        agent = torch.from_numpy(self.agent[idx]) if self.agent is not None else None
        return FusionInputs(text=text, image=image, present=torch.from_numpy(self.present[idx]),
                            prosody=prosody, speech=speech, agent=agent)

    def subset(self, idx: Sequence[int]) -> Prepared:
        idx = list(idx)
        return Prepared([self.call_ids[i] for i in idx],
                        [self.text[i] for i in idx] if self.text is not None else None,
                        [self.image[i] for i in idx] if self.image is not None else None,
                        self.present[idx], self.prosody[idx] if self.prosody is not None else None,
                        self.speech[idx] if self.speech is not None else None,
                        self.agent[idx] if self.agent is not None else None)


def concat_prepared(a: Prepared, b: Prepared) -> Prepared:
    """The calls of ``a`` then those of ``b`` (prepared alike) as one :class:`Prepared`."""
    def cat(x, y):  # type: ignore[no-untyped-def]
        if x is None:
            return None
        return x + y if isinstance(x, list) else np.concatenate([x, y])

    return Prepared(a.call_ids + b.call_ids, cat(a.text, b.text), cat(a.image, b.image), cat(a.present, b.present),
                    cat(a.prosody, b.prosody), cat(a.speech, b.speech), cat(a.agent, b.agent))


def prepare(store: FeatureStore, call_ids: Sequence[str], cfg: FusionConfig, progress: Progress | None = None,
            write_cache: bool = True, agents: Mapping[str, str] | None = None) -> Prepared:
    """Inputs for ``call_ids``: example ids, of whole calls or of spans of calls (:func:`qc.call_features.span_id`);
    every call must have stored features (``KeyError`` otherwise).
    ``agents``: call id -> agent for every stored call the agents' baselines are drawn from
    (:func:`agent_stats`; read when the model normalises speech per agent)."""
    want_text = cfg.modalities in ("text", "both")
    want_audio = cfg.modalities in ("audio", "both")
    want_image = want_audio and cfg.image.images
    tkey = cfg.text.cache_key()
    ikey = cfg.image.cache_key(spec_key(SpectrogramConfig()))
    texts: list[dict[str, np.ndarray]] = []
    images: list[np.ndarray] = []
    present = np.zeros((len(call_ids), 2), bool)
    want_prosody = want_audio and cfg.image.prosody
    prosody = np.full((len(call_ids), 2, N_PROSODY), np.nan, np.float32)
    want_speech = want_audio and cfg.image.speech_dim > 0
    speech = np.full((len(call_ids), 2, max(cfg.image.speech_dim, 1)), np.nan, np.float32)
    for k, cid in enumerate(call_ids):
        f = None
        if want_speech:
            f = store.load(cid)
            speech[k] = role_speech(f.speech, cfg.image.speech_dim)
        if want_text:
            cached = store.load_cached("text", tkey, cid)
            if cached is None:
                f = store.load(cid)
                cached = encode_lower(f.turn_texts, f.turn_roles.tolist(), cfg.text)
                if write_cache:
                    store.save_cached("text", tkey, cid, **cached)
            if cfg.text.ngram_buckets:
                grams = store.load_cached("ngram", cfg.text.ngram_key(), cid)
                if grams is None:
                    f = f or store.load(cid)
                    dense = role_ngrams(f.turn_texts, f.turn_roles.tolist(), cfg.text.ngram_buckets).ravel()
                    index = np.flatnonzero(dense).astype(np.int32)  # a call says a few hundred of them
                    grams = {"ngram_index": index, "ngram_value": dense[index],
                             "ngram_size": np.int64(dense.size)}
                    if write_cache:
                        store.save_cached("ngram", cfg.text.ngram_key(), cid, **grams)
                cached = {**cached, **grams}
            texts.append(cached)
        if want_image and cfg.image.pretrained:
            # a span shares its call's images (its context): their encoder output is cached per call
            call = call_of(cid)
            cached = store.load_cached("image", ikey, call)
            if cached is None:
                whole = store.load(call)
                cached = {"effnet": effnet_features(whole.images, cfg.image), "present": whole.present,
                          "bands": band_stats(torch.from_numpy(whole.images)).numpy(), "prosody": whole.prosody}
                if write_cache:
                    store.save_cached("image", ikey, call, **cached)
            images.append(np.concatenate([cached["effnet"], cached["bands"]], -1) if cfg.image.band_stats
                          else cached["effnet"])
            if parse_example(cid)[1] is None:
                present[k] = cached["present"]
            else:
                f = f or store.load(cid)
                present[k] = f.present
            prosody[k] = cached["prosody"]
        else:
            f = f or store.load(cid)
            present[k] = f.present
            prosody[k] = f.prosody
            if want_image:
                images.append(f.images)
        if progress:
            progress(k + 1, len(call_ids))
    agent = None
    if want_speech and cfg.image.per_agent:
        stats = agent_stats(store, agents or {}, cfg.image.speech_dim)
        none = np.zeros((3, cfg.image.speech_dim), np.float32)
        agent = np.stack([stats.get((agents or {}).get(call_of(c)) or "", none) for c in call_ids]) if len(call_ids) else \
            np.zeros((0, 3, cfg.image.speech_dim), np.float32)
    return Prepared(list(call_ids), texts if want_text else None, images if want_image else None, present,
                    prosody if want_prosody else None, speech if want_speech else None, agent)
