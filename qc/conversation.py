"""Conversation measurements from turns and words: talk time, silence, overtalk, interruptions, pace.

All times are seconds. Per-role metrics count the turns of that role only; ``unknown`` turns (a third
voice, or a call whose roles could not be told apart) still count as speech for silence.

Definitions (each is one :class:`~qc.records.ConversationMetrics` field):

``talk_time_<role>``
    Length of the role's *talk spans*: the union of its turns, with pauses shorter than
    ``MAX_PAUSE`` s closed when nobody else speaks in them (a speaker breathing between two
    sentences is still talking; voice activity detection cuts turns at such pauses).
``talk_ratio_agent``
    ``talk_time_agent / (talk_time_agent + talk_time_customer)``; ``None`` when nobody spoke. The
    customer's share is ``1 - talk_ratio_agent``.
``silence_total``, ``silence_longest``, ``silence_count``
    Non-talk time: the gaps between everybody's talk spans, inside the conversation (from
    the start of its first speech to the end of its last). Leading and trailing silence are recording
    artefacts (ringing, hang-up) and are not counted, nor is hold or key tones (below). ``silence_count``
    counts the gaps at least ``silence_threshold`` seconds long.
``hold_time``, ``hold_count``, ``tone_time``
    sustained sound without speech outside every turn (hold music, a prompt loop) and DTMF key tones
    (:mod:`qc.hold`): the caller on hold, not a silence and nobody's talk.
``prompt_time``
    recorded prompts an IVR or a queue played (:mod:`qc.prompts`): speech, but nobody's talk, and not
    silence either.
``overtalk_time``, ``overtalk_ratio``
    Time both roles speak at once (intersection of their talk spans); the ratio is over the call's
    duration.
``turns_<role>``
    Conversational turns: a role's turn is a maximal stretch of its speech whose pauses hold no speech
    of the other role. A pause alone does not end a turn; the other party speaking (even a short
    backchannel over it) does not end it either unless it falls in a pause.
``interruptions_<role>``
    Times the role interrupted the other: one of its turns starts while the other role is speaking
    and the overlap lasts at least ``MIN_INTERRUPT_OVERLAP`` s, and the turn itself lasts at least
    ``MIN_INTERRUPT_TURN`` s (shorter ones are backchannels: "mm-hm", "right").
``response_latency_<role>``
    Mean gap before the role's turns that answer the other role: a turn counts when nobody speaks at
    its start and the last speech to end before it was the other role's; its latency is its start
    minus that end. ``None`` when no turn answered.
``words_per_minute_<role>``
    Recognised words of the role per minute of its talk time; ``None`` under one second of talk.
``time_to_greeting``
    Seconds from the start of the recording until the agent first speaks (whether the greeting's
    wording is compliant is the ``greeting`` rule's job); ``None`` when the agent never speaks.
``sentiment_<role>_start`` / ``_end``
    Mean turn sentiment (:mod:`qc.sentiment`) over the first and the last third of the role's turns
    that have a sentiment (at least one turn each; with one or two turns start and end share turns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qc.hold import NonTalk
from qc.records import ConversationMetrics, Role, Turn, Word

Span = tuple[float, float]

MAX_PAUSE = 0.5  # s; shorter pauses inside one role's speech count as talk
MIN_INTERRUPT_OVERLAP = 0.2  # s of overlap before a turn start counts as talking over someone
MIN_INTERRUPT_TURN = 1.0  # s; shorter turns started over the other party are backchannels


def union(spans: Sequence[Span]) -> list[Span]:
    """Sorted, merged spans (touching spans merge; empty spans are dropped)."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def total(spans: Sequence[Span]) -> float:
    return sum(b - a for a, b in spans)


def intersect(x: Sequence[Span], y: Sequence[Span]) -> list[Span]:
    """Intersection of two sorted disjoint span lists."""
    out, i, j = [], 0, 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def gaps(speech: Sequence[Span]) -> list[Span]:
    """Silences between consecutive speech spans (already merged)."""
    return [(speech[k][1], speech[k + 1][0]) for k in range(len(speech) - 1)]


def bridge(own: Sequence[Span], others: Sequence[Span], max_pause: float = MAX_PAUSE) -> list[Span]:
    """``own`` (sorted, disjoint) with the pauses shorter than ``max_pause`` closed, unless ``others``
    speak in them."""
    out: list[Span] = []
    for a, b in own:
        if out and a - out[-1][1] < max_pause and not intersect([(out[-1][1], a)], others):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def talk_spans(turns: Sequence[Turn], role: Role) -> list[Span]:
    """When ``role`` is talking: its turns' union, short pauses closed (see ``talk_time``)."""
    own = union([(t.start, t.end) for t in turns if t.role == role])
    return bridge(own, union([(t.start, t.end) for t in turns if t.role != role]))


def speech_spans(turns: Sequence[Turn]) -> list[Span]:
    """When anybody is talking: the union of every role's talk spans."""
    return union([span for role in {t.role for t in turns} for span in talk_spans(turns, role)])


def longest_silence(turns: Sequence[Turn]) -> Span | None:
    """The longest gap inside the conversation (the first one when tied), or None without gaps."""
    spans = gaps(speech_spans(turns))
    return max(spans, key=lambda s: s[1] - s[0]) if spans else None


