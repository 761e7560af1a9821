"""Stored call features -> the in-memory inputs of a classifier, with the frozen encoders run once.

:func:`prepare` loads each call's stored features and the encoder outputs that do not change while a
model trains (frozen MiniLM layers, frozen EfficientNet features), computing and caching those on
disk the first time a call is seen (``FeatureStore.save_cached``), so a second training run or a
nightly scoring run only reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from models.features import FEATURES_VERSION, FeatureStore
from models.fusion import FusionConfig, FusionInputs
from models.image import band_stats, effnet_features
from models.text import TextBatch, encode_lower, role_ngrams
from qc.prosody import N_PROSODY
from qc.spectrogram import SpectrogramConfig

Progress = Callable[[int, int], None]  # (done, total)


def spec_key(spec: SpectrogramConfig) -> str:
    """The stored features an encoder cache was computed from: their drawing and their version."""
    return hashlib.sha256(repr((asdict(spec), FEATURES_VERSION)).encode()).hexdigest()[:12]


@dataclass
class Prepared:
    """Inputs of ``call_ids``, aligned by position. Only what the config's branches read is filled."""

    call_ids: list[str]
    text: list[dict[str, np.ndarray]] | None
    image: list[np.ndarray] | None
    present: np.ndarray  # (n, 2) bool
    prosody: np.ndarray | None = None  # (n, 2, N_PROSODY) float32, NaN where unmeasured

    def batch(self, idx: Sequence[int]) -> FusionInputs:
        idx = list(idx)
        text = TextBatch.collate([self.text[i] for i in idx]) if self.text is not None else None
        image = torch.from_numpy(np.stack([self.image[i] for i in idx])) if self.image is not None else None
        prosody = torch.from_numpy(self.prosody[idx]) if self.prosody is not None else None
        return FusionInputs(text=text, image=image, present=torch.from_numpy(self.present[idx]),
                            prosody=prosody)

    def subset(self, idx: Sequence[int]) -> Prepared:
        idx = list(idx)
        return Prepared([self.call_ids[i] for i in idx],
                        [self.text[i] for i in idx] if self.text is not None else None,
                        [self.image[i] for i in idx] if self.image is not None else None,
                        self.present[idx], self.prosody[idx] if self.prosody is not None else None)


def prepare(store: FeatureStore, call_ids: Sequence[str], cfg: FusionConfig, progress: Progress | None = None,
            write_cache: bool = True) -> Prepared:
    """Inputs for ``call_ids`` (every one must have stored features: ``KeyError`` otherwise)."""
    want_text = cfg.modalities in ("text", "both")
    want_image = cfg.modalities in ("audio", "both")
    tkey = cfg.text.cache_key()
    ikey = cfg.image.cache_key(spec_key(SpectrogramConfig()))
    texts: list[dict[str, np.ndarray]] = []
    images: list[np.ndarray] = []
    present = np.zeros((len(call_ids), 2), bool)
    want_prosody = want_image and cfg.image.prosody
    prosody = np.full((len(call_ids), 2, N_PROSODY), np.nan, np.float32)
    for k, cid in enumerate(call_ids):
        f = None
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
            cached = store.load_cached("image", ikey, cid)
            if cached is None:
                f = f or store.load(cid)
                cached = {"effnet": effnet_features(f.images, cfg.image), "present": f.present,
                          "bands": band_stats(torch.from_numpy(f.images)).numpy(), "prosody": f.prosody}
                if write_cache:
                    store.save_cached("image", ikey, cid, **cached)
            images.append(np.concatenate([cached["effnet"], cached["bands"]], -1) if cfg.image.band_stats
                          else cached["effnet"])
            present[k] = cached["present"]
            prosody[k] = cached["prosody"]
        else:
            f = f or store.load(cid)
            present[k] = f.present
            prosody[k] = f.prosody
            if want_image:
                images.append(f.images)
        if progress:
            progress(k + 1, len(call_ids))
    return Prepared(list(call_ids), texts if want_text else None, images if want_image else None, present,
                    prosody if want_prosody else None)
