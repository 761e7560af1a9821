"""``models.crossval``: grouped folds, the baseline beside the model, and agent-relative speech features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.crossval import BASELINE, MODEL, cross_validate
from models.resampling import bootstrap_interval, grouped_folds, macro_f1
from qc.call_features import CallFeatures, FeatureStore
from models.image import ImageConfig
from models.train import LabeledData
from qc.features import EGEMAPS_DIM, MFCC_DIM
from qc.records import TurnFeatures
from qc.prosody import N_PROSODY

from .conftest import quick_config

WIDTH = 8  # a toy encoder's width


def voice_call(call_id: str, mood: int, agent_offset: np.ndarray, rng: np.random.Generator,
               signal: float) -> CallFeatures:
    """One agent turn whose Whisper statistics carry ``mood`` (+-``signal`` on four dimensions) on top of
    the agent's own voice (``agent_offset``); MFCC and eGeMAPS carry nothing of it."""
    whisper = agent_offset + rng.normal(0, 1.0, 2 * WIDTH)
    whisper[:4] += signal * (1 if mood else -1)
    speech = TurnFeatures(np.array([[0.5, 3.5]], np.float32), np.array([0], np.int8),
                          whisper[None].astype(np.float16), rng.normal(size=(1, EGEMAPS_DIM)).astype(np.float32),
                          rng.normal(size=(1, MFCC_DIM)).astype(np.float32))
    images = rng.uniform(0.2, 0.5, size=(2, 2, 64, 32)).astype(np.float16)
    return CallFeatures(call_id, images, np.array([True, False]), np.array([0], np.int8),
                        ("kids are talking by the door",), np.full((2, N_PROSODY), np.nan, np.float32), speech)


def voice_store(root, agents: int = 8, calls: int = 16, spread: float = 4.0, signal: float = 2.0, seed: int = 3):
    """Calls of ``agents`` agents whose voices differ (by ``spread``) more than their moods do."""
    rng = np.random.default_rng(seed)
    store, rows, agent_of = FeatureStore(root), [], {}
    for a in range(agents):
        offset = rng.normal(0, spread, 2 * WIDTH)
        for k in range(calls):
            cid = f"a{a}-{k:02d}"
            mood = k % 2
            store.save(voice_call(cid, mood, offset, rng, signal))
            rows.append((cid, "mood", ["calm", "upset"][mood]))
            agent_of[cid] = f"agent-{a}"
    return store, LabeledData(tuple(rows)), agent_of


def config(per_agent: bool = True):
    cfg = quick_config(variants=("audio_only",), max_epochs=30, patience=8, refit=True)
    return replace(cfg, model=replace(cfg.model, image=replace(cfg.model.image, per_agent=per_agent)))


def test_grouped_folds_keep_each_group_in_one_fold():
    groups = [f"g{i % 7}" for i in range(70)]
    strata = np.array([i % 2 for i in range(70)])
    held = grouped_folds(groups, strata, 5)
    assert sorted(np.concatenate(held).tolist()) == list(range(70))
    for fold in held:
        inside = {groups[i] for i in fold}
        assert not inside & {groups[i] for i in set(range(70)) - set(fold.tolist())}
    with pytest.raises(ValueError, match="groups cannot make"):
        grouped_folds(groups, strata, 8)


def test_bootstrap_interval_brackets_the_value_and_widens_when_groups_differ():
    """Calls of one speaker succeed or fail together: resampling speakers, not calls, says so."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    speaker = np.arange(400) // 40
    right = rng.random(400) < rng.uniform(0.5, 1.0, 10)[speaker]  # some speakers are much harder
    pred = np.where(right, y, 1 - y)
    value = macro_f1(y, pred)
    wide = bootstrap_interval(lambda idx: macro_f1(y[idx], pred[idx]), speaker, n=300)
    narrow = bootstrap_interval(lambda idx: macro_f1(y[idx], pred[idx]), np.arange(400), n=300)
    assert wide[0] < value < wide[1] and narrow[0] < value < narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_cross_validation_scores_model_and_baseline_on_agent_grouped_folds(tmp_path):
    store, data, agent_of = voice_store(tmp_path / "f")
    report = cross_validate(data, store, config(), agent_of, folds=4, agents=agent_of)
    assert report.calls == 128 and report.groups == 8 and report.folds == 4
    model, base = report.systems[MODEL]["mood"], report.systems[BASELINE]["mood"]
    assert model.metrics.support == base.metrics.support == 128  # every call predicted once
    assert model.metrics.macro_f1 >= 0.72  # the mood is in the speech-model features
    assert base.metrics.macro_f1 <= 0.65  # MFCC and eGeMAPS carry nothing of it here
    d, lo, hi = report.difference["mood"]
    assert lo > 0 and d == pytest.approx(model.metrics.macro_f1 - base.metrics.macro_f1)
    assert model.interval[0] <= model.metrics.macro_f1 <= model.interval[1]
    assert "callqc - baseline" in report.markdown() and report.table()


def test_agent_relative_speech_features_hear_the_mood_under_the_voice(tmp_path):
    """Agents' voices differ more than one agent's moods: against each agent's own baseline the mood
    stands out; against all agents' it drowns."""
    store, data, agent_of = voice_store(tmp_path / "f")
    relative = cross_validate(data, store, config(per_agent=True), agent_of, folds=4, agents=agent_of)
    absolute = cross_validate(data, store, config(per_agent=False), agent_of, folds=4, agents=agent_of)
    f_rel = relative.systems[MODEL]["mood"].metrics.macro_f1
    f_abs = absolute.systems[MODEL]["mood"].metrics.macro_f1
    assert f_rel >= f_abs + 0.08, (f_rel, f_abs)


def test_the_kept_model_is_trained_again_on_the_validation_calls_too(tmp_path):
    from models.train import train_classifier

    store, data, agent_of = voice_store(tmp_path / "f", agents=6, calls=10)
    result = train_classifier(data, store, config(), groups=agent_of, agents=agent_of)
    hist = result.histories["audio_only"]
    assert hist["refit_calls"] == len(result.split.train) + len(result.split.val)
    # validation and test calls come from agents training did not hear
    agents = {part: {agent_of[c] for c in getattr(result.split, part)} for part in ("train", "val", "test")}
    assert not agents["train"] & agents["val"] and not agents["train"] & agents["test"]
