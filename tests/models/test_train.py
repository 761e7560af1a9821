"""Training on code-made features: both modalities learned, missing labels masked, any schema."""

from __future__ import annotations

import numpy as np
import pytest

from models.schema import MISSING, LabelSchema
from models.train import LabeledData, split_calls, train_classifier

from .conftest import quick_config


def test_schema_takes_any_labels_and_masks_missing():
    rows = [("a", "mood", "x"), ("b", "mood", "y"), ("a", "size", "big"), ("b", "size", "small"),
            ("c", "size", "big"), ("c", "only_one", "v")]
    schema = LabelSchema.from_rows(rows)
    assert schema.names == ("mood", "size")  # a label with a single value cannot be learned
    y = schema.encode(["a", "b", "c"], rows)
    assert y["mood"].tolist() == [0, 1, MISSING]
    assert y["size"].tolist() == [0, 1, 0]
    assert LabelSchema.from_json(schema.to_json()) == schema


def test_split_is_by_call_and_disjoint(toy_store):
    store, data = toy_store
    ids = data.call_ids
    schema = LabelSchema.from_rows(data.rows)
    split = split_calls(ids, schema.encode(ids, data.rows), quick_config())
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(ids)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert split == split_calls(ids, schema.encode(ids, data.rows), quick_config())  # seeded


def test_fused_learns_the_voice_label_and_the_word_label(toy_result):
    rep = toy_result.report
    fused = rep.metrics
    # "pace" is only in the voice, "tone" only in the words: the fused model gets both
    assert fused["pace"].macro_f1 >= 0.85, rep.table()
    assert fused["tone"].macro_f1 >= 0.85, rep.table()
    # each single modality misses the label the other one carries (chance: 0.5 and ~0.33)
    assert rep.variants["text_only"]["pace"].macro_f1 <= fused["pace"].macro_f1 - 0.2, rep.table()
    assert rep.variants["audio_only"]["tone"].macro_f1 <= fused["tone"].macro_f1 - 0.2, rep.table()
    assert rep.variant in ("fused_concat", "fused_gated", "fused_concat+lex", "fused_gated+lex", "fused_per_label")


def test_missing_labels_are_masked_not_counted(toy_store, toy_result):
    store, data = toy_store
    labeled_tone = {c for c, lab, _ in data.rows if lab == "tone"}
    test = toy_result.split.test
    m = toy_result.report.metrics["tone"]
    assert m.support == len([c for c in test if c in labeled_tone]) < len(test)
    assert sum(m.class_support) == m.support
    assert np.array(m.confusion).sum() == m.support


