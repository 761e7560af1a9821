"""Inference: stored call features -> one :class:`~qc.records.Score` per label, by the promoted model.

Scoring reads only stored features and cached encoder outputs (see :mod:`qc.call_features`), so it
never reruns ASR; the first time a call is scored its frozen-encoder outputs are computed and cached.
Each score records the model version that made it.

Every turn of a call is scored too (:func:`score_turns`): the model reads the turn as a span of the
call (its words and speech features, the call's images as context; :func:`qc.call_features.restrict`).
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
from pathlib import Path

import numpy as np

from models.data import prepare
from qc.call_features import FeatureStore, span_id
from models.registry import LoadedModel, load_artifact
from qc.records import CallResult, Score, Turn, TurnScore
from qc.rules import RuleSet
from qc.scorecard import with_scores


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


def with_model_scores(result: CallResult, new: Sequence[Score], prior: Sequence[Score], card: RuleSet,
                       turns: Sequence[TurnScore] = ()) -> CallResult:
    """``result`` holding ``new`` (one model version's scores) beside the ``prior`` scores of other
    versions, and ``turns`` (that version's turn scores) in place of earlier ones, with its QA score
    recomputed from ``new`` alone (what the warehouse keeps: scores of every version, the turn scores
    and QA score of the latest scoring)."""
    versions = {s.model_version for s in new}
    kept = [s for s in prior if s.model_version not in versions]
    scored = with_scores(result, new, card)
    return dataclasses.replace(scored, scores=tuple(kept) + tuple(new), turn_scores=tuple(turns))
