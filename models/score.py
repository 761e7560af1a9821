"""Inference: stored call features -> one :class:`~qc.records.Score` per label, by the promoted model.

Scoring reads only stored features and cached encoder outputs (see :mod:`models.features`), so it
never reruns ASR; the first time a call is scored its frozen-encoder outputs are computed and cached.
Each score records the model version that made it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.data import prepare
from models.features import FeatureStore
from models.registry import LoadedModel, load_artifact
from qc.config import Settings
from qc.records import Score

if TYPE_CHECKING:
    from warehouse import Warehouse

log = logging.getLogger("callqc.models")


@functools.lru_cache(maxsize=4)
def _cached_artifact(path: str, mtime: float) -> LoadedModel:
    return load_artifact(Path(path))


def loaded(path: Path) -> LoadedModel:
    """An artifact, loaded once per process (reloaded if its weights file changes)."""
    p = Path(path) / "model.safetensors"
    return _cached_artifact(str(Path(path).resolve()), p.stat().st_mtime)


def score_features(model: LoadedModel, store: FeatureStore, call_ids: Sequence[str], batch_size: int = 64
                   ) -> list[Score]:
    """Scores of ``call_ids`` (all must have stored features) by ``model``."""
    from models.train import predict

    prep = prepare(store, list(call_ids), model.config)
    probs = predict(model.model, prep, batch_size=batch_size)
    out = []
    for i, cid in enumerate(call_ids):
        for label, values in model.schema.labels:
            p = probs[label][i]
            out.append(Score(call_id=cid, label=label, model_version=model.version, value=values[int(p.argmax())],
                             probabilities={v: round(float(x), 6) for v, x in zip(values, p)}))
    return out


@dataclass(frozen=True)
class ScoringReport:
    version: str | None  # None: no version promoted, nothing scored
    scores: tuple[Score, ...]
    no_features: tuple[str, ...]  # calls that could not be scored: no stored features


def score_stored_calls(cfg: Settings, call_ids: Sequence[str], wh: Warehouse | None = None,
                       store: FeatureStore | None = None, save: bool = True) -> ScoringReport:
    """Score stored calls with the promoted model and (``save``) upsert the scores into the warehouse.

    Calls without stored features are listed in the report (and logged), not scored."""
    from warehouse import Warehouse

    own = wh is None
    wh = wh or Warehouse.open(cfg)
    try:
        current = wh.promoted_version()
        if current is None:
            return ScoringReport(None, (), ())
        store = store or FeatureStore.for_settings(cfg)
        have = store.available(call_ids)
        missing = tuple(c for c in call_ids if c not in set(have))
        if missing:
            log.warning("%d calls have no stored features and were not scored: %s", len(missing), missing[:5])
        scores = score_features(loaded(Path(current.artifact_uri)), store, have) if have else []
        if save and scores:
            wh.save_scores(scores)
        return ScoringReport(current.version, tuple(scores), missing)
    finally:
        if own:
            wh.close()
