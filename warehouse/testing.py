"""Synthetic :class:`qc.records.CallResult` objects for tests and benchmarks (no audio involved).

The same ``seed`` always gives the same result; ``call_id`` is the sha256 of ``"call-{seed}"`` unless
given, as a real call id is the sha256 of the audio.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from datetime import UTC, datetime, timedelta

from qc.records import (
    CallRecord,
    CallResult,
    ConversationMetrics,
    QAScore,
    RuleResult,
    Score,
    Turn,
    TurnScore,
    Word,
)

_VOCAB = [
    "hello",
    "thank",
    "you",
    "for",
    "calling",
    "how",
    "can",
    "i",
    "help",
    "today",
    "account",
    "number",
    "please",
    "one",
    "moment",
    "let",
    "me",
    "check",
    "that",
    "for",
    "you",
    "is",
    "there",
    "anything",
    "else",
    "have",
    "a",
    "great",
    "day",
    "sorry",
    "to",
    "hear",
    "refund",
    "order",
    "delivery",
    "address",
]
# In label order, as Warehouse.load_call returns scores sorted by (label, model version).
LABELS: dict[str, tuple[str, ...]] = {
    "resolution": ("resolved", "unresolved"),
    "sentiment": ("negative", "neutral", "positive"),
}


_TURN_HAS_SENTIMENT = "sentiment" in {f.name for f in dataclasses.fields(Turn)}


def call_id_for(seed: int | str) -> str:
    return hashlib.sha256(f"call-{seed}".encode()).hexdigest()


def dummy_call_result(
    seed: int | str = 0,
    *,
    call_id: str | None = None,
    external_id: str | None = None,
    started_at: datetime | None | bool = True,
    agent_id: str | None = "agent-1",
    queue: str | None = "billing",
    n_turns: int = 20,
    n_words: int = 300,
    model_version: str = "m1",
    qa_passed: bool | None = True,
    failed_rules: int = 0,
    text_suffix: str = "",
) -> CallResult:
    """A plausible stereo call of ``n_turns`` alternating turns and ``n_words`` words.

    ``started_at=True`` picks a date in June 2024 from the seed; ``None``/``False`` leaves it unknown.
    ``qa_passed=None`` stores no QA score. ``failed_rules`` of the three rules fail (the first failure is
    a forbidden phrase with evidence). ``text_suffix`` is appended to every turn's text, to tell two
    versions of one call apart.
    """
    rng = random.Random(str(seed))
    cid = call_id or call_id_for(seed)
    if started_at is True:
        started = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(30), seconds=rng.randrange(86400)
        )
    elif started_at is False:
        started = None
    else:
        started = started_at
    duration = max(1.0, n_turns * 6.0)
    turn_len = duration / max(n_turns, 1)
    turns = []
    for i in range(n_turns):
        agent = i % 2 == 0
        words = " ".join(rng.choice(_VOCAB) for _ in range(5))
        turns.append(
            Turn(
                call_id=cid,
                start=round(i * turn_len, 3),
                end=round((i + 1) * turn_len - 0.25, 3),
                channel=0 if agent else 1,
                speaker="SPEAKER_00" if agent else "SPEAKER_01",
                role="agent" if agent else "customer",
                text=words + text_suffix,
                overlap=rng.random() < 0.1,
                **({"sentiment": round(rng.uniform(-1, 1), 3)} if _TURN_HAS_SENTIMENT and i % 3 else {}),
            )
        )
    word_len = duration / max(n_words, 1)
    words_out = []
    for i in range(n_words):
        turn = turns[min(int(i * word_len / turn_len), n_turns - 1)] if turns else None
        words_out.append(
            Word(
                call_id=cid,
                start=round(i * word_len, 3),
                end=round((i + 0.8) * word_len, 3),
                text=rng.choice(_VOCAB),
                probability=round(rng.uniform(0.5, 1.0), 4),
                channel=turn.channel if turn else 0,
                speaker=turn.speaker if turn else "SPEAKER_00",
                role=turn.role if turn else "unknown",
                overlap=False,
            )
        )
    agent_talk = sum(t.duration for t in turns if t.role == "agent")
    customer_talk = sum(t.duration for t in turns if t.role == "customer")
    metrics = ConversationMetrics(
        call_id=cid,
        duration=duration,
        talk_time_agent=agent_talk,
        talk_time_customer=customer_talk,
        talk_ratio_agent=agent_talk / (agent_talk + customer_talk) if turns else None,
        silence_total=round(rng.uniform(0, 20), 3),
        silence_longest=round(rng.uniform(0, 5), 3),
        silence_count=rng.randrange(5),
        overtalk_time=round(rng.uniform(0, 4), 3),
        overtalk_ratio=round(rng.uniform(0, 0.05), 4),
        interruptions_agent=rng.randrange(4),
        interruptions_customer=rng.randrange(4),
        response_latency_agent=round(rng.uniform(0.2, 2), 3),
        words_per_minute_agent=round(rng.uniform(120, 180), 2),
        turns_agent=(n_turns + 1) // 2,
        turns_customer=n_turns // 2,
        time_to_greeting=0.4,
    )
    rules = []
    for i, rule_id in enumerate(("greeting", "no_profanity", "closing")):
        failed = i < failed_rules
        kind = "forbidden_phrase" if rule_id == "no_profanity" else "required_phrase"
        if failed and i == 0:
            kind = "forbidden_phrase"
        evidence = (
            turns[i % max(len(turns), 1)] if (turns and (failed or kind == "required_phrase")) else None
        )
        rules.append(
            RuleResult(
                call_id=cid,
                rule_id=rule_id,
                kind=kind,
                passed=not failed,
                points_lost=10.0 if failed else 0.0,
                evidence_text=evidence.text if evidence else None,
                evidence_start=evidence.start if evidence else None,
                evidence_end=evidence.end if evidence else None,
                detail=("matched" if evidence else "not found") + (" (failed)" if failed else ""),
            )
        )
    scores = []
    for label, values in LABELS.items():
        weights = [rng.random() + 0.01 for _ in values]
        total = sum(weights)
        probs = {v: round(w / total, 6) for v, w in zip(values, weights, strict=True)}
        scores.append(
            Score(
                call_id=cid,
                label=label,
                model_version=model_version,
                value=max(probs, key=probs.__getitem__),
                probabilities=probs,
            )
        )
    turn_scores = []
    for k, t in enumerate(turns[:3]):  # a few turns' scores, by the same model version
        for label, values in LABELS.items():
            weights = [rng.random() + 0.01 for _ in values]
            probs = {v: round(w / sum(weights), 6) for v, w in zip(values, weights, strict=True)}
            turn_scores.append(TurnScore(call_id=cid, turn=k, start=t.start, end=t.end, role=t.role, label=label,
                                         model_version=model_version, value=max(probs, key=probs.__getitem__),
                                         probabilities=probs))
    qa = None
    if qa_passed is not None:
        lost = 10.0 * failed_rules
        qa = QAScore(
            call_id=cid,
            score=(90.0 if qa_passed else 55.0) - lost,
            passed=qa_passed,
            breakdown={r.rule_id: r.points_lost for r in rules if not r.passed},
        )
    record = CallRecord(
        call_id=cid,
        external_id=external_id or f"EXT-{seed}",
        source_path=f"/inbox/{seed}.wav",
        duration=duration,
        layout="stereo",
        channels=2,
        sample_rate=8000,
        agent_id=agent_id,
        queue=queue,
        started_at=started,
        agent_channel=0,
        role_confidence=0.9,
        role_strategy="greeting",
    )
    return CallResult(
        call=record,
        turns=tuple(turns),
        words=tuple(words_out),
        metrics=metrics,
        rule_results=tuple(rules),
        scores=tuple(scores),
        qa=qa,
        timings={"asr": 1.5, "diarize": 0.25},
        turn_scores=tuple(turn_scores),
    )
