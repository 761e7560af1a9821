"""Inference: stored call features -> one :class:`~qc.records.Score` per label, by the promoted model.

Scoring reads only stored features and cached encoder outputs (see :mod:`models.features`), so it
never reruns ASR; the first time a call is scored its frozen-encoder outputs are computed and cached.
Each score records the model version that made it.

Every turn of a call is scored too (:func:`score_turns`): the model reads the turn as a span of the
call (its words and speech features, the call's images as context; :func:`models.features.restrict`).
A label the model learned from labelled spans only (utterances: ``turn_labels`` in the artifact) gets
its call score from its turns (:func:`aggregate_turns`: the duration-weighted mean of their
probabilities); any other label is scored on the whole call.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.data import prepare
from models.features import FeatureStore, span_id
from models.registry import LoadedModel, load_artifact
from qc.config import Settings
from qc.records import CallResult, Score, Turn, TurnScore
from qc.rules import RuleSet
from qc.scorecard import with_scores

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


def score_features(model: LoadedModel, store: FeatureStore, call_ids: Sequence[str], batch_size: int = 1,
                   agents: Mapping[str, str] | None = None) -> list[Score]:
    """Scores of ``call_ids`` (all must have stored features) by ``model``. ``agents``: call id ->
    agent of the stored calls each agent's speech baseline is drawn from (see
    :func:`models.data.agent_stats`); without it every agent is measured against all agents.

    One call per forward pass by default: a batch's matrix products round differently from one call's,
    and a stored probability (6 decimals) would then depend on which calls were scored together (the
    nightly run scores each call alone, ``rescore`` many at once)."""
    from models.train import predict

    prep = prepare(store, list(call_ids), model.config, agents=agents)
    probs = predict(model.model, prep, batch_size=batch_size)
    out = []
    for i, cid in enumerate(call_ids):
        for label, values in model.schema.labels:
            p = probs[label][i]
            out.append(Score(call_id=cid, label=label, model_version=model.version, value=values[int(p.argmax())],
                             probabilities={v: round(float(x), 6) for v, x in zip(values, p)}))
    return out


MIN_TURN_SECONDS = 0.2  # shorter turns (a click, a breath) carry too little to score


def score_turns(model: LoadedModel, store: FeatureStore, call_id: str, turns: Sequence[Turn],
                agents: Mapping[str, str] | None = None) -> list[TurnScore]:
    """Per-turn scores of a call with stored features: each turn of ``turns`` (the call's stored
    turns, in order; ``TurnScore.turn`` is the index) at least :data:`MIN_TURN_SECONDS` long, read
    as a span of the call, every label. One forward pass per call (the same whatever is scored with it)."""
    from models.train import predict

    picked = [(k, t) for k, t in enumerate(turns) if t.end - t.start >= MIN_TURN_SECONDS]
    if not picked:
        return []
    ids = [span_id(call_id, t.start, t.end) for _, t in picked]
    prep = prepare(store, ids, model.config, write_cache=False, agents=agents)
    probs = predict(model.model, prep, batch_size=len(ids))
    out = []
    for i, (k, t) in enumerate(picked):
        for label, values in model.schema.labels:
            p = probs[label][i]
            out.append(TurnScore(call_id=call_id, turn=k, start=t.start, end=t.end, role=t.role, label=label,
                                 model_version=model.version, value=values[int(p.argmax())],
                                 probabilities={v: round(float(x), 6) for v, x in zip(values, p)}))
    return out


def turn_labels(model: LoadedModel) -> tuple[str, ...]:
    """The labels the model learned from labelled spans only: their call scores aggregate the turns'."""
    return tuple(model.meta.get("turn_labels", ()))


def aggregate_turns(model: LoadedModel, scores: Sequence[Score], turns: Sequence[TurnScore]) -> list[Score]:
    """``scores`` (one call's) with each of the model's :func:`turn_labels` scored as the
    duration-weighted mean of its turns' probabilities (kept as they are where no turn was scored)."""
    only = set(turn_labels(model))
    out = []
    for s in scores:
        mine = [t for t in turns if t.label == s.label]
        if s.label not in only or not mine:
            out.append(s)
            continue
        values = model.schema.values(s.label)
        w = np.array([max(t.end - t.start, 1e-3) for t in mine])
        p = np.array([[t.probabilities.get(v, 0.0) for v in values] for t in mine])
        mean = (w[:, None] * p).sum(0) / w.sum()
        out.append(Score(call_id=s.call_id, label=s.label, model_version=s.model_version,
                         value=values[int(mean.argmax())],
                         probabilities={v: round(float(x), 6) for v, x in zip(values, mean)}))
    return out


def score_call(model: LoadedModel, store: FeatureStore, result: CallResult,
               agents: Mapping[str, str] | None = None) -> tuple[list[Score], list[TurnScore]]:
    """A stored call's scores and its turns' scores by ``model`` (see :func:`aggregate_turns`)."""
    scores = score_features(model, store, [result.call_id], agents=agents)
    turns = score_turns(model, store, result.call_id, result.turns, agents=agents)
    return aggregate_turns(model, scores, turns), turns


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

        frame = pd.concat([queries.calls(wh, agent_id=a) for a in agent_ids]) if agent_ids else queries.calls(wh)
    return {str(c): str(a) for c, a in zip(frame["call_id"], frame["agent_id"]) if a}


def score_stored_calls(cfg: Settings, call_ids: Sequence[str], wh: Warehouse | None = None,
                       store: FeatureStore | None = None, save: bool = True) -> ScoringReport:
    """Score stored calls with the promoted model and (``save``) upsert the call scores into the
    warehouse (:func:`rescore` stores the turn scores and QA scores too).

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
        model, agents = loaded(Path(current.artifact_uri)), agents_of(wh)
        scores = [sc for c in have for sc in score_call(model, store, wh.load_call(c), agents=agents)[0]]
        if save and scores:
            wh.save_scores(scores)
        return ScoringReport(current.version, tuple(scores), missing)
    finally:
        if own:
            wh.close()


def _with_model_scores(result: CallResult, new: Sequence[Score], prior: Sequence[Score], card: RuleSet,
                       turns: Sequence[TurnScore] = ()) -> CallResult:
    """``result`` holding ``new`` (one model version's scores) beside the ``prior`` scores of other
    versions, and ``turns`` (that version's turn scores) in place of earlier ones, with its QA score
    recomputed from ``new`` alone (what the warehouse keeps: scores of every version, the turn scores
    and QA score of the latest scoring)."""
    versions = {s.model_version for s in new}
    kept = [s for s in prior if s.model_version not in versions]
    scored = with_scores(result, new, card)
    return dataclasses.replace(scored, scores=tuple(kept) + tuple(new), turn_scores=tuple(turns))


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
    return _with_model_scores(result, new, wh.call_scores(result.call_id), card, turns), current.version


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
                updated.append(_with_model_scores(r, new, r.scores, card, turns))
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
