"""The application services that join the classifier with the warehouse: scoring a freshly analysed
call, scoring stored calls again (``callqc rescore``), registering a trained artifact and promoting it
when it beats the promoted version. :mod:`models` computes; this module reads and writes the warehouse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qc.call_features import FeatureStore
from models.registry import META, Comparison, LoadedModel, compare, load_artifact
from models.score import loaded, score_call, with_model_scores
from qc.config import Settings
from qc.records import CallResult, Score
from qc.rules import RuleSet
from warehouse import Warehouse
from warehouse.store import ModelVersion

log = logging.getLogger("callqc.flows")


@dataclass(frozen=True)
class ScoringReport:
    version: str | None  # None: no version promoted, nothing scored
    scores: tuple[Score, ...]
    no_features: tuple[str, ...]  # calls that could not be scored: no stored features


def agents_of(wh: Warehouse, agent_ids: Sequence[str] | None = None) -> dict[str, str]:
    """call id -> agent of every stored call (of ``agent_ids`` only, where given)."""
    from warehouse import queries

    if agent_ids is None:
        frame = queries.calls(wh)
    else:
        import pandas as pd

        frame = (pd.concat([queries.calls(wh, queries.CallFilter(agent_id=a)) for a in agent_ids]) if agent_ids
                 else queries.calls(wh))
    return {str(c): str(a) for c, a in zip(frame["call_id"], frame["agent_id"]) if a}


def score_stored_calls(cfg: Settings, call_ids: Sequence[str], wh: Warehouse | None = None,
                       store: FeatureStore | None = None, save: bool = True) -> ScoringReport:
    """Score stored calls with the promoted model and (``save``) upsert the call scores into the
    warehouse (:func:`rescore` stores the turn scores and QA scores too).

    Calls without stored features are listed in the report (and logged), not scored."""
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
        model, agents = loaded(Path(current.artifact_uri)), agents_of(wh)
        scores = [sc for c in have for sc in score_call(model, store, wh.load_call(c), agents=agents)[0]]
        if save and scores:
            wh.save_scores(scores)
        return ScoringReport(current.version, tuple(scores), missing)
    finally:
        if own:
            wh.close()


def score_new_call(cfg: Settings, wh: Warehouse, result: CallResult, store: FeatureStore, card: RuleSet
                   ) -> tuple[CallResult, str | None]:
    """A freshly analysed call (its features already in ``store``) scored by the promoted model, its QA
    score recomputed with the model items, and the version that scored it; unchanged (and None) when no
    version is promoted. Scores an earlier run stored for other versions are kept (they stay in SQL, so
    Parquet keeps them too)."""
    current = wh.promoted_version()
    if current is None:
        return result, None
    agents = agents_of(wh, [result.call.agent_id]) if result.call.agent_id else None
    new, turns = score_call(loaded(Path(current.artifact_uri)), store, result, agents=agents)
    return with_model_scores(result, new, wh.call_scores(result.call_id), card, turns), current.version


@dataclass(frozen=True)
class RescoreReport:
    version: str
    rescored: tuple[str, ...]
    no_features: tuple[str, ...]  # stored calls without features (analysed before features were kept)
    stale_rules: tuple[str, ...]  # analysed under another rules file: reprocess them to rescore
    skipped: tuple[str, ...] = ()  # already scored by ``version`` (``missing_only``)
    no_speech: tuple[str, ...] = ()  # features stored before the speech features: scored without them

    def describe(self) -> str:
        parts = [f"rescored {len(self.rescored)} calls with model {self.version}"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already scored by it")
        if self.no_features:
            parts.append(f"{len(self.no_features)} without stored features (`callqc features backfill`)")
        if self.no_speech:
            parts.append(f"{len(self.no_speech)} with features older than the model's speech features "
                         "(`callqc features backfill`)")
        if self.stale_rules:
            parts.append(f"{len(self.stale_rules)} analysed under another rules file (reprocess them)")
        return "; ".join(parts)


def rescore(cfg: Settings, wh: Warehouse, call_ids: Sequence[str] | None = None, *,
            date_from: date | None = None, date_to: date | None = None, missing_only: bool = False,
            batch_size: int = 256, store: FeatureStore | None = None) -> RescoreReport:
    """Score stored calls again from their stored features with the promoted model, without decoding or
    transcribing anything, and store the scores and recomputed QA scores in Parquet and SQL.

    ``call_ids`` (default: every stored call dated ``date_from``..``date_to``); ``missing_only`` skips
    calls the promoted version has already scored. Each batch is written to Parquet first, then to SQL
    in one transaction, so a crash leaves nothing half-stored and a rerun finishes the job. Raises
    ``LookupError`` when no model version is promoted."""
    from qc.rules import load_rules
    from warehouse import parquet

    current = wh.promoted_version()
    if current is None:
        raise LookupError("no model version is promoted: train one (`callqc train`) or promote one "
                          "(`callqc models promote VERSION`)")
    model = loaded(Path(current.artifact_uri))
    card = load_rules(cfg.rules_file)
    store = store or FeatureStore.for_settings(cfg)
    ids = list(call_ids) if call_ids is not None else wh.call_ids(date_from, date_to)
    rescored: list[str] = []
    skipped: list[str] = []
    stale: list[str] = []
    have = store.available(ids)
    have_set = set(have)
    agents = agents_of(wh)
    no_speech = tuple(c for c in have if model.config.image.speech_dim and not store.has_speech(c))
    if no_speech:
        log.warning("%d calls have stored features without speech features: the model reads them as "
                    "unmeasured; compute them with `callqc features backfill`", len(no_speech))
    missing = [c for c in ids if c not in have_set]
    for i in range(0, len(have), batch_size):
        chunk = have[i:i + batch_size]
        results = [wh.load_call(c) for c in chunk]
        if missing_only:
            done = {r.call_id for r in results if any(s.model_version == current.version for s in r.scores)}
            skipped += [c for c in chunk if c in done]
            results = [r for r in results if r.call_id not in done]
        if not results:
            continue
        updated = []
        for r in results:
            new, turns = score_call(model, store, r, agents=agents)
            try:
                updated.append(with_model_scores(r, new, r.scores, card, turns))
            except ValueError:  # a rule of today's card has no stored result: the call needs reprocessing
                stale.append(r.call_id)
        parquet.write_calls(updated, cfg.parquet_dir)
        wh.save_scoring(updated)
        rescored += [r.call_id for r in updated]
    if missing:
        log.warning("%d stored calls have no features and were not rescored: %s", len(missing), missing[:5])
    if rescored:
        parquet.compact(cfg.parquet_dir)
    return RescoreReport(current.version, tuple(rescored), tuple(missing), tuple(stale), tuple(skipped), no_speech)


def register(wh: Warehouse, artifact: Path) -> ModelVersion:
    """Record an artifact in the warehouse's ``model_versions`` (not promoted)."""
    meta = json.loads((Path(artifact) / META).read_text())
    markdown = (Path(artifact) / "report.md").read_text() if (Path(artifact) / "report.md").exists() else None
    return wh.register_model_version(meta["version"], str(Path(artifact).resolve()), meta["label_schema"],
                                     meta["metrics"], meta["split"]["test"], markdown)


def compare_with_promoted(wh: Warehouse, store: FeatureStore, candidate: LoadedModel,
                          rows: list[tuple[str, str, str]], min_gain: float = 0.0) -> Comparison:
    """:func:`models.registry.compare` of ``candidate`` with the promoted version, if any."""
    current = wh.promoted_version()
    old = load_artifact(Path(current.artifact_uri)) if current is not None else None
    return compare(candidate, old, store, rows, agents_of(wh), min_gain)


def promote_if_better(wh: Warehouse, store: FeatureStore, artifact: Path, rows: list[tuple[str, str, str]],
                      min_gain: float = 0.0) -> Comparison:
    """Promote the registered ``artifact`` if it beats the promoted version on its test split."""
    cand = load_artifact(artifact)
    cmp = compare_with_promoted(wh, store, cand, rows, min_gain)
    if cmp.better:
        wh.promote(cand.version)
    return cmp