def _covers(spans: Sequence[Span], t: float) -> Span | None:
    """The span strictly containing ``t`` (its start < t < its end), if any."""
    for a, b in spans:
        if a < t < b:
            return (a, b)
        if a >= t:
            break
    return None


def floor_turns(own: Sequence[Span], other: Sequence[Span]) -> list[Span]:
    """A role's conversational turns: its speech spans, merged across pauses in which the other role
    does not speak (see the module docstring)."""
    out: list[list[float]] = []
    for a, b in own:
        if out and not intersect([(out[-1][1], a)], other):
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def interruptions(own_turns: Sequence[Span], other: Sequence[Span]) -> list[Span]:
    """The turns (from :func:`floor_turns`) with which a role interrupts the other."""
    out = []
    for a, b in own_turns:
        hit = _covers(other, a)
        if hit is None or b - a < MIN_INTERRUPT_TURN:
            continue
        if total(intersect([(a, b)], other)) >= MIN_INTERRUPT_OVERLAP:
            out.append((a, b))
    return out


def response_latencies(own_turns: Sequence[Span], own: Sequence[Span], other: Sequence[Span]) -> list[float]:
    """Gaps before the role's turns that answer the other role (see the module docstring)."""
    out = []
    for a, _ in own_turns:
        if _covers(other, a) is not None:
            continue  # started over the other party: overtalk, not an answer
        last_other = max((e for _, e in other if e <= a), default=None)
        last_own = max((e for _, e in own if e <= a), default=None)
        if last_other is not None and (last_own is None or last_other > last_own):
            out.append(a - last_other)
    return out


def sentiment_trend(turns: Sequence[Turn], role: Role) -> tuple[float | None, float | None]:
    """(start, end): mean sentiment of the first and the last third of the role's scored turns."""
    values = [t.sentiment for t in sorted(turns, key=lambda t: t.start)
              if t.role == role and t.sentiment is not None]
    if not values:
        return None, None
    k = max(1, math.ceil(len(values) / 3))
    return round(sum(values[:k]) / k, 4), round(sum(values[-k:]) / k, 4)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def subtract(span: Span, others: Sequence[Span]) -> list[Span]:
    """The parts of ``span`` that none of ``others`` (sorted) covers."""
    out, (a, b) = [], span
    for x, y in others:
        if y <= a or x >= b:
            continue
        if x > a:
            out.append((a, x))
        a = max(a, y)
    if b > a:
        out.append((a, b))
    return out


def measure(call_id: str, duration: float, turns: Sequence[Turn], words: Sequence[Word],
            silence_threshold: float = 3.0, non_talk: Sequence[NonTalk] = ()) -> ConversationMetrics:
    """All conversation metrics of one call (definitions: the module docstring). ``non_talk``: the
    call's hold and key-tone stretches (:func:`qc.hold.find_non_talk`): not silence, measured apart."""
    agent = talk_spans(turns, "agent")
    customer = talk_spans(turns, "customer")
    held = sorted((s.start, s.end) for s in non_talk)
    silences = [b - a for gap in gaps(speech_spans(turns)) for a, b in subtract(gap, held) if b - a > 0.01]
    holds = [s for s in non_talk if s.kind == "hold"]
    talk_agent, talk_customer = total(agent), total(customer)
    overtalk = total(intersect(agent, customer))
    both = talk_agent + talk_customer
    agent_turns, customer_turns = floor_turns(agent, customer), floor_turns(customer, agent)

    def wpm(role: Role, talk: float) -> float | None:
        if talk < 1.0:
            return None
        return round(sum(1 for w in words if w.role == role) / (talk / 60.0), 1)

    agent_start, agent_end = sentiment_trend(turns, "agent")
    customer_start, customer_end = sentiment_trend(turns, "customer")
    return ConversationMetrics(
        call_id=call_id,
        duration=round(duration, 3),
        talk_time_agent=round(talk_agent, 3),
        talk_time_customer=round(talk_customer, 3),
        talk_ratio_agent=round(talk_agent / both, 4) if both > 0 else None,
        silence_total=round(sum(silences), 3),
        silence_longest=round(max(silences, default=0.0), 3),
        silence_count=sum(1 for s in silences if s >= silence_threshold),
        overtalk_time=round(overtalk, 3),
        overtalk_ratio=round(overtalk / duration, 4) if duration > 0 else 0.0,
        interruptions_agent=len(interruptions(agent_turns, customer)),
        interruptions_customer=len(interruptions(customer_turns, agent)),
        response_latency_agent=_mean(response_latencies(agent_turns, agent, customer)),
        response_latency_customer=_mean(response_latencies(customer_turns, customer, agent)),
        words_per_minute_agent=wpm("agent", talk_agent),
        words_per_minute_customer=wpm("customer", talk_customer),
        turns_agent=len(agent_turns),
        turns_customer=len(customer_turns),
        time_to_greeting=round(agent[0][0], 3) if agent else None,
        sentiment_agent_start=agent_start,
        sentiment_agent_end=agent_end,
        sentiment_customer_start=customer_start,
        sentiment_customer_end=customer_end,
        hold_time=round(sum(s.duration for s in holds), 3),
        hold_count=len(holds),
        tone_time=round(sum(s.duration for s in non_talk if s.kind == "tones"), 3),
        prompt_time=round(sum(s.duration for s in non_talk if s.kind == "prompt"), 3),
    )
