"""How well the training configuration generalises: k-fold cross-validation with groups kept apart.

Every labelled call is predicted once, by a model trained (with :func:`models.train.train_classifier`,
the same configuration ``callqc train`` uses) on the other folds; folds are grouped, so that no group
(an agent, a queue, a day) is in both training and test, and stratified on the labels where the groups
allow. The same folds score the built-in baseline, a class-balanced logistic regression on each call's
pooled MFCC and eGeMAPS statistics (:func:`baseline_inputs`), so the model's number always has a
simple, strong reference beside it. Macro-F1 comes with a 95% bootstrap interval over groups (calls of
one group move together), and the model-minus-baseline difference with a paired one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from models.evaluate import LabelMetrics, draw_confusion, label_metrics
from qc.call_features import FeatureStore, call_of
from models.schema import MISSING, LabelSchema
from models.resampling import bootstrap_interval, grouped_folds, macro_f1
from models.train import LabeledData, TrainConfig, predict, train_classifier
from qc.features import EGEMAPS_DIM, MFCC_DIM

log = logging.getLogger("callqc.models")
MODEL, BASELINE = "callqc", "baseline"
Progress = Callable[[str], None]


def baseline_inputs(store: FeatureStore, call_ids: Sequence[str]) -> np.ndarray:
    """(calls, MFCC_DIM + EGEMAPS_DIM): each call's MFCC-40 mean and std and its eGeMAPS functionals,
    averaged over its turns weighted by their duration (NaN where a call has none)."""
    out = np.full((len(call_ids), MFCC_DIM + EGEMAPS_DIM), np.nan, np.float64)
    for k, cid in enumerate(call_ids):
        speech = store.load(cid).speech
        if speech is None or not len(speech):
            continue
        x = np.concatenate([speech.mfcc, speech.egemaps], 1).astype(np.float64)
        ok = np.isfinite(x).all(1)
        if ok.any():
            w = np.maximum(speech.spans[ok, 1] - speech.spans[ok, 0], 1e-3)
            out[k] = np.average(x[ok], axis=0, weights=w)
    return out


def fit_baseline(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Class predictions for ``x_test`` by a standardised, class-balanced logistic regression
    (C = 0.1) fitted on the labelled rows of ``x``, ``y``; NaN inputs stand in as the training median."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = y != MISSING
    if len(set(y[keep].tolist())) < 2:
        return np.full(len(x_test), int(y[keep][0]) if keep.any() else 0)
    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced"))
    model.fit(x[keep], y[keep])
    return model.predict(x_test)


@dataclass(frozen=True)
class LabelResult:
    """One label's cross-validated result for one system."""

    metrics: LabelMetrics
    interval: tuple[float, float]  # 95% bootstrap interval of macro-F1


