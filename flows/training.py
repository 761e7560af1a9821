"""One retraining run as a plain function: warehouse labels -> trained, evaluated, registered model,
promoted only if it beats the promoted one on the same test split. The ``retrain_qc`` flow and
``callqc train`` are thin shells over :func:`retrain`; :mod:`models` trains, this module reads the
labels from the warehouse and registers what was trained."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from qc.call_features import FeatureStore, call_of, span_id
from flows.scoring import agents_of, promote_if_better, register
from models.registry import Comparison, save_artifact
from models.train import EpochHook, LabeledData, TrainConfig, TrainResult, train_classifier
from qc.config import Settings
from warehouse import Warehouse


log = logging.getLogger("callqc.flows")


def labels_from_warehouse(wh: Warehouse) -> LabeledData:
    """The latest label of every labelled (call, label) and (span of a call, label) in the warehouse;
    a span's example id is :func:`qc.call_features.span_id`."""
    frame = wh.labels_frame()
    rows = [(str(c), str(lab), str(v)) for c, lab, v in zip(frame["call_id"], frame["label"], frame["value"])]
    spans = wh.turn_labels_frame()
    rows += [(span_id(str(c), a, b), str(lab), str(v))
             for c, a, b, lab, v in zip(spans["call_id"], spans["start_s"], spans["end_s"], spans["label"],
                                        spans["value"])]
    return LabeledData(tuple(rows))


def unchanged_since_promoted(wh: Warehouse, data: LabeledData) -> str | None:
    """Why retraining would learn nothing new (the labels are those the promoted version was trained
    on), or None when there is something new to learn (or no version is promoted)."""
    import json

    current = wh.promoted_version()
    if current is None:
        return None
    meta_file = Path(current.artifact_uri) / "model.json"
    if not meta_file.exists():
        return None
    seen = json.loads(meta_file.read_text()).get("data_fingerprint")
    if seen and seen == data.fingerprint():
        return (f"no label changed since the promoted version {current.version} was trained "
                f"({len(data.call_ids)} labelled calls): nothing new to learn")
    return None


@dataclass(frozen=True)
class RetrainOutcome:
    version: str
    artifact: Path
    result: TrainResult
    comparison: Comparison | None  # None when not asked to promote
    promoted: bool
    stale_features: tuple[str, ...] = ()  # labelled calls whose features are missing or older than current


    def markdown(self) -> str:
        lines = [self.result.report.markdown(f"Retraining: classifier `{self.version}`"), "",
                 "## Promotion", ""]
        if self.stale_features:
            lines[-2:-2] = ["## Features", "",
                            f"{len(self.stale_features)} labelled calls have features missing or older than the "
                            "current ones and were trained on without them: compute them with "
                            "`callqc features backfill` and train again.", ""]
        if self.comparison is None:
            lines.append("Not considered (promotion was not asked for).")
        else:
            verdict = "promoted" if self.promoted else "not promoted"
            lines.append(f"**{verdict}**: {self.comparison.reason}")
        secs = self.result.seconds
        lines += ["", "## Time", "", f"- training: {sum(v for k, v in secs.items() if k.startswith('train.')) / 60:.1f} min",
                  f"- preparing inputs: {sum(v for k, v in secs.items() if k.startswith('prepare.')) / 60:.1f} min",
                  f"- train / validation / test calls: {len(self.result.split.train)} / {len(self.result.split.val)}"
                  f" / {len(self.result.split.test)}"]
        return "\n".join(lines)


def retrain(cfg: Settings, wh: Warehouse, train_cfg: TrainConfig = TrainConfig(), promote: bool = True,
            store: FeatureStore | None = None, hook: EpochHook | None = None) -> RetrainOutcome:
    """Train on every labeled call with stored features, store the artifact, register the version and
    (``promote``) promote it if it beats the promoted version on its own test split. Splits keep each
    agent's calls together, and agents' speech baselines come from all their stored calls."""
    store = store or FeatureStore.for_settings(cfg)
    data = labels_from_warehouse(wh)
    if not data.rows:
        raise ValueError("the warehouse holds no labels: import some with `callqc labels import`")
    stale = tuple(dict.fromkeys(c for c in map(call_of, data.call_ids)
                                if not store.current(c, speech=cfg.speech_features)))
    if stale:
        log.warning("%d labelled calls have features missing or older than the current ones: "
                    "`callqc features backfill`", len(stale))
    agents = agents_of(wh)
    result = train_classifier(data, store, train_cfg, hook=hook, groups=agents, agents=agents)
    artifact = save_artifact(result, cfg.models_dir)
    version = register(wh, artifact).version
    comparison = promote_if_better(wh, store, artifact, list(data.rows)) if promote else None
    outcome = RetrainOutcome(version, artifact, result, comparison, bool(comparison and comparison.better), stale)
    # the stored report also says whether it was promoted and why
    wh.register_model_version(version, str(artifact.resolve()), result.schema.to_json(),
                              result.report.headline(), list(result.split.test), outcome.markdown())
    return outcome
