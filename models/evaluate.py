"""How good a classifier is: per label macro-F1, per class precision and recall, confusion matrix,
and the text-only / audio-only / fused ablation on one test split; as Markdown and as a PNG.

Calls missing a label are left out of that label's metrics (never counted as a class).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.schema import MISSING, LabelSchema


@dataclass(frozen=True)
class LabelMetrics:
    label: str
    classes: tuple[str, ...]
    macro_f1: float
    accuracy: float
    support: int  # labeled calls scored
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    class_support: tuple[int, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted


def label_metrics(label: str, classes: tuple[str, ...], y_true: np.ndarray, y_pred: np.ndarray) -> LabelMetrics:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    keep = y_true != MISSING
    t, p = y_true[keep], y_pred[keep]
    ks = list(range(len(classes)))
    if t.size == 0:
        z = tuple(0.0 for _ in ks)
        return LabelMetrics(label, classes, float("nan"), float("nan"), 0, z, z, tuple(0 for _ in ks),
                            tuple(tuple(0 for _ in ks) for _ in ks))
    present = sorted(set(t.tolist()))  # macro over the classes the test set has
    prec, rec, _, sup = precision_recall_fscore_support(t, p, labels=ks, zero_division=0)
    f1 = f1_score(t, p, labels=present, average="macro", zero_division=0)
    cm = confusion_matrix(t, p, labels=ks)
    return LabelMetrics(label, classes, float(f1), float((t == p).mean()), int(t.size),
                        tuple(float(x) for x in prec), tuple(float(x) for x in rec), tuple(int(x) for x in sup),
                        tuple(tuple(int(x) for x in row) for row in cm))


def evaluate_predictions(schema: LabelSchema, targets: Mapping[str, np.ndarray],
                         predictions: Mapping[str, np.ndarray]) -> dict[str, LabelMetrics]:
    """``targets`` and ``predictions``: label -> class index per call (targets -1 where missing)."""
    return {label: label_metrics(label, classes, np.asarray(targets[label]), np.asarray(predictions[label]))
            for label, classes in schema.labels}


def mean_macro_f1(metrics: Mapping[str, LabelMetrics]) -> float:
    vals = [m.macro_f1 for m in metrics.values() if m.support > 0]
    return float(np.mean(vals)) if vals else float("nan")


@dataclass(frozen=True)
class EvalReport:
    """One training run's evaluation: the chosen model and its ablations, all on ``test_call_ids``."""

    variant: str  # which of ``variants`` is the model kept
    variants: dict[str, dict[str, LabelMetrics]]  # e.g. fused / text_only / audio_only -> label -> metrics
    test_call_ids: tuple[str, ...]

    @property
    def metrics(self) -> dict[str, LabelMetrics]:
        return self.variants[self.variant]

    def headline(self) -> dict[str, float]:
        """Flat numbers for the warehouse's ``metrics`` column."""
        out: dict[str, float] = {"test_calls": float(len(self.test_call_ids)),
                                 "mean_macro_f1": mean_macro_f1(self.metrics)}
        for name, per_label in self.variants.items():
            for label, m in per_label.items():
                out[f"{name}.{label}.macro_f1"] = m.macro_f1
        return out

    def to_json(self) -> dict[str, object]:
        return {"variant": self.variant, "test_call_ids": list(self.test_call_ids),
                "variants": {n: {lab: asdict(m) for lab, m in v.items()} for n, v in self.variants.items()}}

    def markdown(self, title: str = "Classifier evaluation") -> str:
        lines = [f"# {title}", "", f"Test split: {len(self.test_call_ids)} calls. Kept: **{self.variant}**.", "",
                 "## Ablation (macro-F1 on the same test split)", ""]
        labels = list(self.metrics)
        lines += ["| variant | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
        for name, per_label in self.variants.items():
            lines.append(f"| {name} | " + " | ".join(f"{per_label[lab].macro_f1:.3f}" for lab in labels) + " |")
        for label, m in self.metrics.items():
            lines += ["", f"## {label} ({self.variant}): macro-F1 {m.macro_f1:.3f}, accuracy {m.accuracy:.3f}, "
                      f"{m.support} calls", "", "| class | precision | recall | support |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {c} | {p:.3f} | {r:.3f} | {s} |"
                      for c, p, r, s in zip(m.classes, m.precision, m.recall, m.class_support)]
            lines += ["", "Confusion (rows true, columns predicted):", "",
                      "| true \\ predicted | " + " | ".join(m.classes) + " |", "| --- |" + " ---: |" * len(m.classes)]
            lines += [f"| {c} | " + " | ".join(str(x) for x in row) + " |" for c, row in zip(m.classes, m.confusion)]
        return "\n".join(lines)

    def table(self) -> str:
        """A plain-text ablation table (for the terminal)."""
        labels = list(self.metrics)
        w = max(12, *(len(n) for n in self.variants))
        head = f"{'variant':<{w}} " + " ".join(f"{lab:>18}" for lab in labels)
        rows = [f"{n:<{w}} " + " ".join(f"{v[lab].macro_f1:>18.3f}" for lab in labels) for n, v in self.variants.items()]
        return "\n".join([head, *rows])


def draw_confusion(ax, m: LabelMetrics) -> None:  # type: ignore[no-untyped-def]
    """``m``'s confusion matrix on a matplotlib axis, counts written in, macro-F1 in the title."""
    cm = np.array(m.confusion)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(m.classes)), m.classes, rotation=40, fontsize=7)
    ax.set_yticks(range(len(m.classes)), m.classes, fontsize=7)
    for (r, c), v in np.ndenumerate(cm):
        ax.text(c, r, str(v), ha="center", va="center", fontsize=7)
    ax.set_title(f"{m.label}\nmacro-F1 {m.macro_f1:.2f}", fontsize=9)
    ax.set_xlabel("predicted", fontsize=7)


def draw_report(report: EvalReport, path: Path) -> Path:
    """A PNG: the ablation bars and the kept model's confusion matrix per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report.metrics)
    fig, axes = plt.subplots(1, 1 + len(labels), figsize=(4.2 * (1 + len(labels)), 3.8), squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / max(1, len(report.variants))
    for k, (name, per_label) in enumerate(report.variants.items()):
        ax.bar(np.arange(len(labels)) + k * width, [per_label[lab].macro_f1 for lab in labels], width, label=name)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("macro-F1 (test)")
    ax.legend(fontsize=7)
    for j, label in enumerate(labels, start=1):
        draw_confusion(axes[0, j], report.metrics[label])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
