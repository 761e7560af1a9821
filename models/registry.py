"""Trained classifiers on disk: artifacts saved and loaded, and a candidate compared with the promoted
version (:func:`compare`; the warehouse's registry is :mod:`flows.scoring`).

An artifact is a directory ``<models_dir>/<version>/`` holding ``model.safetensors`` (the weights:
plain tensors, nothing unpickled when read) and ``model.json`` (the network config, the training
config, the label schema, the metrics and evaluation report, the data fingerprint and the split).
Encoder weights that were not trained (a frozen MiniLM, the frozen EfficientNet) are not copied: the
config names the shipped model they come from.

A new version is promoted only if it beats the promoted one on the *same* test split (the new
version's): both models score those calls, against the same labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.evaluate import evaluate_predictions, mean_macro_f1
from qc.call_features import SPAN, FeatureStore
from models.fusion import Classifier, FusionConfig, build_classifier
from models.schema import LabelSchema
from qc.fsutil import staged_dir

if TYPE_CHECKING:
    from models.train import TrainResult

FORMAT = 1
WEIGHTS, META = "model.safetensors", "model.json"


@dataclass
class LoadedModel:
    version: str
    model: Classifier
    schema: LabelSchema
    config: FusionConfig
    meta: dict[str, Any]


def new_version(fingerprint: str) -> str:
    return f"clf-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{fingerprint[:8]}"


def save_artifact(result: TrainResult, models_dir: Path, version: str | None = None, png: bool = True) -> Path:
    """Write the kept model of ``result`` as ``<models_dir>/<version>/`` (atomically); returns the dir."""
    from safetensors.torch import save_file

    from models.evaluate import draw_report

    version = version or new_version(result.fingerprint)
    final = Path(models_dir) / version
    with staged_dir(final, f".{version}-") as staging:
        state = {k: v.detach().contiguous().clone() for k, v in result.model.state_dict().items()}
        save_file(state, str(staging / WEIGHTS), metadata={"format": str(FORMAT), "version": version})
        meta = {
            "format": FORMAT, "version": version, "created_at": datetime.now(timezone.utc).isoformat(),
            "model_config": result.model_config.to_json(), "train_config": result.config.to_json(),
            "label_schema": result.schema.to_json(), "fingerprint": result.fingerprint,
            "data_fingerprint": result.data_fingerprint,
            "turn_labels": list(result.turn_labels),
            "split": {k: list(getattr(result.split, k)) for k in ("train", "val", "test")},
            "metrics": result.report.headline(), "report": result.report.to_json(),
            "histories": result.histories, "seconds": result.seconds,
        }
        (staging / META).write_text(json.dumps(meta, indent=1, default=float))
        (staging / "report.md").write_text(result.report.markdown(f"Classifier {version}") + choice_note(result)
                                           + turns_note(result))
        if png:
            draw_report(result.report, staging / "report.png")
    return final


def choice_note(result: TrainResult) -> str:
    """The report's section on how the kept model was chosen among the fused variants, with the numbers
    each was judged by (grouped cross-validation on a small labelled set, else the validation split)."""
    fused = [v for v, h in result.histories.items() if v.startswith("fused") and "val_macro_f1" in h
             and v != "fused_per_label"]
    if len(fused) < 2:
        return ""
    by_cv = all("cv_scores" in result.histories[v] for v in fused)
    key = "cv_scores" if by_cv else "val_scores"
    n = len(result.split.train) + len(result.split.val)
    how = (f"grouped {result.config.select_folds}-fold cross-validation on the {n} training and validation "
           f"examples (fewer than {result.config.select_cv_below})" if by_cv
           else f"the validation split ({len(result.split.val)} examples)")
    labels = list(result.schema.names)
    lines = ["", "", "## Model choice", "", f"The fused variants were compared by {how} (macro-F1):", "",
             "| variant | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for v in fused:
        scores = result.histories[v].get(key) or {}
        cells = [f"{scores[lab]['macro_f1']:.3f}" if lab in scores else "-" for lab in labels]  # type: ignore[index]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    choice = result.histories.get("fused_per_label", {}).get("choice")
    kept = (", ".join(f"{lab} from {v}" for lab, v in choice.items()) if choice  # type: ignore[union-attr]
            else result.report.variant)
    lines += ["", f"Kept: {kept}; the others were dropped."]
    return "\n".join(lines) + "\n"


def turns_note(result: TrainResult) -> str:
    """The report's section on turns: which labels were learned from labelled utterances, and how a
    call's score relates to its turns' scores."""
    spans = sum(1 for c in (*result.split.train, *result.split.val, *result.split.test) if SPAN in c)
    lines = ["", "", "## Turns and calls", "",
             "Every turn of a scored call gets a score for every label (`turn_scores` in SQL and Parquet): "
             "the model reads the turn's words and speech features, with the call's spectrogram images "
             "as context."]
    if result.turn_labels:
        lines.append(f"Learned from labelled utterances ({spans} spans of calls): "
                     f"{', '.join(result.turn_labels)}. A call's score for these is the duration-weighted "
                     "mean of its turns' probabilities; every other label is scored on the whole call.")
    else:
        lines.append("Every label was learned from whole calls and is scored on the whole call.")
    return "\n".join(lines) + "\n"


def load_artifact(path: Path) -> LoadedModel:
    """Read an artifact directory (safetensors + JSON only). Raises ``ValueError`` if it is not one."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = json.loads((path / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: artifact format {meta.get('format')!r}, expected {FORMAT}")
    cfg = FusionConfig.from_json(meta["model_config"])
    schema = LabelSchema.from_json(meta["label_schema"])
    model = build_classifier(cfg, schema.sizes())
    model.load_state_dict(load_file(str(path / WEIGHTS)), strict=True)
    model.eval()
    return LoadedModel(meta["version"], model, schema, cfg, meta)


