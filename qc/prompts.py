"""Recorded prompts: what an IVR or a queue plays to the caller ("for billing, press one", "your call
is important to us", "all our agents are busy"). They are speech, so the diarization makes turns of
them and Whisper reads them, but no party said them: they are nobody's talk and no words of the call.

A turn is a prompt when its words hold a phrase that only a recorded system says (:data:`SYSTEM`),
or when it holds a phrase that a system often says but an agent may too (:data:`SHARED`: "this call
may be recorded", "please hold") and it follows or precedes a prompt on the same channel with at
most ``CHAIN_GAP_S`` between them (the rest of the same announcement). The prompts are taken out
before roles are assigned, and their time is measured as ``prompt_time``, apart from silence and talk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from qc.hold import NonTalk
from qc.records import Turn, Word

_NUMBER = r"(?:one|two|three|four|five|six|seven|eight|nine|zero|star|pound|hash|\d)"
_STAFF = r"(?:agents?|representatives?|advis[oe]rs?|operators?|team members?|colleagues?|associates?)"
SYSTEM = re.compile("|".join((
    rf"\bpress(?:es)? (?:the )?{_NUMBER}\b",
    rf"\b(?:say|press) or (?:say|press)\b",
    r"\byour call is (?:very )?important to us\b",
    rf"\b(?:all )?(?:of )?our {_STAFF} are (?:currently |still )?(?:busy|assisting|helping|on other calls|engaged)\b",
    rf"\bnext available {_STAFF}\b",
    r"\b(?:estimated|expected|approximate|current) (?:wait|waiting|hold) time\b",
    r"\byou are (?:caller )?number \w+ in (?:the )?(?:queue|line)\b",
    r"\bmenu options have (?:recently )?changed\b",
    r"\bpara espa[nñ]ol\b",
    r"\bcalls? (?:are|will be) answered in the order\b",
)))
SHARED = re.compile("|".join((
    r"\b(?:this|your) call (?:may|will|might|is going to) be (?:recorded|monitored)\b",
    r"\bquality (?:and|&) training\b",
    r"\bthank you for (?:calling|holding|waiting|your patience)\b",
    r"\bplease (?:hold|stay on the line|remain on the line|continue to hold|listen carefully)\b",
    r"\bwelcome to\b",
)))
CHAIN_GAP_S = 1.5


def _plain(text: str) -> str:
    return re.sub(r"[^\w' ]+", " ", text.lower()).replace("  ", " ")


def _turn_texts(turns: Sequence[Turn], words: Sequence[Word]) -> list[str]:
    """Each turn's words (its speaker's, with their middle inside it), plain; the turn's own text
    where it has none."""
    by_speaker: dict[str, tuple[list[float], list[str]]] = {}
    for w in sorted(words, key=lambda w: w.midpoint):
        mids, texts = by_speaker.setdefault(w.speaker, ([], []))
        mids.append(w.midpoint)
        texts.append(w.text)
    out = []
    for t in turns:
        mids, texts = by_speaker.get(t.speaker, ([], []))
        mine = texts[bisect.bisect_left(mids, t.start):bisect.bisect_right(mids, t.end)]
        out.append(_plain(" ".join(mine) if mine else t.text))
    return out


def find_prompts(turns: Sequence[Turn], words: Sequence[Word]) -> list[int]:
    """Indices (into ``turns``) of the turns that are recorded prompts, in order."""
    texts = _turn_texts(turns, words)
    prompt = [bool(SYSTEM.search(x)) for x in texts]
    shared = [bool(SHARED.search(x)) for x in texts]
    order = sorted(range(len(turns)), key=lambda i: turns[i].start)
    changed = any(prompt)
    while changed:  # an announcement's other sentences, on the same channel, right before or after it
        changed = False
        for a, b in zip(order, order[1:]):
            ta, tb = turns[a], turns[b]
            if ta.channel != tb.channel or tb.start - ta.end > CHAIN_GAP_S:
                continue
            for i, j in ((a, b), (b, a)):
                if prompt[i] and shared[j] and not prompt[j]:
                    prompt[j] = changed = True
    return [i for i in range(len(turns)) if prompt[i]]


def without_prompts(turns: Sequence[Turn], words: Sequence[Word]
                    ) -> tuple[list[Turn], list[Word], list[Turn], list[int]]:
    """``(turns, words, prompts, kept)``: the turns that are talk, the words said in them, the prompt
    turns, and the indices of the kept turns in ``turns``."""
    found = set(find_prompts(turns, words))
    if not found:
        return list(turns), list(words), [], list(range(len(turns)))
    prompts = [t for i, t in enumerate(turns) if i in found]
    kept = [i for i in range(len(turns)) if i not in found]

    def in_prompt(w: Word) -> bool:
        return any(p.speaker == w.speaker and p.start <= w.midpoint <= p.end for p in prompts)

    return [turns[i] for i in kept], [w for w in words if not in_prompt(w)], prompts, kept


def prompt_spans(prompts: Sequence[Turn]) -> list[NonTalk]:
    """The prompts' time as non-talk stretches (``kind`` ``prompt``), overlapping ones merged."""
    spans: list[list[float]] = []
    for p in sorted(prompts, key=lambda t: t.start):
        if spans and p.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], p.end)
        else:
            spans.append([p.start, p.end])
    return [NonTalk(round(a, 3), round(b, 3), "prompt") for a, b in spans]
