"""Which speaker is the agent and which the customer.

Stereo calls use the channel map (``calls.csv``'s agent channel, else ``Settings.stereo_agent_channel``).
Mono calls use ``Settings.role_strategy``:

- ``greeting`` (default): agents open with scripted phrases ("thank you for calling", "my name is",
  "how can I help", the company's name); customers state a problem ("I'm calling about", "my bill").
  Each speaker's first turns are scored for both kinds of phrase; the agent is the speaker with the
  highest agent-minus-customer score. Without any such phrase it falls back to ``first_speaker``.
- ``first_speaker``: whoever speaks first is the agent (the usual shape of an inbound call).
- ``channel``: the channel map; a mono call has none, so it is treated like ``first_speaker``.

The confidence (0..1) says how far the evidence separates the speakers; it is stored with the call so
analysts can filter calls whose roles are uncertain.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.records import RoleAssignment, Turn, Word

# Phrases (lower-case, punctuation-free) typical of each party's first turns, with their weights.
AGENT_PHRASES: dict[str, float] = {
    "thank you for calling": 3.0, "thanks for calling": 3.0, "thank you for contacting": 3.0,
    "welcome to": 2.0, "my name is": 1.5, "how can i help": 2.5, "how may i help": 2.5,
    "how can i assist": 2.5, "how may i assist": 2.5, "what can i do for you": 2.0, "speaking": 1.0,
    "this is": 0.5, "calling from": 1.5, "on a recorded line": 2.0, "may be recorded": 2.0,
    "customer service": 1.5, "support": 1.0, "can i have your": 1.0, "could i have your": 1.0,
    "can i get your": 1.0, "could you give me your": 1.0, "may i have your": 1.0, "verify": 1.0,
    "account number": 0.5, "you are speaking with": 2.0, "this call may be recorded": 2.0,
    "this call is being recorded": 2.0, "go ahead": 1.0, "i am listening": 1.0, "what is the problem": 1.0,
    "what is the call about": 1.0, "for security purposes": 1.5, "verify your identity": 1.5,
}
CUSTOMER_PHRASES: dict[str, float] = {
    "i am calling about": 2.0, "im calling about": 2.0, "i'm calling about": 2.0, "i am calling because": 2.0,
    "im calling because": 2.0, "i'm calling because": 2.0, "i have a problem": 2.0, "i have a question": 1.5,
    "i need help": 1.5, "i would like to": 1.0, "i'd like to": 1.0, "id like to": 1.0, "i want to": 1.0,
    "my bill": 1.0, "my account": 1.0, "my order": 1.0, "i was charged": 1.5, "i got charged": 1.5,
    "hi i": 0.5, "yes hi": 0.5, "i am still waiting": 1.0, "i was told": 1.0, "my internet": 1.0,
    "my phone": 0.5, "my card": 0.5, "my payment": 1.0, "i want to cancel": 1.5, "i would like to cancel": 1.5,
}
OPENING_SECONDS = 60.0  # only the opening of the call is read for phrases
OPENING_TURNS = 3  # per speaker


def assign_roles(rec: Recording, turns: Sequence[Turn], words: Sequence[Word], cfg: Settings,
                 company_names: Sequence[str] = (), voiceprint=None, embeddings=None) -> RoleAssignment:
    """Speaker -> role for this call, with a confidence in 0..1. ``voiceprint``: the call's agent's
    enrolled voice, and ``embeddings``: each speaker's (:mod:`qc.voiceprint`): on a mono call they
    decide first, where the voices are far enough apart."""
    if rec.layout == "stereo":
        return check_channel_map(by_channel(rec, turns), turns, words, company_names, voiceprint, embeddings)
    if voiceprint is not None and embeddings:
        from qc.voiceprint import by_voiceprint

        found = by_voiceprint(embeddings, voiceprint, _speakers_in_order(turns))
        if found is not None:
            return found
    if cfg.role_strategy == "greeting":
        return by_greeting(turns, words, company_names)
    return by_first_speaker(turns)


def by_channel(rec: Recording, turns: Sequence[Turn]) -> RoleAssignment:
    agent_channel = rec.agent_channel if rec.agent_channel is not None else 0
    speakers = {t.speaker: ("agent" if t.channel == agent_channel else "customer") for t in turns}
    # The channel map is given (calls.csv) or the configured convention: as sure as the inbox is.
    confidence = 1.0 if rec.meta.agent_channel is not None else 0.9
    return RoleAssignment(speakers=speakers, confidence=confidence, strategy="channel")


MAP_DOUBT = 3.0  # phrase evidence by which the mapped customer must sound more like an agent to be doubted


def check_channel_map(roles: RoleAssignment, turns: Sequence[Turn], words: Sequence[Word],
                      company_names: Sequence[str] = (), voiceprint=None, embeddings=None) -> RoleAssignment:
    """The channel map, doubted (confidence 0.5, ``doubt`` saying why) when the channel it calls the
    customer's evidently holds the agent: its opening sounds like an agent's by ``MAP_DOUBT`` more than
    the mapped agent's does, or its voice is the enrolled agent's. Neither the map nor the evidence
    is trusted silently: the roles stay as mapped and the call is flagged for a person to check."""
    agent = [s for s, r in roles.speakers.items() if r == "agent"]
    customer = [s for s, r in roles.speakers.items() if r == "customer"]
    if len(agent) != 1 or len(customer) != 1:
        return roles
    channel = {t.speaker: t.channel for t in turns}
    a, c = agent[0], customer[0]
    evidence = []
    score_a = phrase_score(opening_text(a, turns, words), company_names)
    score_c = phrase_score(opening_text(c, turns, words), company_names)
    if score_c - score_a >= MAP_DOUBT:
        said = ", ".join(f"'{x}'" for x in agent_phrases(opening_text(c, turns, words))) or "its company's name"
        evidence.append(f"channel {channel[c]} opens like an agent ({said})")
    if voiceprint is not None and embeddings and a in embeddings and c in embeddings:
        from qc.voiceprint import MARGIN_DECIDES

        vp = voiceprint / (np.linalg.norm(voiceprint) + 1e-9)
        sim_a, sim_c = float(embeddings[a][0] @ vp), float(embeddings[c][0] @ vp)
        if sim_c - sim_a >= MARGIN_DECIDES:
            evidence.append(f"channel {channel[c]} has the enrolled agent's voice (similarity {sim_c:.2f} "
                            f"against {sim_a:.2f})")
    if not evidence:
        return roles
    doubt = (f"the channel map puts the agent on channel {channel[a]}, but " + " and ".join(evidence)
             + ": check the layout in calls.csv")
    return dataclasses.replace(roles, confidence=0.5, doubt=doubt)


def agent_phrases(text: str) -> list[str]:
    """The agent phrases of :data:`AGENT_PHRASES` in ``text`` (normalised): evidence that can be stored,
    unlike the words around them, which may hold PII."""
    padded = f" {text} "
    return [p for p in AGENT_PHRASES if f" {p} " in padded]


def by_first_speaker(turns: Sequence[Turn]) -> RoleAssignment:
    """The first speaker is the agent; confidence grows with the lead over the second speaker."""
    speakers = _speakers_in_order(turns)
    if not speakers:
        return RoleAssignment(speakers={}, confidence=0.0, strategy="first_speaker")
    first = speakers[0]
    roles = {s: ("agent" if s == first else "customer") for s in speakers}
    if len(speakers) == 1:
        return RoleAssignment(speakers=roles, confidence=0.5, strategy="first_speaker")
    start = {s: min(t.start for t in turns if t.speaker == s) for s in speakers[:2]}
    lead = start[speakers[1]] - start[first]
    # an agent who opens the call alone for a few seconds is the common case; a near tie is not evidence
    confidence = 0.5 + 0.25 * min(1.0, max(0.0, lead) / 2.0)
    return RoleAssignment(speakers=roles, confidence=round(confidence, 3), strategy="first_speaker")


def by_greeting(turns: Sequence[Turn], words: Sequence[Word], company_names: Sequence[str] = ()
                ) -> RoleAssignment:
    """Agent = the speaker whose opening turns sound most like an agent's; see the module docstring."""
    speakers = _speakers_in_order(turns)
    if not speakers:
        return RoleAssignment(speakers={}, confidence=0.0, strategy="greeting")
    scores = {s: phrase_score(opening_text(s, turns, words), company_names) for s in speakers}
    ranked = sorted(speakers, key=lambda s: (-scores[s], speakers.index(s)))
    best = ranked[0]
    margin = scores[best] - (scores[ranked[1]] if len(ranked) > 1 else 0.0)
    if margin <= 0.0:  # no phrase tells them apart
        # who spoke first is a weak hint when no one greeted: customers who call back, or an agent
        # picked up mid-sentence, speak first too
        fallback = by_first_speaker(turns)
        return RoleAssignment(speakers=fallback.speakers, confidence=min(fallback.confidence, FALLBACK_CONFIDENCE),
                              strategy="greeting>first_speaker")
    roles = {s: ("agent" if s == best else "customer") for s in speakers}
    return RoleAssignment(speakers=roles, confidence=greeting_confidence(margin), strategy="greeting")


