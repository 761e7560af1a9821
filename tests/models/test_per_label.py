"""Per label, the fused variant best on it on validation (models.fusion.PerLabelClassifier)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from models.evaluate import LabelMetrics
from models.fusion import FusionConfig, PerLabelClassifier
from models.registry import LoadedModel, load_artifact, save_artifact
from models.score import score_features
from models.train import per_label_choice, per_label_model, train_classifier

from .conftest import quick_config


def metrics(f1: float) -> LabelMetrics:
    return LabelMetrics("x", ("a", "b"), f1, f1, 2, (f1, f1), (f1, f1), (1, 1), ((1, 0), (0, 1)))


def test_each_label_goes_to_the_variant_best_on_it_and_ties_to_the_preferred():
    val = {"fused_gated-images": {"mood": metrics(0.95), "tone": metrics(0.70), "pace": metrics(0.80)},
           "fused_concat": {"mood": metrics(0.85), "tone": metrics(0.90), "pace": metrics(0.80)},
           "fused_gated": {"mood": metrics(0.60), "tone": metrics(0.90), "pace": metrics(0.75)}}
    choice = per_label_choice(val, ["fused_gated-images", "fused_concat", "fused_gated"])
    assert choice == {"mood": "fused_gated-images", "tone": "fused_concat", "pace": "fused_gated-images"}
    assert per_label_choice(val, ["fused_gated", "fused_concat", "fused_gated-images"])["tone"] == "fused_gated"


def test_a_per_label_model_predicts_as_its_variants_and_round_trips(toy_store, toy_result, tmp_path):
    from models.data import prepare

    store, _ = toy_store
    choice = {"pace": "fused_gated", "tone": "fused_concat+lex"}
    model = per_label_model(choice, toy_result.models, toy_result.schema)
    assert isinstance(model, PerLabelClassifier) and set(model.parts) == {"fused_gated", "fused_concat+lex"}
    assert model.cfg.text.ngram_buckets > 0  # it reads what its parts read
    ids = list(toy_result.split.test)
    x = prepare(store, ids, model.cfg).batch(range(len(ids)))
    with torch.no_grad():
        out = model(x).logits
        for label, variant in choice.items():
            assert torch.equal(out[label], toy_result.models[variant](x).logits[label])
    # the config (with its parts' configs) survives JSON, and the weights the registry
    cfg = FusionConfig.from_json(json.loads(json.dumps(model.cfg.to_json())))
    assert cfg == model.cfg and dict(cfg.parts)["fused_concat+lex"].text.ngram_buckets > 0
    result = dataclasses.replace(toy_result, model=model)
    loaded = load_artifact(save_artifact(result, tmp_path / "models", png=False))
    assert isinstance(loaded.model, PerLabelClassifier) and loaded.model.choice == choice
    original = LoadedModel(loaded.version, model, toy_result.schema, model.cfg, {})
    a, b = score_features(original, store, ids), score_features(loaded, store, ids)
    assert [(s.call_id, s.label, s.value, s.probabilities) for s in a] == \
        [(s.call_id, s.label, s.value, s.probabilities) for s in b]


def test_a_part_must_be_chosen_for_every_label():
    cfg = FusionConfig(fusion="per_label", parts=(("fused_concat", FusionConfig(fusion="concat")),),
                       choice=(("pace", "fused_concat"),))
    with pytest.raises(ValueError, match="every label"):
        PerLabelClassifier(cfg, {"pace": 2, "tone": 3})


def test_training_keeps_the_per_label_model_when_labels_prefer_different_variants(toy_store, monkeypatch):
    """Where the labels' best variants on validation differ, the per-label model is kept, reported on
    the test split with each label's scores those of its variant, and its choice stored in its history."""
    import models.train as train

    store, data = toy_store
    seen = {}

    def choose(val, preference):
        seen.update(val=val, preference=list(preference))
        return {"pace": "fused_gated", "tone": "fused_concat"}

    monkeypatch.setattr(train, "per_label_choice", choose)
    result = train_classifier(data, store, quick_config(variants=("fused_concat", "fused_gated"), max_epochs=6))
    rep = result.report
    assert rep.variant == "fused_per_label" and isinstance(result.model, PerLabelClassifier)
    assert set(seen["val"]) == {"fused_concat", "fused_gated"}
    assert seen["val"]["fused_gated"]["pace"].support == len(result.split.val)  # scored on validation
    hist = result.histories
    # ties go to the variant better on validation as a whole
    assert seen["preference"] == sorted(("fused_concat", "fused_gated"), key=lambda v: -hist[v]["val_macro_f1"])
    assert hist["fused_per_label"]["choice"] == {"pace": "fused_gated", "tone": "fused_concat"}
    for label, variant in (("pace", "fused_gated"), ("tone", "fused_concat")):
        assert rep.variants["fused_per_label"][label] == rep.variants[variant][label]
    assert "train.fused_per_label" in result.seconds

    # one variant best on every label: that variant is kept as it is
    one = dict.fromkeys(("pace", "tone"), "fused_concat")
    monkeypatch.setattr(train, "per_label_choice", lambda val, pref: one)
    result = train_classifier(data, store, quick_config(variants=("fused_concat", "fused_gated"), max_epochs=6))
    assert "fused_per_label" not in result.report.variants
    assert result.report.variant in ("fused_concat", "fused_gated")
    assert result.model is result.models[result.report.variant]


def test_single_modality_models_are_not_combined_per_label(toy_store, monkeypatch):
    """Without fused variants the kept model is one of the single-modality ones, as before: a text-only
    and an audio-only model read different inputs, and one per-label model could not feed both."""
    import models.train as train

    store, data = toy_store
    mixed = {"pace": "audio_only", "tone": "text_only"}
    monkeypatch.setattr(train, "per_label_choice", lambda val, pref: mixed)
    result = train_classifier(data, store, quick_config(variants=("text_only", "audio_only"), max_epochs=3))
    assert "fused_per_label" not in result.report.variants
    assert result.report.variant in ("text_only", "audio_only")


def test_a_model_without_images_beside_one_with_them_scores_each_label(toy_store, models_dir):
    """The default pair (fused_gated with and without the spectrogram images): the composite reads the
    images for the part that does, and the part without them ignores them."""
    store, data = toy_store
    res = train_classifier(data, store, quick_config(variants=("fused_gated", "fused_gated-images"), max_epochs=3,
                                                     per_label=False))
    # the first part chosen reads no images: the composite must still ask for them
    model = per_label_model({"pace": "fused_gated-images", "tone": "fused_gated"}, res.models, res.schema)
    assert model.cfg.image.images
    kept = dataclasses.replace(res, model=model)
    loaded = load_artifact(save_artifact(kept, models_dir, png=False))
    scores = score_features(loaded, store, list(res.split.test))
    assert {s.label for s in scores} == {"pace", "tone"} and len(scores) == 2 * len(res.split.test)