@dataclass(frozen=True)
class CrossValReport:
    folds: int
    group_by: str
    calls: int
    groups: int
    systems: dict[str, dict[str, LabelResult]]  # callqc / baseline -> label -> result
    difference: dict[str, tuple[float, float, float]]  # label -> callqc minus baseline: value, 2.5%, 97.5%
    kept: tuple[str, ...]  # the variant each fold's training kept
    seconds: float

    def mean_f1(self, system: str = MODEL) -> float:
        vals = [r.metrics.macro_f1 for r in self.systems[system].values()]
        return float(np.mean(vals)) if vals else float("nan")

    def table(self) -> str:
        lines = [f"{self.calls} labelled calls, {self.groups} groups by {self.group_by}, {self.folds} folds "
                 f"(no group in both training and test); kept per fold: {', '.join(self.kept)}", ""]
        for label in self.systems[MODEL]:
            lines.append(f"{label}")
            for system, res in self.systems.items():
                r = res[label]
                lines.append(f"  {system:<9} macro-F1 {r.metrics.macro_f1:.3f}  95% CI {r.interval[0]:.3f}..{r.interval[1]:.3f}"
                             f"  accuracy {r.metrics.accuracy:.3f}")
            d, lo, hi = self.difference[label]
            lines.append(f"  {MODEL} - {BASELINE}: {d:+.3f}  95% CI {lo:+.3f}..{hi:+.3f}")
            m = self.systems[MODEL][label].metrics
            lines.append("  recall   " + "  ".join(f"{c} {r:.2f}" for c, r in zip(m.classes, m.recall)))
            lines.append("  confusion (rows true, columns predicted: " + ", ".join(m.classes) + ")")
            lines += ["    " + " ".join(f"{v:>4}" for v in row) + f"  {c}" for c, row in zip(m.classes, m.confusion)]
        lines.append(f"cross-validation took {self.seconds / 60:.1f} min")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["# Classifier cross-validation", "",
                 f"{self.calls} labelled calls in {self.groups} groups (by `{self.group_by}`), {self.folds} folds; "
                 "no group is in both a fold's training and its test calls. Each call is predicted once, by "
                 "the model trained without its fold. Intervals: 95% bootstrap over groups.", "",
                 "| label | system | macro-F1 | 95% CI | accuracy |", "| --- | --- | ---: | --- | ---: |"]
        for label in self.systems[MODEL]:
            for system, res in self.systems.items():
                r = res[label]
                lines.append(f"| {label} | {system} | {r.metrics.macro_f1:.3f} | {r.interval[0]:.3f}..{r.interval[1]:.3f} "
                             f"| {r.metrics.accuracy:.3f} |")
            d, lo, hi = self.difference[label]
            lines.append(f"| {label} | {MODEL} - {BASELINE} | {d:+.3f} | {lo:+.3f}..{hi:+.3f} | |")
        lines += ["", f"Baseline: class-balanced logistic regression on each call's pooled MFCC-40 and eGeMAPS "
                  "statistics, on the same folds. Kept per fold: " + ", ".join(f"`{k}`" for k in self.kept) + "."]
        for label, res in self.systems[MODEL].items():
            m = res.metrics
            lines += ["", f"## {label} ({MODEL})", "", "| class | recall | precision | calls |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {c} | {r:.3f} | {p:.3f} | {s} |" for c, r, p, s in zip(m.classes, m.recall, m.precision, m.class_support)]
            lines += ["", "Confusion (rows true, columns predicted):", "",
                      "| true \\ predicted | " + " | ".join(m.classes) + " |", "| --- |" + " ---: |" * len(m.classes)]
            lines += [f"| {c} | " + " | ".join(str(x) for x in row) + " |" for c, row in zip(m.classes, m.confusion)]
        return "\n".join(lines)

    def draw(self, path: Path) -> Path:
        """A PNG: macro-F1 with intervals per label and system, and the model's confusion matrices."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = list(self.systems[MODEL])
        fig, axes = plt.subplots(1, 1 + len(labels), figsize=(4.4 * (1 + len(labels)), 4.0), squeeze=False)
        ax = axes[0, 0]
        for k, system in enumerate(self.systems):
            f1 = [self.systems[system][lab].metrics.macro_f1 for lab in labels]
            err = np.array([[f - self.systems[system][lab].interval[0], self.systems[system][lab].interval[1] - f]
                            for f, lab in zip(f1, labels)]).T
            ax.bar(np.arange(len(labels)) + 0.4 * k, f1, 0.4, yerr=err, capsize=3, label=system)
        ax.set_xticks(np.arange(len(labels)) + 0.2, labels, rotation=20, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"macro-F1, {self.folds}-fold grouped CV")
        ax.legend(fontsize=8)
        for j, label in enumerate(labels, start=1):
            draw_confusion(axes[0, j], self.systems[MODEL][label].metrics)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


def cross_validate(data: LabeledData, store: FeatureStore, cfg: TrainConfig, groups: Mapping[str, str] | None,
                   folds: int = 5, labels: Sequence[str] | None = None, group_by: str = "agent_id",
                   agents: Mapping[str, str] | None = None, progress: Progress | None = None) -> CrossValReport:
    """Cross-validate ``cfg`` on the labelled calls with stored features. ``groups``: call id -> group
    (None: every call its own group); a call without a group is its own group. ``agents``: call id ->
    agent of every stored call (the agents' speech baselines, as in training). ``labels``: only these
    labels (default: all with two or more values)."""
    t_start = time.perf_counter()
    rows = tuple(r for r in data.rows if labels is None or r[1] in labels)
    if labels is not None:
        unknown = set(labels) - {r[1] for r in data.rows}
        if unknown:
            raise ValueError(f"no labelled calls for {', '.join(sorted(unknown))}")
    ids = store.available(sorted({c for c, _, _ in rows}))
    schema = LabelSchema.from_rows([r for r in rows if r[0] in set(ids)])
    if not schema.labels:
        raise ValueError("no label has two or more values among the labelled calls with stored features")
    targets = schema.encode(ids, rows)
    group_of = np.array([(groups or {}).get(call_of(c)) or f"call:{call_of(c)}" for c in ids])
    first = schema.names[0]
    held_out = grouped_folds(group_of.tolist(), targets[first], folds, cfg.seed)
    preds = {s: {lab: np.full(len(ids), MISSING) for lab in schema.names} for s in (MODEL, BASELINE)}
    base_x = baseline_inputs(store, ids)
    # only the variants training can keep: the single-modality ones are trained for the report's ablation
    kept_only = tuple(v for v in cfg.variants if v.startswith("fused")) or cfg.variants
    cfg = replace(cfg, variants=kept_only)
    kept = []
    for f, held in enumerate(held_out):
        t0 = time.perf_counter()
        test_ids = [ids[i] for i in held]
        train_ids = set(ids) - set(test_ids)
        fold_rows = tuple(r for r in rows if r[0] in set(ids))
        result = train_classifier(LabeledData(fold_rows), store, replace(cfg, progress=False),
                                  test_call_ids=test_ids, groups=groups, agents=agents)
        kept.append(result.report.variant)
        from models.data import prepare

        prep = prepare(store, test_ids, result.model.cfg, agents=agents)
        probs = predict(result.model, prep)
        train_idx = np.array(sorted(ids.index(c) for c in train_ids))
        for lab in schema.names:
            if lab in probs:
                values = result.schema.values(lab)
                mine = np.array([schema.values(lab).index(v) for v in values])
                preds[MODEL][lab][held] = mine[probs[lab].argmax(1)]
            preds[BASELINE][lab][held] = fit_baseline(base_x[train_idx], targets[lab][train_idx], base_x[held])
        if progress:
            progress(f"fold {f + 1}/{folds}: {len(test_ids)} test calls, kept {result.report.variant} "
                     f"({time.perf_counter() - t0:.0f} s)")
    systems: dict[str, dict[str, LabelResult]] = {MODEL: {}, BASELINE: {}}
    difference = {}
    for lab, classes in schema.labels:
        y = targets[lab]
        known = np.flatnonzero(y != MISSING)
        for system in systems:
            p = preds[system][lab]
            interval = bootstrap_interval(lambda idx, p=p: macro_f1(y[known][idx], p[known][idx]), group_of[known])
            systems[system][lab] = LabelResult(label_metrics(lab, classes, y, p), interval)
        a, b = preds[MODEL][lab], preds[BASELINE][lab]
        lo, hi = bootstrap_interval(lambda idx: macro_f1(y[known][idx], a[known][idx])
                                    - macro_f1(y[known][idx], b[known][idx]), group_of[known])
        difference[lab] = (systems[MODEL][lab].metrics.macro_f1 - systems[BASELINE][lab].metrics.macro_f1, lo, hi)
    return CrossValReport(folds, group_by, len(ids), len(set(group_of.tolist())), systems, difference,
                          tuple(kept), time.perf_counter() - t_start)