FALLBACK_CONFIDENCE = 0.55
WEAK_MARGIN = 1.0  # phrase evidence under this (one weak phrase) is little better than a guess


def greeting_confidence(margin: float) -> float:
    """How often roles decided by this phrase margin are right (``python -m bench.roles``): a single
    weak phrase little more than a guess, a scripted greeting (margin 1 and up) nearly always right."""
    if margin < WEAK_MARGIN:
        return FALLBACK_CONFIDENCE
    return round(0.9 + 0.1 * (1.0 - 2.0 ** (-(margin - WEAK_MARGIN))), 3)


def opening_text(speaker: str, turns: Sequence[Turn], words: Sequence[Word]) -> str:
    """The words of ``speaker``'s first turns in the opening of the call, normalised for matching."""
    own = [t for t in sorted(turns, key=lambda t: t.start) if t.speaker == speaker and t.start < OPENING_SECONDS]
    own = own[:OPENING_TURNS]
    if not own:
        return ""
    limit = own[-1].end
    text = " ".join(w.text for w in words if w.speaker == speaker and w.start <= limit)
    if not text:
        text = " ".join(t.text for t in own)
    return _normalise(text)


def phrase_score(text: str, company_names: Sequence[str] = ()) -> float:
    """Agent evidence minus customer evidence in ``text`` (already normalised)."""
    padded = f" {text} "
    score = sum(w for p, w in AGENT_PHRASES.items() if f" {p} " in padded)
    score += sum(2.0 for name in company_names if name and f" {_normalise(name)} " in padded)
    score -= sum(w for p, w in CUSTOMER_PHRASES.items() if f" {p} " in padded)
    return score


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _speakers_in_order(turns: Sequence[Turn]) -> list[str]:
    order: list[str] = []
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        if t.speaker not in order:
            order.append(t.speaker)
    return order


def apply_roles(assignment: RoleAssignment, turns: Sequence[Turn], words: Sequence[Word]
                ) -> tuple[list[Turn], list[Word]]:
    return ([dataclasses.replace(t, role=assignment.role_of(t.speaker)) for t in turns],
            [dataclasses.replace(w, role=assignment.role_of(w.speaker)) for w in words])
