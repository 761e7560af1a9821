"""Fixtures for the classifier tests: stored call features made in code (no TTS, no ASR) with one
label heard only in the voice (loudness of the customer's spectrogram) and one read only in the words,
under label names and values of our own, so nothing depends on the synthetic corpus's schema."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qc.call_features import CallFeatures, FeatureStore
from models.fusion import FusionConfig
from models.text import TextConfig
from models.train import LabeledData, TrainConfig
from qc.prosody import N_PROSODY

FILLER = ["I would like to ask about my account.", "Let me check that for you.", "One moment please.",
          "Can you give me the reference number?", "Sure, it is on the letter.", "Okay, I can see it now."]
WORDS = {
    "kind": "Thank you so much, that is wonderful, you have been really helpful.",
    "harsh": "This is unacceptable, I am furious and I want to complain about this.",
    "plain": "I see, so the payment goes out on the first of the month.",
}


def toy_features(call_id: str, pace: str, tone: str, rng: np.random.Generator) -> CallFeatures:
    """``pace`` (calm|heated) only in the customer's voice level; ``tone`` only in the customer's words."""
    images = rng.uniform(0.2, 0.5, size=(2, 2, 64, 32)).astype(np.float32)
    if pace == "heated":
        images[1] += 0.3  # the customer speaks louder
    texts, roles = [], []
    for k in range(4):
        roles.append(k % 2)
        texts.append(WORDS[tone] if k == 1 else FILLER[int(rng.integers(len(FILLER)))])
    prosody = rng.normal(size=(2, N_PROSODY)).astype(np.float32)  # says nothing of either label
    prosody[rng.random(prosody.shape) < 0.1] = np.nan  # unmeasured now and then
    return CallFeatures(call_id, images.clip(0, 1).astype(np.float16), np.array([True, True]),
                        np.array(roles, np.int8), tuple(texts), prosody)


def toy_rows(n: int, seed: int, mask_tone: float = 0.25) -> tuple[list[CallFeatures], LabeledData]:
    rng = np.random.default_rng(seed)
    feats, rows = [], []
    for i in range(n):
        cid = f"toy-{seed}-{i:03d}"
        pace = ["calm", "heated"][i % 2]
        tone = ["kind", "harsh", "plain"][int(rng.integers(3))]
        feats.append(toy_features(cid, pace, tone, rng))
        rows.append((cid, "pace", pace))
        if rng.random() >= mask_tone:
            rows.append((cid, "tone", tone))
    return feats, LabeledData(tuple(rows))


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeatureStore, LabeledData]:
    store = FeatureStore(tmp_path_factory.mktemp("features"))
    feats, data = toy_rows(72, seed=7)
    for f in feats:
        store.save(f)
    return store, data


def quick_config(**kw) -> TrainConfig:
    """Short training for the tests of the machinery (no refit on the validation calls, and no choice by
    cross-validation on a small labelled set, unless asked)."""
    return replace(TrainConfig(max_epochs=25, patience=6, test_frac=0.3, val_frac=0.2, progress=False, refit=False,
                               select_cv_below=0), **kw)


# every kind of variant the trainer knows, for the tests of the per-label and lexical machinery
ALL_VARIANTS = ("fused_concat", "fused_gated", "text_only", "audio_only", "fused_concat+lex", "fused_gated+lex",
                "fused_gated-images")


@pytest.fixture(scope="session")
def toy_result(toy_store):
    from models.train import train_classifier

    store, data = toy_store
    # the lexical channel off in the configuration, so that "+lex" variants train beside the plain ones
    plain = replace(FusionConfig(), text=TextConfig(ngram_buckets=0))
    return train_classifier(data, store, quick_config(variants=ALL_VARIANTS, model=plain))


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"
