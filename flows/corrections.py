"""Corrections an analyst makes to a stored call, applied from what is stored: no decoding, no ASR.

``swap_roles``: the agent and the customer swapped on every turn and word (and the stereo agent
channel), the role-dependent metrics, the rule results, the QA score, the classifier's features (each
role's images, prosody and speech features change places) and the promoted model's scores computed
again, and everything stored as one correction run whose ``pipeline_runs`` row says who did it and when
(the call's ``run_id`` points at it; its ``role_strategy`` becomes ``corrected by hand``).

``keep_correction``: a corrected call analysed again (``callqc run --reprocess``) keeps the roles the
analyst set, whatever the new analysis decided.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qc.config import Settings
from qc.conversation import measure
from qc.records import CallResult, ConversationMetrics, Turn
from qc.rules import evaluate_rules, load_rules
from qc.scorecard import score_call

SWAP = {"agent": "customer", "customer": "agent"}
CORRECTED = "corrected by hand"
# what does not depend on who is who: kept as measured from the audio (hold and tones are found there)
ROLE_FREE_METRICS = ("duration", "silence_total", "silence_longest", "silence_count", "overtalk_time",
                     "overtalk_ratio", "hold_time", "hold_count", "tone_time", "prompt_time")


def swapped_features(f):
    """A call's classifier features (:class:`qc.call_features.CallFeatures`) with the two roles' parts
    exchanged."""
    def flip_roles(roles: np.ndarray) -> np.ndarray:
        roles = np.asarray(roles)
        out = roles.copy()
        out[roles == 0], out[roles == 1] = 1, 0
        return out

    speech = f.speech if f.speech is None else dataclasses.replace(f.speech, roles=flip_roles(f.speech.roles))
    return dataclasses.replace(f, images=np.asarray(f.images)[::-1].copy(), present=np.asarray(f.present)[::-1].copy(),
                               turn_roles=flip_roles(f.turn_roles), prosody=np.asarray(f.prosody)[::-1].copy(),
                               speech=speech)


def swapped(result: CallResult, cfg: Settings) -> CallResult:
    """``result`` with agent and customer swapped, its metrics, rule results and QA score recomputed
    (without model scores: see :func:`swap_roles`)."""
    turns = tuple(dataclasses.replace(t, role=SWAP.get(t.role, t.role)) for t in result.turns)
    words = tuple(dataclasses.replace(w, role=SWAP.get(w.role, w.role)) for w in result.words)
    c = result.call
    call = dataclasses.replace(c, agent_channel=None if c.agent_channel is None else 1 - c.agent_channel,
                               role_strategy=CORRECTED, role_confidence=1.0)
    fresh = measure(c.call_id, c.duration, turns, words, cfg.silence_threshold)
    metrics = dataclasses.replace(fresh, **{k: getattr(result.metrics, k) for k in ROLE_FREE_METRICS})
    card = load_rules(cfg.rules_file)
    rules = evaluate_rules(card, c.call_id, turns, words, metrics)  # the stored words are redacted already
    return dataclasses.replace(result, call=call, turns=turns, words=words, metrics=metrics,
                               rule_results=tuple(rules), qa=score_call(rules, [], card, call_id=c.call_id),
                               scores=(), turn_scores=())


def role_agreement(turns: Sequence[Turn], corrected: Sequence[Turn]) -> float:
    """Seconds of talk on which ``turns`` give the same role as the ``corrected`` turns of the same call,
    less the seconds on which they give the other role (same channel only; unknown roles count for
    neither)."""
    score = 0.0
    for t in turns:
        if t.role not in SWAP:
            continue
        for c in corrected:
            if c.role in SWAP and c.channel == t.channel:
                overlap = min(t.end, c.end) - max(t.start, c.start)
                if overlap > 0:
                    score += overlap if c.role == t.role else -overlap
    return score


def keep_correction(result: CallResult, features, corrected: Sequence[Turn], cfg: Settings):  # type: ignore[no-untyped-def]
    """A call analysed again after an analyst corrected its roles (``corrected``: its turns as stored
    then): the new analysis with the analyst's roles. Where the new roles disagree with them over more
    talk than they agree, agent and customer are swapped (metrics, rules, QA score and the classifier's
    features follow); either way the roles stay marked as corrected by hand. Returns ``(result,
    features, swapped)``."""
    flip = role_agreement(result.turns, corrected) < 0
    if flip:
        result = dataclasses.replace(swapped(result, cfg), timings=result.timings, agent_voice=None)
        features = None if features is None else swapped_features(features)
    else:
        result = dataclasses.replace(result, call=dataclasses.replace(result.call, role_strategy=CORRECTED,
                                                                      role_confidence=1.0))
    return result, features, flip


def swap_roles(cfg: Settings, call_id: str, who: str) -> CallResult:
    """Swap a stored call's roles, recompute what depends on them, store it; returns the stored call.
    Raises ``KeyError`` for an unknown call."""
    from flows.version import code_version
    from qc.call_features import FeatureStore
    from models.score import with_model_scores, loaded, score_call as model_scores
    from flows.scoring import agents_of
    from warehouse import Warehouse, parquet

    t0 = time.perf_counter()
    with Warehouse.open(cfg) as wh:
        result = swapped(wh.load_call(call_id), cfg)
        store = FeatureStore.for_settings(cfg)
        if store.has(call_id):
            store.save(swapped_features(store.load(call_id)))
            current = wh.promoted_version()
            if current is not None:
                agents = agents_of(wh, [result.call.agent_id]) if result.call.agent_id else None
                new, turns = model_scores(loaded(Path(current.artifact_uri)), store, result, agents=agents)
                # scores of other versions read the old roles: only the promoted version's are kept
                result = with_model_scores(result, new, (), load_rules(cfg.rules_file), turns)
        run_id = wh.start_run({"correction": "swap_roles", "call_id": call_id, "who": who}, code_version())
        enrolled = _enrol_confirmed_agent(cfg, wh, result)
        parquet.write_call(result, cfg.parquet_dir, durable=True)
        wh.save_call(result, run_id)
        wh.finish_run(run_id, processed=1, rejected=0, skipped=0, audio_seconds=result.call.duration,
                      processing_seconds=time.perf_counter() - t0,
                      mean_qa_score=result.qa.score if result.qa else None,
                      flagged=int(bool(result.qa and not result.qa.passed)),
                      report_markdown=f"# roles swapped by {who}\n\ncall `{result.call.external_id}` "
                                      f"({call_id}): agent and customer swapped, metrics, rules, QA score and "
                                      "model scores recomputed from stored data"
                                      + ("; the agent's voiceprint enrolled from it" if enrolled else ""))
    return result


def metric_changes(before: ConversationMetrics, after: ConversationMetrics) -> dict[str, tuple[object, object]]:
    """The metrics a correction changed: name -> (before, after)."""
    return {f.name: (getattr(before, f.name), getattr(after, f.name)) for f in dataclasses.fields(before)
            if getattr(before, f.name) != getattr(after, f.name)}


def _enrol_confirmed_agent(cfg: Settings, wh, result: CallResult) -> bool:
    """Roles an analyst confirmed are the best enrolment there is: the agent's voice from the call's
    audio (read again for this alone, where the file is still there) joins their voiceprint."""
    from qc.audio import content_hash, load_recording
    from qc.diarize.embedded import load_encoder, torch_device
    from qc.records import BadRecording, CallMeta
    from qc.voiceprint import speaker_embeddings

    c = result.call
    if not (cfg.voiceprints and c.agent_id and Path(c.source_path).is_file()):
        return False
    if content_hash(Path(c.source_path)) != c.call_id:
        return False  # the file changed since the call was analysed
    try:
        rec = load_recording(CallMeta(external_id=c.external_id, path=Path(c.source_path)), cfg, call_id=c.call_id)
    except BadRecording:
        return False
    try:
        agent = [t for t in result.turns if t.role == "agent"]
        voices = speaker_embeddings(rec, agent, load_encoder(cfg.embedding_model, torch_device()))
    finally:
        rec.close()
    if len(voices) != 1:
        return False
    voice, seconds = next(iter(voices.values()))
    try:  # the voice this call gave before the correction was the other party's
        wh.unenrol_voice(c.agent_id, c.call_id)
    except ValueError as exc:
        logging.getLogger("callqc").warning("call %s: %s", c.call_id, exc)
        return False
    return wh.enrol_voice(c.agent_id, c.call_id, voice, seconds)
