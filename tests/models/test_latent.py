"""Latent-cue fusion (models.fusion.LatentCueFusion) and the ensemble it is trained as."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.features import FeatureStore
from models.fusion import EnsembleClassifier, FusionConfig, LatentCueFusion, build_classifier, either_cue_table
from models.train import LabeledData, train_classifier

from .conftest import quick_config, toy_features


def test_the_table_starts_as_the_label_of_either_cue_and_the_mixture_is_a_distribution(monkeypatch):
    n = 3  # values 0, 1, 2; cue 3 is "none"
    t = either_cue_table(n, 2.0)
    assert t.shape == (n + 1, n + 1, n)
    assert t[1, 3].argmax() == 1 and t[3, 2].argmax() == 2 and t[0, 0].argmax() == 0
    assert torch.all(t[3, 3] == 0)  # no cue favours no value
    fusion = LatentCueFusion(FusionConfig(), {"mood": n}).eval()
    x = torch.randn(4, 256), torch.randn(4, 256)
    assert torch.allclose(fusion(*x)["mood"].exp().sum(-1), torch.ones(4), atol=1e-5)

    def sure(cue: int) -> torch.Tensor:  # (1, n + 1) log-probabilities, all but sure of ``cue``
        return torch.full((1, n + 1), -30.0).index_fill(1, torch.tensor([cue]), 0.0).log_softmax(-1)

    for text_cue, audio_cue, expected in [(1, 3, 1), (3, 2, 2), (0, 0, 0)]:
        monkeypatch.setattr(fusion, "cues", lambda t, a, c=(text_cue, audio_cue): {
            "text": {"mood": sure(c[0])}, "audio": {"mood": sure(c[1])}})
        p = fusion(*x)["mood"].exp()[0]
        assert int(p.argmax()) == expected and float(p.max()) > 0.75  # softmax([2, 0, 0]) = 0.79
    monkeypatch.setattr(fusion, "cues", lambda t, a: {"text": {"mood": sure(3)}, "audio": {"mood": sure(3)}})
    assert torch.allclose(fusion(*x)["mood"].exp()[0], torch.full((n,), 1 / n), atol=1e-4)


def test_an_ensemble_averages_its_members_probabilities(tmp_path):
    from models.data import prepare

    store, _ = or_label_store(tmp_path / "features", 6, seed=1)
    model = build_classifier(FusionConfig(fusion="latent", members=3), {"mood": 2, "pace": 3}).eval()
    assert isinstance(model, EnsembleClassifier) and len(model.members) == 3
    x = prepare(store, [f"or-{i:03d}" for i in range(6)], model.cfg).batch(range(6))
    with torch.no_grad():
        mean = torch.stack([m(x).logits["pace"].softmax(-1) for m in model.members]).mean(0)
        assert torch.allclose(model(x).logits["pace"].exp(), mean, atol=1e-6)
        assert not torch.allclose(model.members[0](x).logits["pace"].softmax(-1), mean, atol=1e-3)


def or_label_store(path: Path, n: int, seed: int) -> tuple[FeatureStore, LabeledData]:
    """``mood`` (neutral/upset): an upset customer is heard in the voice on a third of the upset calls,
    read in the words on a third, and both on the rest; a neutral one in neither."""
    rng = np.random.default_rng(seed)
    store, rows = FeatureStore(path), []
    for i in range(n):
        mood = ["neutral", "upset", "upset"][i % 3]
        cue = "none" if mood == "neutral" else ["voice", "words", "both"][int(rng.integers(3))]
        f = toy_features(f"or-{i:03d}", "heated" if cue in ("voice", "both") else "calm",
                         "harsh" if cue in ("words", "both") else "plain", rng)
        store.save(f)
        rows.append((f.call_id, "mood", mood))
    return store, LabeledData(tuple(rows))


def test_latent_fusion_learns_a_label_carried_by_either_modality(tmp_path):
    store, data = or_label_store(tmp_path / "features", 120, seed=5)
    result = train_classifier(data, store, quick_config(variants=("fused_latent", "text_only", "audio_only"),
                                                        latent_members=2))
    rep = result.report
    fused = rep.variants["fused_latent"]["mood"].macro_f1
    single = max(rep.variants["text_only"]["mood"].macro_f1, rep.variants["audio_only"]["mood"].macro_f1)
    assert fused >= 0.9, rep.table()
    assert fused >= single + 0.1, rep.table()  # each modality alone misses the calls the other one carries
    assert isinstance(result.model, EnsembleClassifier) and result.model.cfg.members == 2
    assert result.histories["fused_latent"]["members"] == 2


@pytest.mark.parametrize("members", [1, 3])
def test_latent_models_save_and_load_as_trained(tmp_path, members):
    from models.registry import LoadedModel, load_artifact, save_artifact
    from models.score import score_features

    store, data = or_label_store(tmp_path / "features", 45, seed=6)
    result = train_classifier(data, store, quick_config(variants=("fused_latent",), latent_members=members,
                                                        max_epochs=4))
    loaded = load_artifact(save_artifact(result, tmp_path / "models", png=False))
    assert loaded.config.fusion == "latent" and loaded.config.members == members
    ids = list(result.split.test)
    original = LoadedModel(loaded.version, result.model, result.schema, result.model_config, {})
    a, b = score_features(original, store, ids), score_features(loaded, store, ids)
    assert [(s.call_id, s.value, s.probabilities) for s in a] == [(s.call_id, s.value, s.probabilities) for s in b]
