"""What happens in one synthetic call: its labels, compliance flags, PII, voices and audio conditions.

A :class:`Scenario` is sampled from the call's own random generator (:func:`call_rng`), so a call
depends only on (seed, index). Labels are sampled independently of each other and of everything a
model could use as a shortcut (agent, queue, voice identity, call length, holds, noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from qc.synth.voices import STYLES, Style, Voice, voice_tables

Layout = Literal["stereo", "mono"]
Emotion = Literal["neutral", "angry", "satisfied"]
Politeness = Literal["polite", "rude"]
Resolution = Literal["resolved", "unresolved"]
Cue = Literal["none", "text", "voice", "both"]
VerificationKind = Literal["date_of_birth", "last_four", "full_name"]

EMOTIONS: tuple[Emotion, ...] = ("neutral", "angry", "satisfied")
POLITENESS: tuple[Politeness, ...] = ("polite", "rude")
RESOLUTIONS: tuple[Resolution, ...] = ("resolved", "unresolved")
CUES: tuple[Cue, ...] = ("text", "voice", "both")
QUEUES: tuple[str, ...] = ("billing", "tech_support", "cards", "cancellations")
VERIFICATION_KINDS: tuple[VerificationKind, ...] = ("date_of_birth", "last_four", "full_name")
FIRST_DAY = datetime(2024, 3, 11)  # a Monday; calls spread over this and the next four days
DAYS = 5

# How often each thing happens (per call).
P_GREETING = 0.90
P_DISCLOSURE = 0.85
P_DISCLOSURE_LATE = 0.06  # of calls with a disclosure: said after the first 15 s
P_VERIFICATION = 0.80
P_CLOSING = 0.85
P_EMOTION = (0.40, 0.30, 0.30)  # neutral, angry, satisfied
P_POLITE = 0.65
P_RESOLVED = 0.60
P_CARD, P_PHONE, P_EMAIL = 0.35, 0.35, 0.15
P_HOLD = 0.30
HOLD_SECONDS = (5.0, 25.0)
P_INTERRUPTIONS = 0.40
INTERRUPTION_COUNTS = ((1, 0.55), (2, 0.30), (3, 0.15))
SNR_DB = (20.0, 35.0)
LEAKAGE_DB = (-35.0, -25.0)
P_AGENT_ON_1 = 0.20  # stereo calls with the agent on channel 1
TURNS = (12, 18)  # the script pads short calls with small talk up to a target in this range


@dataclass(frozen=True)
class Pii:
    """Personal data a call will contain (None: not in this call)."""

    card_number: str | None  # 16 digits, Luhn-valid
    phone_number: str | None  # 10 digits
    email: str | None  # address
    first_name: str
    last_name: str
    date_of_birth: tuple[int, int]  # (day, month)
    account_last_four: str  # 4 digits


@dataclass(frozen=True)
class Scenario:
    """Everything sampled for one call before any word is written."""

    call_id: str
    seed: int
    index: int
    agent_id: str
    queue: str
    topic: str
    started_at: datetime
    layout: Layout
    agent_channel: int | None  # stereo: the agent's channel; mono: None
    company: str
    agent_name: str
    agent_voice: Voice
    customer_voice: Voice
    agent_style: Style
    customer_style: Style
    speaker_gain_db: tuple[float, float]  # (agent, customer) level around the nominal speech level
    greeting: bool
    disclosure: bool
    disclosure_late: bool
    verification: VerificationKind | None
    closing: bool
    customer_emotion: Emotion
    emotion_cue: Cue
    agent_politeness: Politeness
    politeness_cue: Cue
    resolution: Resolution
    pii: Pii
    hold_seconds: float | None
    interruptions: int
    target_turns: int
    snr_db: float
    leakage_db: float | None  # stereo only: the other party's level in a channel, relative to its own

    @property
    def emotion_in_words(self) -> bool:
        return self.emotion_cue in ("text", "both")

    @property
    def politeness_in_words(self) -> bool:
        return self.politeness_cue in ("text", "both")

    @property
    def customer_channel(self) -> int | None:
        return None if self.agent_channel is None else 1 - self.agent_channel


def call_id(seed: int, index: int) -> str:
    return f"call-{seed}-{index:04d}"


def call_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The generator for one part (``stream``) of call ``index``: scenario 0, script 1, audio 2."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed} index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, index, stream]))


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits + check`` pass the Luhn test."""
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2 == 0:  # doubled: these are odd positions counting the check digit as position 0
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def sample_pii(rng: np.random.Generator, first_names: list[str], last_names: list[str],
               domains: list[str]) -> Pii:
    first = str(rng.choice(first_names))
    last = str(rng.choice(last_names))
    card = phone = email = None
    if rng.random() < P_CARD:
        body = str(rng.choice(["4", "5"])) + _digits(rng, 14)
        card = body + luhn_check_digit(body)
    if rng.random() < P_PHONE:
        phone = str(int(rng.integers(2, 10))) + _digits(rng, 9)
    if rng.random() < P_EMAIL:
        sep = str(rng.choice([".", ""]))
        email = f"{first.lower()}{sep}{last.lower()}@{rng.choice(domains)}.com"
    dob = (int(rng.integers(1, 29)), int(rng.integers(1, 13)))
    return Pii(card, phone, email, first, last, dob, _digits(rng, 4))


