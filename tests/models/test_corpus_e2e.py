"""The classifier on real synthetic calls through the real front end (Whisper ASR words, diarized turns):
above chance on the label cued in the voice and in the words. Slow: TTS + ASR of 72 calls."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from models.corpus import prepare_corpus
from qc.call_features import FeatureStore
from models.train import LabeledData, TrainConfig, train_classifier
from qc.config import Settings
from qc.prosody import PROSODY_FEATURES

# 48 calls (a 15-call test split) were too few: each front-end change that moved a call or two moved
# the emotion F1 by ~0.07 and crossed a threshold (0.387 after one diarization change, a mean of 0.537
# after the stereo turn edges). 72 calls give a 22-call test split.
CALLS = int(os.environ.get("QC_TEST_CORPUS_CALLS", "72"))


@pytest.mark.slow
def test_fused_classifier_above_chance_on_a_synthetic_corpus(tmp_path: Path, test_output: Path):
    from qc.synth import generate_corpus

    corpus = tmp_path / "corpus"
    generate_corpus(corpus, calls=CALLS, seed=5, layout="stereo")
    cfg = Settings(data_dir=tmp_path / "data")
    store = FeatureStore.for_settings(cfg)
    prepared = prepare_corpus(corpus, cfg, store)
    assert len(prepared.ids) >= CALLS - 3
    f = store.load(next(iter(prepared.ids.values())))
    assert f.present.all() and len(f.turn_texts) >= 6  # both roles heard, ASR words per turn
    measured = [PROSODY_FEATURES.index(m) for m in ("level_db", "f0_median_st", "words_per_second")]
    assert np.isfinite(f.prosody[:, measured]).all() and -40 < f.prosody[0, 0] < -3  # both roles' prosody
    result = train_classifier(LabeledData(prepared.rows), store,
                              TrainConfig(max_epochs=30, patience=8, test_frac=0.3, val_frac=0.2, progress=False))
    fused = result.report.metrics
    # A random guess scores a macro-F1 of about 1/3 on the three emotions and 1/2 on politeness, a constant
    # one about 1/6 and 1/3. The test split is small (22 calls, 7 or 8 per emotion: one call moves the
    # emotion F1 by ~0.05), so each label only has to beat the random guess, and the two together by a margin.
    emotion, politeness = fused["customer_emotion"].macro_f1, fused["agent_politeness"].macro_f1
    (test_output / "classifier_corpus.txt").write_text(f"{CALLS} calls, test split macro-F1\n{result.report.table()}\n")
    assert emotion > 0.34 and politeness > 0.6, result.report.table()
    assert (emotion + politeness) / 2 > 0.55, result.report.table()
