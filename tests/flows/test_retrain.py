"""Retraining from the warehouse's labels: train, evaluate, register, promote only if better; the flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from qc.call_features import FeatureStore
from flows.training import labels_from_warehouse, retrain
from qc.config import Settings
from warehouse import Warehouse
from warehouse.testing import dummy_call_result

from tests.models.conftest import quick_config, toy_rows


@pytest.fixture
def labeled(tmp_path: Path):
    """A warehouse with 60 stored calls, their labels imported by external id, and their features."""
    cfg = Settings(data_dir=tmp_path / "data")
    cfg.data_dir.mkdir(parents=True)
    feats, data = toy_rows(60, seed=11)
    store = FeatureStore.for_settings(cfg)
    wh = Warehouse.open(cfg)
    run = wh.start_run({}, "test")
    for f in feats:
        store.save(f)
        wh.save_call(dummy_call_result(f.call_id, call_id=f.call_id, external_id=f"ext-{f.call_id}", n_words=5), run)
    report = wh.import_labels([(f"ext-{c}", lab, v) for c, lab, v in data.rows], who="t", source="test")
    assert report.ok, report.describe()
    yield cfg, wh, data
    wh.close()


def test_labels_come_from_the_warehouse(labeled):
    cfg, wh, data = labeled
    assert sorted(labels_from_warehouse(wh).rows) == sorted(data.rows)


def test_retrain_registers_and_promotes_only_when_better(labeled):
    cfg, wh, _ = labeled
    tcfg = quick_config(variants=("fused_concat", "text_only", "audio_only"), max_epochs=15)
    first = retrain(cfg, wh, tcfg)
    assert first.promoted and wh.promoted_version().version == first.version
    mv = wh.model_version(first.version)
    assert mv.report_markdown and "Ablation" in mv.report_markdown and "promoted" in mv.report_markdown
    assert mv.metrics["mean_macro_f1"] > 0.6
    assert set(mv.label_schema) == {"pace", "tone"} and list(mv.test_split) == list(first.result.split.test)
    assert (first.artifact / "model.safetensors").exists() and (first.artifact / "report.png").exists()
    # the toy features were stored without per-turn speech features: the report names the command that adds them
    assert len(first.stale_features) == 60 and "60 labelled calls have features missing" in mv.report_markdown
    assert "`callqc features backfill`" in mv.report_markdown
    # the same data and seed again: an equal model, which does not beat the promoted one
    second = retrain(cfg, wh, tcfg)
    assert not second.promoted and second.comparison is not None
    assert wh.promoted_version().version == first.version
    assert len(wh.model_versions()) == 2


def test_retraining_is_skipped_until_a_label_changes(labeled):
    from flows.training import unchanged_since_promoted

    cfg, wh, data = labeled
    assert unchanged_since_promoted(wh, labels_from_warehouse(wh)) is None  # nothing promoted yet
    first = retrain(cfg, wh, quick_config(variants=("audio_only",), max_epochs=3))
    assert first.promoted
    reason = unchanged_since_promoted(wh, labels_from_warehouse(wh))
    assert reason and "no label changed" in reason and first.version in reason
    call, label, value = data.rows[0]
    other = {"pace": {"calm": "heated", "heated": "calm"}, "tone": {"kind": "harsh", "harsh": "plain", "plain": "kind"}}
    wh.set_label(call, label, other[label][value], who="qa")
    assert unchanged_since_promoted(wh, labels_from_warehouse(wh)) is None


def test_retrain_without_labels_says_so(tmp_path):
    cfg = Settings(data_dir=tmp_path / "d")
    cfg.data_dir.mkdir()
    with Warehouse.open(cfg) as wh, pytest.raises(ValueError, match="no labels"):
        retrain(cfg, wh)


@pytest.mark.slow
def test_retrain_flow_leaves_a_markdown_report(labeled, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.retrain import retrain_qc

    cfg, wh, _ = labeled
    outcome = retrain_qc(settings=cfg, train_config=quick_config(variants=("fused_concat", "text_only", "audio_only"),
                                                                 max_epochs=10))
    assert outcome.promoted

    async def artifact():
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-qc-report"])))
            return found[0].data if found else None

    import asyncio

    data = asyncio.run(artifact())
    assert data and outcome.version in data and "Ablation" in data
    # the same labels again: nothing new to learn, so no training, and the report says why
    assert retrain_qc(settings=cfg, train_config=quick_config(variants=("audio_only",), max_epochs=2)) is None
