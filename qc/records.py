"""Typed records passed between the stages of the pipeline.

Times are seconds (float) from the start of the call. Every turn and word carries the channel it was
heard on (0 for mono calls). Records are frozen: a stage that refines a record returns a new one
(:func:`dataclasses.replace`). Derived values are properties, not fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TYPE_CHECKING, Literal

Layout = Literal["stereo", "mono"]
Role = Literal["agent", "customer", "unknown"]
ROLES: tuple[Role, ...] = ("agent", "customer")


if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TurnFeatures:
    """Per-turn speech features of one call, aligned with its turns. ``spans``: (n, 2) start and end
    (s); ``roles``: index into :data:`qc.records.ROLES` per turn (-1: unknown); ``whisper``: (n, 2 *
    width) float16; ``egemaps``: (n, :data:`qc.features.EGEMAPS_DIM`) float32; ``mfcc``: (n, :data:`qc.features.MFCC_DIM`)
    float32. NaN where a turn could not be measured."""

    spans: np.ndarray
    roles: np.ndarray
    whisper: np.ndarray
    egemaps: np.ndarray
    mfcc: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)


class BadRecording(ValueError):
    """A file that cannot be processed as a call. ``reason`` is stored with the rejection."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallMeta:
    """What the inbox says about one audio file (from ``calls.csv`` or the file name alone)."""

    external_id: str
    path: Path
    agent_id: str | None = None
    queue: str | None = None
    started_at: datetime | None = None
    layout: Layout | None = None  # None: decided from the audio (channel count)
    agent_channel: int | None = None  # stereo only: which channel carries the agent


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker."""

    call_id: str
    start: float
    end: float
    channel: int
    speaker: str
    role: Role = "unknown"
    text: str = ""
    overlap: bool = False  # some other speaker talks during part of this turn
    sentiment: float | None = None  # -1 (negative) .. +1 (positive), from the turn's words

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span, confidence and speaker."""

    call_id: str
    start: float
    end: float
    text: str
    probability: float
    channel: int
    speaker: str
    role: Role = "unknown"
    overlap: bool = False  # spoken while another speaker was talking

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def midpoint(self) -> float:
        return 0.5 * (self.start + self.end)


@dataclass(frozen=True)
class RoleAssignment:
    """Which speaker label plays which role, and how sure we are (0..1)."""

    speakers: dict[str, Role]
    confidence: float
    strategy: str
    doubt: str = ""  # evidence against the assignment that could not settle it (a quality flag)

    def role_of(self, speaker: str) -> Role:
        return self.speakers.get(speaker, "unknown")


@dataclass(frozen=True)
class ConversationMetrics:
    """Per-call conversation measurements. ``*_agent``/``*_customer`` are per role."""

    call_id: str
    duration: float
    talk_time_agent: float = 0.0
    talk_time_customer: float = 0.0
    talk_ratio_agent: float | None = None  # agent talk / (agent + customer talk)
    silence_total: float = 0.0  # time nobody speaks (hold and key tones not counted)
    silence_longest: float = 0.0
    silence_count: int = 0  # silences at least `silence_threshold` long
    overtalk_time: float = 0.0
    overtalk_ratio: float = 0.0  # overtalk time / call duration
    interruptions_agent: int = 0  # times the agent interrupted the customer
    interruptions_customer: int = 0
    response_latency_agent: float | None = None  # mean gap before an agent turn answering the customer
    response_latency_customer: float | None = None
    words_per_minute_agent: float | None = None
    words_per_minute_customer: float | None = None
    turns_agent: int = 0
    turns_customer: int = 0
    time_to_greeting: float | None = None
    sentiment_agent_start: float | None = None
    sentiment_agent_end: float | None = None
    sentiment_customer_start: float | None = None
    sentiment_customer_end: float | None = None
    hold_time: float = 0.0  # sustained sound without speech (hold music, a prompt loop): the caller on hold
    hold_count: int = 0
    tone_time: float = 0.0  # DTMF key tones
    prompt_time: float = 0.0  # recorded prompts an IVR or a queue played (qc.prompts): nobody's talk

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


@dataclass(frozen=True)
class RuleResult:
    """One compliance rule evaluated on one call, with its evidence."""

    call_id: str
    rule_id: str
    kind: str  # required_phrase | forbidden_phrase | metric
    passed: bool
    points_lost: float = 0.0
    evidence_text: str | None = None  # the matched words, or None
    evidence_start: float | None = None
    evidence_end: float | None = None
    detail: str = ""  # why it passed or failed, in words


@dataclass(frozen=True)
class Score:
    """One label predicted for one call by one model version."""

    call_id: str
    label: str
    model_version: str
    value: str
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return self.probabilities.get(self.value, 0.0)


@dataclass(frozen=True)
class TurnScore:
    """One label predicted for one turn of a call (``turn``: its index in the call's turns) by one
    model version."""

    call_id: str
    turn: int
    start: float
    end: float
    role: str
    label: str
    model_version: str
    value: str
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return self.probabilities.get(self.value, 0.0)


@dataclass(frozen=True)
class CallRecord:
    """The identity and shape of a processed call (one row of the calls table)."""

    call_id: str  # sha256 of the audio file's bytes
    external_id: str
    source_path: str
    duration: float
    layout: Layout
    channels: int
    sample_rate: int  # of the source file
    agent_id: str | None = None
    queue: str | None = None
    started_at: datetime | None = None
    agent_channel: int | None = None
    role_confidence: float | None = None
    role_strategy: str | None = None
    layout_reason: str | None = None  # why the call has its layout (qc.channels)
    quality_flags: tuple[str, ...] = ()  # what the consistency guard found wrong (qc.quality); empty: nothing

    @property
    def quality_ok(self) -> bool:
        return not self.quality_flags

    @property
    def call_date(self) -> date | None:
        return self.started_at.date() if self.started_at else None


@dataclass(frozen=True)
class QAScore:
    """The scorecard's verdict on one call (0-100) and the items that cost points."""

    call_id: str
    score: float
    passed: bool
    breakdown: dict[str, float] = field(default_factory=dict)  # item -> points lost


@dataclass(frozen=True)
class CallResult:
    """Everything the pipeline learned about one call, ready to be stored."""

    call: CallRecord
    turns: tuple[Turn, ...]
    words: tuple[Word, ...]
    metrics: ConversationMetrics
    rule_results: tuple[RuleResult, ...] = ()
    scores: tuple[Score, ...] = ()
    qa: QAScore | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    turn_scores: tuple[TurnScore, ...] = ()  # of the model version that scored the call last
    # per-turn speech features (qc.features), aligned with ``turns``; None when not computed
    speech: TurnFeatures | None = field(default=None, compare=False, repr=False)
    # (embedding, seconds) of the agent's voice where this call can enrol it (qc.voiceprint); never stored
    agent_voice: tuple[Any, float] | None = field(default=None, compare=False, repr=False)

    @property
    def call_id(self) -> str:
        return self.call.call_id


@dataclass(frozen=True)
class Rejection:
    """A file that was not processed, and why."""

    file: str
    reason: str
    external_id: str | None = None
    call_id: str | None = None