def test_report_markdown_and_png(toy_result, tmp_path):
    from models.evaluate import draw_report

    md = toy_result.report.markdown()
    for part in ("fused_gated", "text_only", "audio_only", "Confusion", "precision", "recall"):
        assert part in md
    png = draw_report(toy_result.report, tmp_path / "r.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_only_a_label_with_values_present_trains(toy_store):
    store, data = toy_store
    # a label nobody has two values of is left out; the others still train
    rows = tuple(data.rows) + tuple((c, "constant", "same") for c in data.call_ids[:20])
    result = train_classifier(LabeledData(rows), store, quick_config(variants=("fused_concat",), max_epochs=3))
    assert set(result.schema.names) == {"pace", "tone"}


def test_scratch_cnn_learns_the_voice_label(toy_store):
    from dataclasses import replace

    from models.fusion import FusionConfig
    from models.image import ImageConfig

    store, data = toy_store
    cfg = quick_config(model=replace(FusionConfig(), image=ImageConfig(encoder="scratch")), variants=("audio_only",))
    result = train_classifier(data, store, cfg)
    assert result.report.metrics["pace"].macro_f1 >= 0.85, result.report.table()


def test_training_config_comes_from_the_settings_in_one_place():
    """``callqc train``, the retrain flow and the bench all build their run from the settings."""
    from models.train import TrainConfig
    from qc.config import Settings

    settings = Settings(text_encoder="/models/my-minilm", image_encoder="scratch", torch_threads=3)
    tcfg = TrainConfig.from_settings(settings, text_mode="lora", train_layers=2, seed=7, max_epochs=5)
    assert (tcfg.model.text.encoder, tcfg.model.text.mode, tcfg.model.text.train_layers) == ("/models/my-minilm",
                                                                                              "lora", 2)
    assert tcfg.model.image.encoder == "scratch"
    assert (tcfg.torch_threads, tcfg.seed, tcfg.max_epochs) == (3, 7, 5)
    assert TrainConfig.from_settings(settings, image_encoder="efficientnet-lite0").model.image.encoder == \
        "efficientnet-lite0"
    with pytest.raises(ValueError, match="frozen, finetune or lora"):
        TrainConfig.from_settings(settings, text_mode="full")
    assert tcfg.model.text.ngram_buckets == 8192  # the lexical channel is on by default
    assert TrainConfig.from_settings(settings, ngram_buckets=4096).model.text.ngram_buckets == 4096
    assert TrainConfig.from_settings(settings, ngram_buckets=0).model.text.ngram_buckets == 0  # off
    assert tcfg.variants[:2] == ("fused_concat", "fused_concat-images")


def test_a_last_batch_of_one_call_joins_the_one_before(toy_store):
    """Batch norm cannot train on a single call: a training split one call longer than a multiple of
    the batch size stopped training with an error."""
    from models.train import batches

    assert [len(b) for b in batches(np.arange(33), 32)] == [33]
    assert [len(b) for b in batches(np.arange(34), 32)] == [32, 2]
    assert [len(b) for b in batches(np.arange(1), 32)] == [1]
    store, data = toy_store
    schema = LabelSchema.from_rows(data.rows)
    n_train = len(split_calls(data.call_ids, schema.encode(data.call_ids, data.rows), quick_config()).train)
    result = train_classifier(data, store, quick_config(variants=("fused_concat",), max_epochs=2,
                                                        batch_size=n_train - 1))
    assert result.report.metrics["pace"].support > 0


def test_too_few_labeled_calls_is_a_clear_error(toy_store):
    from models.train import MIN_LABELED_CALLS

    store, data = toy_store
    few = set(data.call_ids[:MIN_LABELED_CALLS - 1])
    rows = LabeledData(tuple(r for r in data.rows if r[0] in few))
    with pytest.raises(ValueError, match=f"4 labeled calls .* at least {MIN_LABELED_CALLS}"):
        train_classifier(rows, store, quick_config())


def test_a_label_only_in_the_prosody_is_learned_by_the_audio_branch(tmp_path):
    """The customer's level over the whole call (qc.prosody) says ``volume``; the images (the same for
    every call) and the words do not. One level in six is missing and stands in as the training calls'
    median."""
    from dataclasses import replace

    from qc.call_features import FeatureStore
    from models.fusion import FusionConfig
    from models.image import ImageConfig
    from qc.prosody import PROSODY_FEATURES

    from .conftest import toy_features

    level = PROSODY_FEATURES.index("level_db")
    rng = np.random.default_rng(3)
    store, rows = FeatureStore(tmp_path / "features"), []
    image = toy_features("image", "calm", "plain", rng).images
    for i in range(96):
        volume = ["soft", "loud"][i % 2]
        f = replace(toy_features(f"vol-{i:03d}", "calm", "plain", rng), images=image)
        f.prosody[1, level] = (-12.0 if volume == "loud" else -20.0) + rng.normal(0, 1.5)
        if i % 12 in (0, 7):  # a soft and a loud one in every twelve: nothing to tell them by
            f.prosody[1, level] = np.nan
        store.save(f)
        rows.append((f.call_id, "volume", volume))
    data = LabeledData(tuple(rows))
    with_prosody = train_classifier(data, store, quick_config(variants=("audio_only",)))
    assert with_prosody.report.metrics["volume"].macro_f1 >= 0.8, with_prosody.report.table()
    center = float(with_prosody.model.image.prosody_center[1, level])
    assert -18.0 < center < -14.0  # the median of the training calls' soft and loud levels
    cfg = quick_config(variants=("audio_only",), model=replace(FusionConfig(), image=ImageConfig(prosody=False)))
    without = train_classifier(data, store, cfg)
    assert without.report.metrics["volume"].macro_f1 <= 0.7, without.report.table()


def test_a_small_labelled_set_chooses_among_fused_variants_by_grouped_cross_validation(toy_store, tmp_path):
    from models.registry import save_artifact

    store, data = toy_store
    cfg = quick_config(variants=("fused_concat", "fused_concat-images"), select_folds=3, select_cv_below=500,
                       max_epochs=12, patience=4)
    res = train_classifier(data, store, cfg)
    n = len(res.split.train) + len(res.split.val)
    assert n < cfg.select_cv_below
    for v in cfg.variants:
        cv = res.histories[v]["cv_scores"]
        assert set(cv) == {"pace", "tone"} and all(0 <= m["macro_f1"] <= 1 for m in cv.values())
        assert cv["pace"]["support"] == n  # every training and validation call predicted once
    best = max(cfg.variants, key=lambda v: res.histories[v]["cv_macro_f1"])
    choice = res.histories.get("fused_per_label", {}).get("choice")
    assert res.report.variant == ("fused_per_label" if choice else best)
    if choice:
        for lab, v in choice.items():
            assert res.histories[v]["cv_scores"][lab]["macro_f1"] == max(
                res.histories[w]["cv_scores"][lab]["macro_f1"] for w in cfg.variants)
    report = (save_artifact(res, tmp_path / "models", png=False) / "report.md").read_text()
    assert "## Model choice" in report and "grouped 3-fold cross-validation" in report
    assert "| fused_concat-images |" in report and "the others were dropped" in report

    # a large enough set keeps choosing on the validation split, and says so
    big = train_classifier(data, store, quick_config(variants=cfg.variants, select_cv_below=10, max_epochs=4))
    assert not any("cv_scores" in big.histories[v] for v in cfg.variants)
    report = (save_artifact(big, tmp_path / "big", png=False) / "report.md").read_text()
    assert "the validation split" in report


def test_too_few_agents_for_the_selection_folds_falls_back_to_the_validation_split(toy_store):
    store, data = toy_store
    cfg = quick_config(variants=("fused_concat", "fused_concat-images"), select_cv_below=500, max_epochs=3)
    two_agents = {c: f"agent{i % 2}" for i, c in enumerate(data.call_ids)}
    res = train_classifier(data, store, cfg, groups=two_agents)  # 2 groups cannot make 3 folds
    assert not any("cv_scores" in res.histories[v] for v in cfg.variants)
    assert res.report.variant in (*cfg.variants, "fused_per_label")