MIN_HELD_OUT = 5  # fewer labelled calls that neither model trained on cannot decide a promotion


@dataclass(frozen=True)
class Comparison:
    candidate: str
    promoted: str | None
    test_calls: int  # labelled calls neither model was trained (or early-stopped) on
    labels: tuple[str, ...]  # compared (in both schemas)
    candidate_f1: float
    promoted_f1: float | None
    better: bool
    reason: str
    # label -> (candidate macro-F1, promoted macro-F1, 2.5% and 97.5% of their difference, bootstrapped)
    per_label: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


def predictions_on(loaded: LoadedModel, store: FeatureStore, rows: list[tuple[str, str, str]],
                   call_ids: list[str], labels: tuple[str, ...], agents: Mapping[str, str] | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(targets, predictions): label -> class index per call of ``call_ids`` (targets from ``rows``,
    -1 where unlabelled); ``agents``: as for :func:`models.data.prepare`."""
    from models.data import prepare
    from models.train import predict

    prep = prepare(store, call_ids, loaded.config, agents=agents)
    probs = predict(loaded.model, prep)
    schema = LabelSchema(tuple((lab, loaded.schema.values(lab)) for lab in labels))
    return schema.encode(call_ids, rows), {lab: probs[lab].argmax(1) for lab in labels}


def evaluate_on(loaded: LoadedModel, store: FeatureStore, rows: list[tuple[str, str, str]],
                call_ids: list[str], labels: tuple[str, ...], agents: Mapping[str, str] | None = None) -> float:
    """Mean macro-F1 of ``loaded`` over ``labels`` on ``call_ids`` (against ``rows``)."""
    targets, preds = predictions_on(loaded, store, rows, call_ids, labels, agents)
    schema = LabelSchema(tuple((lab, loaded.schema.values(lab)) for lab in labels))
    return mean_macro_f1(evaluate_predictions(schema, targets, preds))


def compare(candidate: LoadedModel, old: LoadedModel | None, store: FeatureStore, rows: list[tuple[str, str, str]],
            agents: Mapping[str, str], min_gain: float = 0.0) -> Comparison:
    """Candidate against the promoted version ``old`` (None: none is promoted) on the labelled calls that neither was trained or
    early-stopped on (the candidate's test calls, less those the promoted model saw). The candidate wins
    when its mean macro-F1 over the shared labels is higher by more than ``min_gain`` and no label is
    worse beyond the 95% bootstrap interval of its difference (resampling ``agents``, call id -> agent, where
    calls have one)."""
    from models.resampling import bootstrap_interval, macro_f1
    from models.schema import MISSING

    test = [c for c in candidate.meta["split"]["test"] if store.has(c)]
    if old is None:
        f1 = evaluate_on(candidate, store, rows, test, candidate.schema.names, agents)
        return Comparison(candidate.version, None, len(test), candidate.schema.names, f1, None, True,
                          f"the first version (none was promoted before); mean macro-F1 {f1:.3f} on its "
                          f"{len(test)} test calls")
    shared = tuple(lab for lab in candidate.schema.names
                   if lab in old.schema.names and old.schema.values(lab) == candidate.schema.values(lab))
    if not shared:
        return Comparison(candidate.version, old.version, len(test), (), float("nan"), None, False,
                          "no label in common with the promoted version: promote by hand if intended")
    seen = set(old.meta.get("split", {}).get("train", ())) | set(old.meta.get("split", {}).get("val", ()))
    held = [c for c in test if c not in seen]
    if len(held) < MIN_HELD_OUT:
        return Comparison(candidate.version, old.version, len(held), shared, float("nan"), None, False,
                          f"only {len(held)} labelled calls that neither model was trained on (of {len(test)} "
                          f"test calls, {len(test) - len(held)} trained on by {old.version}): too few to "
                          "compare; label more calls, or promote by hand if intended")
    targets, new_pred = predictions_on(candidate, store, rows, held, shared, agents)
    _, old_pred = predictions_on(old, store, rows, held, shared, agents)
    groups = np.array([agents.get(c) or f"call:{c}" for c in held])
    per_label: dict[str, tuple[float, float, float, float]] = {}
    for lab in shared:
        y, a, b = targets[lab], new_pred[lab], old_pred[lab]
        known = np.flatnonzero(y != MISSING)
        if not len(known):
            continue
        lo, hi = bootstrap_interval(lambda idx: macro_f1(y[known][idx], a[known][idx])
                                    - macro_f1(y[known][idx], b[known][idx]), groups[known])
        per_label[lab] = (macro_f1(y[known], a[known]), macro_f1(y[known], b[known]), lo, hi)
    new_f1 = float(np.mean([v[0] for v in per_label.values()])) if per_label else float("nan")
    old_f1 = float(np.mean([v[1] for v in per_label.values()])) if per_label else float("nan")
    worse = [lab for lab, (_, _, _, hi) in per_label.items() if hi < 0]
    better = bool(np.isfinite(new_f1) and new_f1 > old_f1 + min_gain and not worse)
    details = "; ".join(f"{lab} {n:.3f} vs {o:.3f} (difference {n - o:+.3f}, 95% interval {lo:+.3f}..{hi:+.3f})"
                        for lab, (n, o, lo, hi) in per_label.items())
    why = (f"on {len(held)} labelled calls neither model was trained on, mean macro-F1 {new_f1:.3f} (new) vs "
           f"{old_f1:.3f} ({old.version}): {details}")
    if worse:
        why += f"; worse beyond its interval on {', '.join(worse)}"
    return Comparison(candidate.version, old.version, len(held), shared, new_f1, old_f1, better, why, per_label)
