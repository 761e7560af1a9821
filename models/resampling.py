"""How labelled calls are split and resampled for evaluation: folds that keep each group (an agent, a
queue, a day) whole, bootstrap intervals over groups, and macro-F1."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

BOOTSTRAP = 1000


def grouped_folds(groups: Sequence[str], strata: np.ndarray, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Held-out call indexes of each of ``folds`` folds: every group wholly in one fold, classes spread
    as evenly as the groups allow (scikit-learn's StratifiedGroupKFold). Raises ``ValueError`` when
    there are fewer groups than folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < folds:
        raise ValueError(f"{n_groups} groups cannot make {folds} folds with groups kept apart: "
                         f"use --folds {max(2, n_groups)} or another --group-by")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [held for _, held in splitter.split(np.zeros(len(groups)), strata, np.asarray(groups))]


def bootstrap_interval(values: Callable[[np.ndarray], float], groups: np.ndarray, n: int = BOOTSTRAP,
                       seed: int = 0) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of ``values(calls)`` over ``n`` resamples of the groups (each
    resample draws as many groups as there are, with replacement, and takes all their calls)."""
    rng = np.random.default_rng(seed)
    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(names))]
    stats = []
    for _ in range(n):
        pick = rng.integers(0, len(names), len(names))
        stats.append(values(np.concatenate([members[g] for g in pick])))
    lo, hi = np.nanpercentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro", zero_division=0))
