"""What a synthetic call really contains: turns, compliance items, PII, overtalk and silences, with
their times, written as ``transcripts/<call_id>.json`` and ``rttm/<call_id>.rttm``.

Times are seconds from the call start, rounded to milliseconds. Turn spans are the audible speech of
the turn's first and last sentence (within 40 dB of the sentence's peak and above the call's line
noise: :func:`qc.synth.render.audible_span`); a pause between sentences of one turn stays inside the
turn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from qc.synth.render import RATE, RenderedCall
from qc.synth.scenario import Scenario
from qc.synth.script import ScriptTurn
from qc.synth.voices import espeak_args, flite_args

SILENCE_MIN = 1.0  # silences at least this long are listed


def _r(t: float) -> float:
    return round(float(t), 3)


@dataclass(frozen=True)
class TurnTruth:
    index: int
    speaker: str  # agent | customer (also the RTTM speaker name)
    role: str
    channel: int  # where the speaker is heard: the agent/customer channel in stereo, 0 in mono
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Span:
    start: float
    end: float


@dataclass(frozen=True)
class Overlap:
    start: float
    end: float
    interrupter: str
    interrupted: str


@dataclass(frozen=True)
class PiiTruth:
    type: str  # card_number | phone_number | email | person_name
    value: str  # digits, address or name
    spoken: str  # the words as said
    owner: str  # whose data: customer
    turn: int
    start: float  # the turn's span
    end: float
    sentence_start: float  # the sentence's span (tighter, for audio redaction)
    sentence_end: float


@dataclass(frozen=True)
class ComplianceItem:
    present: bool
    start: float | None = None
    end: float | None = None
    text: str | None = None
    detail: str | None = None  # disclosure: "early" | "late"; verification: the kind


@dataclass(frozen=True)
class ForbiddenHit:
    phrase: str
    turn: int
    start: float  # the sentence's span
    end: float


@dataclass(frozen=True)
class CallTruth:
    call_id: str
    layout: str
    agent_channel: int | None
    duration: float
    sample_rate: int
    turns: tuple[TurnTruth, ...]
    scenario: dict[str, Any]
    pii: tuple[PiiTruth, ...]
    silences: tuple[Span, ...]
    overlaps: tuple[Overlap, ...]
    compliance: dict[str, ComplianceItem]
    forbidden_phrases: tuple[ForbiddenHit, ...]

    def to_json(self) -> dict[str, Any]:
        """The transcript document (plain JSON types, fixed key order)."""
        doc = dataclasses.asdict(self)
        doc["compliance"] = {k: dataclasses.asdict(v) for k, v in self.compliance.items()}
        return doc

    def rttm(self) -> str:
        return "".join(f"SPEAKER {self.call_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                       for t in self.turns)

    def labels(self) -> dict[str, str]:
        return {k: self.scenario[k] for k in ("customer_emotion", "agent_politeness", "resolution")}


def _voice_doc(scenario: Scenario, role: str) -> dict[str, Any]:
    voice = scenario.agent_voice if role == "agent" else scenario.customer_voice
    return {"id": voice.id, "engine": voice.engine, "voice": voice.espeak_name, "gender": voice.gender}


def _prosody_doc(scenario: Scenario, role: str) -> dict[str, Any]:
    voice, style = ((scenario.agent_voice, scenario.agent_style) if role == "agent"
                    else (scenario.customer_voice, scenario.customer_style))
    if voice.engine == "flite":
        args = flite_args(voice, style)
        feats = dict(a.split("=") for a in args[3::2])
        return {"style": style.name, "duration_stretch": float(feats["duration_stretch"]),
                "f0_mean_hz": float(feats["int_f0_target_mean"]),
                "f0_stddev_hz": float(feats["int_f0_target_stddev"]), "range": style.range,
                "gain_db": style.gain_db, "gap_scale": style.gap_scale}
    args = espeak_args(voice, style)
    return {"style": style.name, "speed_wpm": int(args[args.index("-s") + 1]),
            "pitch": int(args[args.index("-p") + 1]), "range": style.range, "gain_db": style.gain_db,
            "gap_scale": style.gap_scale, "word_gap": style.word_gap}


def scenario_doc(s: Scenario) -> dict[str, Any]:
    return {
        "agent_id": s.agent_id, "queue": s.queue, "topic": s.topic, "started_at": s.started_at.isoformat(),
        "company": s.company, "agent_name": s.agent_name,
        "greeting": s.greeting, "disclosure": s.disclosure, "disclosure_late": s.disclosure_late,
        "verification": s.verification is not None, "verification_kind": s.verification, "closing": s.closing,
        "customer_emotion": s.customer_emotion, "emotion_cue": s.emotion_cue,
        "agent_politeness": s.agent_politeness, "politeness_cue": s.politeness_cue,
        "resolution": s.resolution,
        "pii_card_number": s.pii.card_number is not None, "pii_phone_number": s.pii.phone_number is not None,
        "pii_email": s.pii.email is not None,
        "hold": s.hold_seconds is not None, "hold_seconds": None if s.hold_seconds is None else _r(s.hold_seconds),
        "interruptions_planned": s.interruptions,
        "voices": {"agent": _voice_doc(s, "agent"), "customer": _voice_doc(s, "customer")},
        "prosody": {"agent": _prosody_doc(s, "agent"), "customer": _prosody_doc(s, "customer")},
        "speaker_gain_db": {"agent": _r(s.speaker_gain_db[0]), "customer": _r(s.speaker_gain_db[1])},
        "snr_db": _r(s.snr_db), "leakage_db": None if s.leakage_db is None else _r(s.leakage_db),
    }


def _silences(turns: tuple[TurnTruth, ...], duration: float) -> tuple[Span, ...]:
    out, covered = [], 0.0
    for t in sorted(turns, key=lambda t: t.start):
        if t.start - covered >= SILENCE_MIN:
            out.append(Span(_r(covered), _r(t.start)))
        covered = max(covered, t.end)
    if duration - covered >= SILENCE_MIN:
        out.append(Span(_r(covered), _r(duration)))
    return tuple(out)


def _overlaps(turns: tuple[TurnTruth, ...]) -> tuple[Overlap, ...]:
    out = []
    ordered = sorted(turns, key=lambda t: t.start)
    for k, later in enumerate(ordered):
        for earlier in ordered[:k]:
            if earlier.speaker != later.speaker and earlier.end > later.start:
                out.append(Overlap(later.start, min(earlier.end, later.end), later.speaker, earlier.speaker))
    return tuple(out)


def build_truth(scenario: Scenario, script: tuple[ScriptTurn, ...], call: RenderedCall) -> CallTruth:
    """The truth document of a rendered call."""
    def channel(speaker: str) -> int:
        if scenario.agent_channel is None:
            return 0
        return scenario.agent_channel if speaker == "agent" else 1 - scenario.agent_channel

    turns = tuple(TurnTruth(p.index, p.speaker, p.speaker, channel(p.speaker), _r(p.start), _r(p.end),
                            script[p.index].text) for p in call.turns)
    pii, forbidden = [], []
    tagged: dict[str, list[tuple[int, int]]] = {}
    for p in call.turns:
        for j, sentence in enumerate(script[p.index].sentences):
            a, b = p.sentence_spans[j]
            for tag in sentence.tags:
                tagged.setdefault(tag, []).append((p.index, j))
            for m in sentence.pii:
                pii.append(PiiTruth(m.type, m.value, m.spoken, m.owner, p.index, _r(p.start), _r(p.end),
                                    _r(a), _r(b)))
            for phrase in sentence.forbidden:
                forbidden.append(ForbiddenHit(phrase, p.index, _r(a), _r(b)))

    def span(first: tuple[int, int], last: tuple[int, int]) -> tuple[float, float]:
        return (_r(call.turns[first[0]].sentence_spans[first[1]][0]),
                _r(call.turns[last[0]].sentence_spans[last[1]][1]))

    def item(tag: str, until: str | None = None, detail: str | None = None) -> ComplianceItem:
        if tag not in tagged:
            return ComplianceItem(False, detail=detail)
        first = tagged[tag][0]
        last = tagged[until][-1] if until and until in tagged else first
        start, end = span(first, last)
        text = " ".join(script[k].sentences[j].text for k, j in tagged[tag][:1] + (tagged.get(until, [])[-1:]
                                                                                  if until else []))
        return ComplianceItem(True, start, end, text, detail)

    compliance = {
        "greeting": item("greeting"),
        "disclosure": item("disclosure", detail=("late" if scenario.disclosure_late else "early")
                           if scenario.disclosure else None),
        "verification": item("verification", "verification_answer", scenario.verification),
        "closing": item("closing", "farewell"),
    }
    return CallTruth(
        call_id=scenario.call_id, layout=scenario.layout, agent_channel=scenario.agent_channel,
        duration=call.duration, sample_rate=RATE, turns=turns, scenario=scenario_doc(scenario),
        pii=tuple(pii), silences=_silences(turns, call.duration), overlaps=_overlaps(turns),
        compliance=compliance, forbidden_phrases=tuple(forbidden),
    )
