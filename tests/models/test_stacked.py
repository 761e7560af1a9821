"""Late fusion (``fused_stacked``): out-of-fold folds, the stacker, and what it learns on code-made calls."""

from __future__ import annotations

import numpy as np
import torch

from models.fusion import StackedClassifier
from models.schema import MISSING
from models.train import fit_stacker, fold_indices


def test_folds_partition_the_calls_and_keep_each_class_in_every_fold():
    y = {"mood": np.array([0] * 12 + [1] * 6 + [2] * 3), "size": np.array([0, 1] * 10 + [MISSING])}
    folds = fold_indices(y, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(21))
    for held in folds:
        assert sorted(np.bincount(y["mood"][held]).tolist()) == [1, 2, 4]  # stratified on mood
    assert [f.tolist() for f in folds] == [f.tolist() for f in fold_indices(y, 3, seed=0)]  # seeded
    # too few calls of a value for stratification: plain folds, still a partition
    assert sorted(np.concatenate(fold_indices({"x": np.array([0] * 8 + [1])}, 4, seed=0)).tolist()) == list(range(9))


def log_probs(truth: np.ndarray, sure: float, n: int) -> np.ndarray:
    p = np.full((len(truth), n), (1 - sure) / (n - 1))
    p[np.arange(len(truth)), truth] = sure
    return np.log(p)


def test_stacker_leans_on_the_branch_that_knows_and_masks_missing_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(3, size=300)
    # the text branch knows the label (right 90% of the time), the audio branch guesses with confidence
    text_guess = np.where(rng.random(300) < 0.9, y, rng.integers(3, size=300))
    z = np.hstack([log_probs(text_guess, 0.7, 3), log_probs(rng.integers(3, size=300), 0.9, 3)]).astype(np.float32)
    w, b = fit_stacker(z, y, 3, l2=1e-2)
    pred = (torch.from_numpy(z) @ w.T + b).argmax(1).numpy()
    plain_sum = (z[:, :3] + z[:, 3:]).argmax(1)
    assert (pred == y).mean() >= 0.88 > (plain_sum == y).mean() + 0.2
    assert w[:, :3].abs().sum() > 5 * w[:, 3:].abs().sum()
    # calls without the label are left out: adding them with nonsense inputs changes nothing
    z2 = np.vstack([z, rng.normal(size=(50, 6)).astype(np.float32) * 10])
    y2 = np.concatenate([y, np.full(50, MISSING)])
    w2, b2 = fit_stacker(z2, y2, 3, l2=1e-2)
    assert torch.allclose(w, w2, atol=1e-4) and torch.allclose(b, b2, atol=1e-4)


def test_with_one_class_to_learn_from_the_stacker_is_the_plain_sum():
    w, b = fit_stacker(np.zeros((5, 4), np.float32), np.array([1, 1, 1, MISSING, 1]), 2, l2=1e-2)
    assert w.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]] and b.tolist() == [0, 0]


def test_stacked_model_reads_each_label_from_the_modality_that_carries_it(toy_result):
    """On the toy calls "pace" is only in the voice and "tone" only in the words: the stacked model gets
    both, and its stacker, fitted on out-of-fold predictions, weighs the right branch for each."""
    rep = toy_result.report
    stacked = toy_result.models["fused_stacked"]
    assert isinstance(stacked, StackedClassifier)
    assert toy_result.histories["fused_stacked"]["folds"] == 5
    assert rep.variants["fused_stacked"]["pace"].macro_f1 >= 0.85, rep.table()
    assert rep.variants["fused_stacked"]["tone"].macro_f1 >= 0.85, rep.table()

    def weight(label: str, branch: int) -> float:
        w = stacked.stack[label].weight.detach()
        k = w.shape[0]
        return float(w[:, branch * k:(branch + 1) * k].abs().sum())

    assert weight("tone", 0) > 2 * weight("tone", 1)  # text over audio for the words' label
    assert weight("pace", 1) > 2 * weight("pace", 0)  # audio over text for the voice's label
    # its members are the 5 cross-fitting models per modality, each trained without one fold
    assert stacked.cfg.members == 5 and all(len(stacked.branches[m]) == 5 for m in ("text", "audio"))
    heads = [m.heads["tone"].weight for m in stacked.branches["text"]] + [toy_result.models["text_only"].heads["tone"].weight]
    assert all(not torch.equal(a, b) for i, a in enumerate(heads) for b in heads[i + 1:])


def test_too_few_calls_for_folds_stack_the_whole_split_models_by_their_plain_sum(toy_store):
    from models.train import LabeledData, train_classifier

    from .conftest import quick_config

    store, data = toy_store
    few = LabeledData(tuple(r for r in data.rows if r[0] in set(data.call_ids[:8])))
    res = train_classifier(few, store, quick_config(variants=("fused_stacked",), max_epochs=2))
    stacked = res.models["fused_stacked"]
    assert res.histories["fused_stacked"]["folds"] < 2 and stacked.cfg.members == 1
    assert set(res.report.variants) == {"text_only", "audio_only", "fused_stacked"}
    text = res.models["text_only"].state_dict()
    assert all(torch.equal(v, stacked.branches["text"][0].state_dict()[k]) for k, v in text.items())
    n = 2  # pace: calm | heated
    # log-probabilities added; the probabilities beside them (stack_probs) left out
    assert stacked.stack["pace"].weight.tolist() == torch.cat([torch.eye(n), torch.eye(n), torch.zeros(n, 2 * n)],
                                                              1).tolist()


def test_stacker_reads_probabilities_beside_log_probabilities_and_old_models_still_load():
    from models.fusion import FusionConfig, stack_inputs

    z = torch.log(torch.tensor([[0.5, 0.5, 0.9, 0.1]]))
    assert torch.allclose(stack_inputs(z, True), torch.tensor([[*z[0].tolist(), 0.5, 0.5, 0.9, 0.1]]))
    assert stack_inputs(z, False) is z
    model = StackedClassifier(FusionConfig(fusion="stacked"), {"mood": 3})
    assert model.stack["mood"].weight.shape == (3, 12)
    # a stacked model saved before the stacker read probabilities: its config has no stack_probs
    old = FusionConfig(fusion="stacked").to_json()
    del old["stack_probs"]
    assert FusionConfig.from_json(old).stack_probs is False
    assert StackedClassifier(FusionConfig.from_json(old), {"mood": 3}).stack["mood"].weight.shape == (3, 6)


def test_stacked_and_latent_variants_without_images_train_as_what_they_name(toy_store):
    """``-images`` on a stacked or latent variant keeps its kind: the stacked model is made of the
    single-modality models without images, the latent one is an ensemble (it once fell through to a
    plain network, or failed)."""
    from models.fusion import EnsembleClassifier
    from models.train import base_variant, train_classifier

    from tests.models.conftest import quick_config

    assert base_variant("fused_stacked+lex-images") == "fused_stacked" == base_variant("fused_stacked")
    store, data = toy_store
    res = train_classifier(data, store, quick_config(variants=("fused_stacked-images", "fused_latent-images"),
                                                     max_epochs=4, latent_members=2, stack_folds=2))
    stacked, latent = res.models["fused_stacked-images"], res.models["fused_latent-images"]
    assert isinstance(stacked, StackedClassifier) and isinstance(latent, EnsembleClassifier)
    assert "audio_only-images" in res.models and "audio_only" not in res.models
    assert not stacked.cfg.image.images and not latent.cfg.image.images
    assert all(not m.cfg.image.images for m in stacked.branches["audio"])
