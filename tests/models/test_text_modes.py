"""The text branch's fine-tuning options: top layers trained, or LoRA adapters, on cached lower layers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from models.fusion import FusionClassifier, FusionConfig
from models.registry import LoadedModel, load_artifact, save_artifact
from models.score import score_features
from models.text import TextConfig
from models.train import LabeledData, train_classifier

from .conftest import quick_config


@pytest.mark.parametrize("mode", ["finetune", "lora"])
def test_text_modes_train_what_they_say(mode, toy_store, models_dir):
    store, data = toy_store
    ids = data.call_ids[:40]
    rows = LabeledData(tuple(r for r in data.rows if r[0] in set(ids)))
    model_cfg = FusionConfig(text=TextConfig(mode=mode, train_layers=1))
    before = FusionClassifier(model_cfg, {"pace": 2, "tone": 3})
    trainable = {n for n, p in before.named_parameters() if p.requires_grad and n.startswith("text.top.")}
    if mode == "lora":
        assert trainable and all("lora_" in n for n in trainable)
    else:
        assert any("attention.self.query.weight" in n for n in trainable)
    top0 = {n: p.detach().clone() for n, p in before.named_parameters() if n.startswith("text.top.")}
    result = train_classifier(rows, store, quick_config(model=model_cfg, variants=("text_only",), max_epochs=2))
    after = dict(result.model.named_parameters())
    changed = {n for n, p in top0.items() if not torch.equal(p, after[n].detach())}
    assert changed and changed <= trainable  # trained exactly the parameters the mode says
    path = save_artifact(result, models_dir, png=False)
    loaded = load_artifact(path)
    test = list(result.split.test)
    original = LoadedModel(loaded.version, result.model, result.schema, result.model_config, {})
    a, b = score_features(original, store, test), score_features(loaded, store, test)
    assert all(x.probabilities == y.probabilities for x, y in zip(a, b))