def _distinct(agent: Voice, customer: Voice) -> bool:
    """Two voices a listener (and a speaker embedding) tells apart at once."""
    if agent.speaker == customer.speaker:
        return False
    min_pitch_gap = 15 if agent.engine == "flite" else 10  # Hz of mean F0, or espeak-ng pitch steps
    return agent.gender != customer.gender or abs(agent.pitch - customer.pitch) >= min_pitch_gap


def sample_scenario(seed: int, index: int, layout: str, snr_db: float | None, book, tts: str = "flite"
                    ) -> Scenario:
    """The scenario of call ``index`` of the corpus made with ``seed``.

    ``layout`` is ``stereo``, ``mono`` or ``mixed`` (a seeded coin per call); ``snr_db`` fixes the
    background noise level (default: uniform in :data:`SNR_DB`). ``book`` is the phrase book
    (:class:`qc.synth.script.PhraseBook`), which holds the names to draw from. ``tts`` picks the
    voice tables (``flite`` or ``espeak``); every other draw is the same for both.
    """
    agent_voices, customer_voices = voice_tables(tts)
    if layout not in ("stereo", "mono", "mixed"):
        raise ValueError(f"layout must be stereo, mono or mixed, got {layout!r}")
    rng = call_rng(seed, index, 0)
    # Every draw is made whatever the options, so a seed gives the same calls in every layout and at
    # every noise level (only the layout, channel or noise differ).
    mono_coin, channel_coin = rng.random(), rng.random()
    chosen: Layout = "stereo" if layout == "stereo" or (layout == "mixed" and mono_coin < 0.5) else "mono"
    agent_channel = (1 if channel_coin < P_AGENT_ON_1 else 0) if chosen == "stereo" else None
    agent_id = str(rng.choice(sorted(agent_voices)))
    agent_voice = agent_voices[agent_id]
    candidates = [v for v in customer_voices if _distinct(agent_voice, v)]
    customer_voice = candidates[int(rng.integers(len(candidates)))]
    queue = str(rng.choice(QUEUES))
    topic = str(rng.choice(sorted(book.topics[queue])))

    emotion: Emotion = EMOTIONS[int(rng.choice(3, p=P_EMOTION))]
    emotion_cue: Cue = "none" if emotion == "neutral" else CUES[int(rng.integers(3))]
    politeness: Politeness = "polite" if rng.random() < P_POLITE else "rude"
    politeness_cue: Cue = CUES[int(rng.integers(3))]
    customer_style = STYLES[emotion] if emotion_cue in ("voice", "both") else STYLES["neutral"]
    agent_style = STYLES[politeness] if politeness_cue in ("voice", "both") else STYLES["neutral"]

    disclosure = rng.random() < P_DISCLOSURE
    disclosure_late = disclosure and rng.random() < P_DISCLOSURE_LATE
    verification = VERIFICATION_KINDS[int(rng.integers(3))] if rng.random() < P_VERIFICATION else None
    hold = float(rng.uniform(*HOLD_SECONDS)) if rng.random() < P_HOLD else None
    interruptions = 0
    if rng.random() < P_INTERRUPTIONS:
        counts, probs = zip(*INTERRUPTION_COUNTS)
        interruptions = int(rng.choice(counts, p=probs))
    noise_db, leakage_db = float(rng.uniform(*SNR_DB)), float(rng.uniform(*LEAKAGE_DB))
    day = index % DAYS
    started = FIRST_DAY + timedelta(days=day, seconds=int(rng.integers(8 * 3600, 18 * 3600)))
    return Scenario(
        call_id=call_id(seed, index), seed=seed, index=index, agent_id=agent_id, queue=queue, topic=topic,
        started_at=started, layout=chosen, agent_channel=agent_channel,
        company=str(rng.choice(book.companies)), agent_name=str(rng.choice(book.agent_names)),
        agent_voice=agent_voice, customer_voice=customer_voice, agent_style=agent_style,
        customer_style=customer_style,
        speaker_gain_db=(float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))),
        greeting=bool(rng.random() < P_GREETING), disclosure=bool(disclosure),
        disclosure_late=bool(disclosure_late), verification=verification,
        closing=bool(rng.random() < P_CLOSING), customer_emotion=emotion, emotion_cue=emotion_cue,
        agent_politeness=politeness, politeness_cue=politeness_cue,
        resolution="resolved" if rng.random() < P_RESOLVED else "unresolved",
        pii=sample_pii(rng, book.first_names, book.last_names, book.email_domains),
        hold_seconds=hold, interruptions=interruptions, target_turns=int(rng.integers(TURNS[0], TURNS[1] + 1)),
        snr_db=float(snr_db) if snr_db is not None else noise_db,
        leakage_db=leakage_db if chosen == "stereo" else None,
    )
