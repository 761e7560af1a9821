"""The text branch's lexical channel: each role's hashed words and word pairs (models.text.role_ngrams)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import HashingVectorizer

from qc.call_features import CallFeatures, FeatureStore
from models.fusion import FusionConfig
from models.registry import LoadedModel, load_artifact, save_artifact
from models.score import score_features
from models.text import TextBatch, TextBranch, TextConfig, role_ngrams
from models.train import LabeledData, train_classifier
from qc.prosody import N_PROSODY

from .conftest import quick_config


def bucket(gram: str, buckets: int) -> int:
    """The bucket of one word or one word pair."""
    n = len(gram.split())
    hv = HashingVectorizer(n_features=buckets, ngram_range=(n, n), alternate_sign=False, norm=None)
    (index,) = hv.transform([gram]).indices
    return int(index)


def test_each_roles_words_and_word_pairs_hashed_and_scaled():
    texts = ["Look, I ALREADY told you.", "okay", "I already told you twice"]
    g = role_ngrams(texts, [0, -1, 0], 4096)
    assert g.shape == (2, 4096) and g.dtype == np.float32
    active = g[0][g[0] > 0]
    assert np.isclose(np.sqrt((active**2).mean()), 1.0) and not g[1].any()  # the customer (role 1) said nothing
    told = bucket("already told", 4096)
    assert g[0, told] > 0 and g[0, bucket("look", 4096)] > 0 and g[0, bucket("okay", 4096)] == 0
    assert g[0, told] > g[0, bucket("look", 4096)]  # said twice: log-scaled count, still more
    assert np.array_equal(g, role_ngrams(list(texts), [0, -1, 0], 4096))  # no state, no vocabulary
    assert np.array_equal(role_ngrams([t.lower() for t in texts], [0, -1, 0], 4096), g)


def buried_phrase_store(path, n: int, seed: int) -> tuple[FeatureStore, LabeledData]:
    """``manner`` (curt|warm): said once by the agent, in a short phrase inside a long turn of
    business talk that is the same for both values."""
    rng = np.random.default_rng(seed)
    talk = ["let me check the account details for the payment that went out last week",
            "I can see the direct debit and the statement for the month of March here",
            "the engineer visit is booked and the reference number is on your e-mail"]
    store, rows = FeatureStore(path), []
    for i in range(n):
        manner = ["curt", "warm"][i % 2]
        phrase = "look, I already told you" if manner == "curt" else "thank you for your patience"
        agent = [talk[int(rng.integers(3))] for _ in range(6)]
        agent.insert(int(rng.integers(7)), phrase)
        texts = (" ".join(agent), "okay, and what about the bill", " ".join(talk[:2]))
        f = CallFeatures(f"lex-{i:03d}", rng.uniform(0.2, 0.5, (2, 2, 64, 32)).astype(np.float16),
                         np.array([True, True]), np.array([0, 1, 0], np.int8), texts,
                         np.zeros((2, N_PROSODY), np.float32))
        store.save(f)
        rows.append((f.call_id, "manner", manner))
    return store, LabeledData(tuple(rows))


def test_a_short_phrase_inside_a_long_turn_is_read(tmp_path):
    store, data = buried_phrase_store(tmp_path / "features", 60, seed=3)
    model = dataclasses.replace(FusionConfig(), text=TextConfig(ngram_buckets=8192))
    result = train_classifier(data, store, quick_config(variants=("text_only",), max_epochs=40, patience=15,
                                                        model=model))
    assert result.report.variants["text_only"]["manner"].macro_f1 >= 0.9, result.report.table()
    from models.data import prepare

    ids = list(result.split.test)
    x = prepare(store, ids, result.model.cfg).batch(range(len(ids)))
    first = store.load(ids[0])  # stored sparse, read back dense
    assert torch.equal(x.text.ngrams[0], torch.from_numpy(role_ngrams(first.turn_texts, first.turn_roles, 8192).ravel()))
    with torch.no_grad():
        with_words = result.model(x).logits["manner"]
        x.text.ngrams = torch.zeros_like(x.text.ngrams)
        assert not torch.allclose(result.model(x).logits["manner"], with_words, atol=1e-3)  # it is read


def test_a_batch_without_ngrams_is_refused_with_a_clear_error():
    branch = TextBranch(TextConfig(ngram_buckets=64))
    batch = TextBatch(1, torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
                      pooled=torch.zeros(1, 384))
    with pytest.raises(ValueError, match="n-grams"):
        branch(batch)


def test_an_artifact_from_before_the_lexical_channel_still_loads_and_scores(toy_store, models_dir):
    store, data = toy_store
    model = dataclasses.replace(FusionConfig(), text=TextConfig(ngram_buckets=0))
    result = train_classifier(data, store, quick_config(variants=("text_only",), max_epochs=2, model=model))
    path = save_artifact(result, models_dir, png=False)
    meta = json.loads((path / "model.json").read_text())
    del meta["model_config"]["text"]["ngram_buckets"], meta["model_config"]["text"]["ngram_rank"]
    (path / "model.json").write_text(json.dumps(meta))
    loaded = load_artifact(path)
    assert loaded.config.text.ngram_buckets == 0
    ids = list(result.split.test)
    trained = LoadedModel(loaded.version, result.model, result.schema, result.model_config, meta)
    a, b = score_features(loaded, store, ids), score_features(trained, store, ids)
    assert len(a) == len(ids) * 2 and [x.probabilities for x in a] == [y.probabilities for y in b]


def test_lex_variants_train_beside_the_plain_ones_and_join_a_per_label_model(toy_store, models_dir, monkeypatch):
    """``+lex`` variants are the same variants with the lexical channel on. A per-label model made of a
    plain and a ``+lex`` part reads the n-grams (its own config asks for them), scores every call, and
    loads back from the registry."""
    import models.train as train
    from models.train import LEX, variant_config

    off = dataclasses.replace(FusionConfig(), text=TextConfig(ngram_buckets=0))
    assert variant_config(off, "fused_gated+lex", 512).text.ngram_buckets == 512
    assert variant_config(off, "fused_gated+lex-images", 512).text.ngram_buckets == 512
    assert variant_config(off, "fused_gated").text.ngram_buckets == 0
    store, data = toy_store
    choice = {"pace": "fused_gated" + LEX, "tone": "fused_concat"}
    monkeypatch.setattr(train, "per_label_choice", lambda val, pref: choice)
    result = train_classifier(data, store, quick_config(variants=("fused_concat", "fused_gated+lex", "text_only+lex"),
                                                        max_epochs=3, lexical_buckets=512, model=off))
    assert set(result.models) == {"fused_concat", "fused_gated+lex", "text_only+lex", "fused_per_label"}
    assert result.models["text_only+lex"].cfg.text.ngram_buckets == 512
    assert result.models["fused_gated+lex"].cfg.text.ngram_buckets == 512
    assert result.models["fused_concat"].cfg.text.ngram_buckets == 0
    model = result.model
    assert result.report.variant == "fused_per_label" and model.cfg.text.ngram_buckets == 512
    for label, variant in choice.items():
        assert result.report.variants["fused_per_label"][label] == result.report.variants[variant][label]
    loaded = load_artifact(save_artifact(result, models_dir, png=False))
    ids = list(result.split.test)
    trained = LoadedModel(loaded.version, model, result.schema, model.cfg, {})
    a, b = score_features(loaded, store, ids), score_features(trained, store, ids)
    assert len(a) == len(ids) * 2 and [x.probabilities for x in a] == [y.probabilities for y in b]

    # with the channel on for every variant, a "+lex" one would be the plain one again: it is not trained
    lexed = dataclasses.replace(FusionConfig(), text=TextConfig(ngram_buckets=256))
    result = train_classifier(data, store, quick_config(variants=("fused_concat", "fused_concat+lex"),
                                                        max_epochs=2, model=lexed))
    assert set(result.report.variants) == {"fused_concat"}
