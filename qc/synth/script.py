"""The words of one call: a scenario becomes a list of turns, each a few tagged sentences.

The phrase pools live in ``phrases.yaml`` beside this module. Where a label is cued "in the words",
that speaker's feeling/attitude slots take sentences from the cue pool; otherwise the same slots take
neutral filler of similar length, so that the number and length of sentences says nothing about the
label. Numbers are always spoken digit by digit as words, grouped by commas.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import yaml

from qc.synth.scenario import Scenario, call_rng

Speaker = Literal["agent", "customer"]
PiiType = Literal["card_number", "phone_number", "email", "person_name"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
            "eighteenth", "nineteenth", "twentieth", "twenty first", "twenty second", "twenty third",
            "twenty fourth", "twenty fifth", "twenty sixth", "twenty seventh", "twenty eighth")
QUESTION_WORDS = ("can ", "could ", "is ", "are ", "what ", "how ", "when ", "will ", "do ", "did ", "have ",
                  "has ", "where ", "which ", "would ", "so when ", "so what ")
NOT_QUESTIONS = ("have a ", "is there nothing")
INTERRUPT_GAP = (0.3, 1.5)  # seconds of overtalk when a turn interrupts the previous one
TURN_GAP = (0.2, 1.2)  # pause before a turn (before the speaker's style scales it)


@dataclass(frozen=True)
class PiiMention:
    """One piece of personal data as it is said."""

    type: PiiType
    value: str  # digits, address or name
    spoken: str  # the words, exactly as in the sentence
    owner: Speaker  # whose data it is


@dataclass(frozen=True)
class Sentence:
    text: str  # as spoken and as written in the reference (sentence case, final punctuation)
    tags: tuple[str, ...] = ()  # greeting | disclosure | verification | verification_answer | closing | farewell |
    #                             hold | resolution | cue
    pii: tuple[PiiMention, ...] = ()
    forbidden: tuple[str, ...] = ()  # forbidden phrases it contains, word for word


@dataclass(frozen=True)
class ScriptTurn:
    speaker: Speaker
    sentences: tuple[Sentence, ...]
    gap: float  # pause before the turn (s); negative: overtalk, starts that long before the last turn ends
    hold: bool = False  # the pause before this turn is a hold (silence while the agent checks)
    min_start: float = 0.0  # the turn must not start earlier than this (s from the call start)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class PhraseBook:
    """The phrase pools of ``phrases.yaml``."""

    companies: list[str]
    agent_names: list[str]
    first_names: list[str]
    last_names: list[str]
    email_domains: list[str]
    months: list[str]
    agent: dict
    customer: dict
    topics: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)

    @property
    def forbidden_phrases(self) -> tuple[str, ...]:
        return tuple(self.agent["rude_forbidden"])


@functools.lru_cache(maxsize=1)
def phrase_book() -> PhraseBook:
    raw = yaml.safe_load(importlib.resources.files("qc.synth").joinpath("phrases.yaml").read_text("utf-8"))
    topics = {queue: {name: {slot: [alt.strip() for alt in text.split("|")] for slot, text in slots.items()}
                      for name, slots in by_name.items()}
              for queue, by_name in raw.pop("topics").items()}
    return PhraseBook(topics=topics, **raw)


def forbidden_phrases() -> tuple[str, ...]:
    """The forbidden phrases rude agents may say (each listed in the shipped rules)."""
    return phrase_book().forbidden_phrases


def spell_digits(digits: str, group: int) -> str:
    """``"4111"`` -> ``"four one one one"``, comma-separated groups of ``group`` digits (0: no groups)."""
    words = [DIGIT_WORDS[int(d)] for d in digits]
    if group <= 0:
        return " ".join(words)
    return ", ".join(" ".join(words[k:k + group]) for k in range(0, len(words), group))


def spell_phone(digits: str) -> str:
    return ", ".join(spell_digits(part, 0) for part in (digits[:3], digits[3:6], digits[6:]))


def spell_email(address: str) -> str:
    """``"john.smith@example.com"`` -> ``"john dot smith at example dot com"``."""
    local, domain = address.split("@")
    return f"{local.replace('.', ' dot ')} at {domain.replace('.', ' dot ')}"


def finish(text: str) -> str:
    """Sentence case and final punctuation: a question mark when the sentence (or its last clause,
    as in "before we go on, can you ...") opens with a question word."""
    text = text.strip()
    clauses = [c.strip().lower() for c in text.split(",")]
    question = any(c.startswith(QUESTION_WORDS) and not c.startswith(NOT_QUESTIONS)
                   for c in (clauses[0], clauses[-1]))
    return text[0].upper() + text[1:] + ("?" if question else ".")


class _Writer:
    """Picks sentences for one call; remembers nothing but its generator."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator, book: PhraseBook):
        self.s, self.rng, self.book = scenario, rng, book
        pii = scenario.pii
        day, month = pii.date_of_birth
        self.fields = {
            "company": scenario.company, "agent": scenario.agent_name, "first": pii.first_name,
            "last": pii.last_name, "dob": f"{ORDINALS[day - 1]} of {book.months[month - 1]}",
            "last_four": spell_digits(pii.account_last_four, 0),
            "card": spell_digits(pii.card_number, 4) if pii.card_number else "",
            "phone": spell_phone(pii.phone_number) if pii.phone_number else "",
            "email": spell_email(pii.email) if pii.email else "",
        }
        topic = book.topics[scenario.queue][scenario.topic]
        # One alternative per topic slot for the whole call; a question and its answer share theirs.
        pairs = {"detail_answer": "detail_question", "answer": "question"}
        chosen: dict[str, int] = {}
        for slot in topic:
            if slot not in pairs:
                chosen[slot] = int(self.rng.integers(len(topic[slot])))
        for slot, partner in pairs.items():
            chosen[slot] = min(chosen[partner], len(topic[slot]) - 1)
        self.topic = {slot: topic[slot][chosen[slot]] for slot in topic}
        self.rude_forbidden_left = 0

    def pick(self, pool: list[str]) -> str:
        return str(pool[int(self.rng.integers(len(pool)))])

    def fill(self, template: str, tags: tuple[str, ...] = (), pii: tuple[PiiMention, ...] = (),
             forbidden: tuple[str, ...] = ()) -> Sentence:
        return Sentence(finish(template.format(**self.fields)), tags, pii, forbidden)

    def agent(self, slot: str, tags: tuple[str, ...] = ()) -> Sentence:
        return self.fill(self.pick(self.book.agent[slot]), tags)

    def customer(self, slot: str, tags: tuple[str, ...] = ()) -> Sentence:
        return self.fill(self.pick(self.book.customer[slot]), tags)

    def attitude(self) -> Sentence:
        """The agent's politeness slot: a cue sentence when politeness is in the words, else filler."""
        if not self.s.politeness_in_words:
            return self.agent("filler")
        if self.s.agent_politeness == "polite":
            return self.agent("polite", ("cue",))
        if self.rude_forbidden_left > 0:
            self.rude_forbidden_left -= 1
            forbidden = self.book.agent["rude_forbidden"]
            phrase = self.pick(sorted(forbidden))
            return self.fill(self.pick(forbidden[phrase]), ("cue",), forbidden=(phrase,))
        return self.agent("rude", ("cue",))

    def feeling(self, neutral_slot: str = "filler") -> Sentence:
        """The customer's emotion slot: a cue sentence when the emotion is in the words, else neutral."""
        if self.s.emotion_in_words:
            return self.customer(self.s.customer_emotion, ("cue",))
        return self.customer(neutral_slot)

    def pii_sentence(self, kind: str) -> Sentence:
        p = self.s.pii
        value, ptype = {"card": (p.card_number, "card_number"), "phone": (p.phone_number, "phone_number"),
                        "email": (p.email, "email")}[kind]
        mention = PiiMention(ptype, value, self.fields[kind], "customer")  # type: ignore[arg-type]
        return self.fill(self.pick(self.book.customer["item_answer"][kind]), ("pii",), (mention,))


def _either(rng: np.random.Generator, first: Sentence, second: Sentence) -> tuple[Sentence, ...]:
    return (first, second) if rng.random() < 0.5 else (second, first)


def write_script(scenario: Scenario, book: PhraseBook | None = None) -> tuple[ScriptTurn, ...]:
    """The turns of ``scenario``'s call, in order, with the pauses between them."""
    book = book or phrase_book()
    rng = call_rng(scenario.seed, scenario.index, 1)
    w = _Writer(scenario, rng, book)
    s = scenario
    if s.agent_politeness == "rude" and s.politeness_in_words:
        w.rude_forbidden_left = int(rng.choice([0, 1, 2], p=[0.25, 0.45, 0.30]))
    turns: list[tuple[Speaker, tuple[Sentence, ...], dict]] = []

    def say(speaker: Speaker, *sentences: Sentence, **options) -> None:
        turns.append((speaker, tuple(sentences), options))

    opening = [w.agent("greeting", ("greeting",)) if s.greeting else w.agent("opening_plain")]
    if s.disclosure and not s.disclosure_late:
        opening.append(w.agent("disclosure", ("disclosure",)))
    say("agent", *opening)
    say("customer", *_either(rng, w.fill(w.topic["problem"]), w.feeling()))
    if s.verification:
        say("agent", w.attitude(), w.fill(w.pick(book.agent["verify_request"][s.verification]), ("verification",)))
        answer = w.fill(w.pick(book.customer["verify_answer"][s.verification]), ("verification_answer",))
        if s.verification == "full_name":
            name = f"{s.pii.first_name} {s.pii.last_name}"
            answer = Sentence(answer.text, answer.tags, (PiiMention("person_name", name, name, "customer"),))
        say("customer", answer)
        say("agent", w.agent("verify_ok"), w.fill(w.topic["detail_question"]))
    else:
        say("agent", w.attitude(), w.fill(w.topic["detail_question"]))
    say("customer", w.fill(w.topic["detail_answer"]))

    items = [k for k, v in (("card", s.pii.card_number), ("phone", s.pii.phone_number),
                            ("email", s.pii.email)) if v]
    for k, kind in enumerate(items):
        lead = (w.agent("item_thanks"),) if k > 0 else ()
        say("agent", *lead, w.fill(w.pick(book.agent["item_request"][kind])))
        say("customer", w.pii_sentence(kind))
    if s.disclosure_late:
        say("agent", w.agent("disclosure_late", ("disclosure",)), min_start=15.5)
        say("customer", w.customer("reaction"))
    if s.hold_seconds is not None:
        say("agent", w.agent("hold", ("hold",)))
        say("agent", w.agent("hold_back"), w.fill(w.topic["finding"]), hold=s.hold_seconds)
        say("customer", *_either(rng, w.fill(w.topic["question"]), w.feeling()))
        say("agent", w.attitude(), w.fill(w.topic["answer"]))
    else:
        say("agent", w.attitude(), w.fill(w.topic["finding"]))
        say("customer", *_either(rng, w.fill(w.topic["question"]), w.feeling()))
        say("agent", w.fill(w.topic["answer"]))

    # small talk until the call has its target length, before the resolution
    closing_turns = 2 + (3 if s.closing else 1)
    extras = book.agent["small_talk"]
    order = rng.permutation(len(extras))
    k = 0
    while len(turns) + closing_turns + 2 <= s.target_turns and k < len(order):
        question, answer = (part.strip() for part in extras[int(order[k])].split("|"))
        say("agent", w.fill(question))
        say("customer", w.fill(answer))
        k += 1

    say("agent", w.agent(s.resolution, ("resolution",)))
    say("customer", w.feeling("reaction"))
    if s.closing:
        say("agent", w.agent("closing_offer", ("closing",)))
        say("customer", w.customer("after_closing_offer"))
        say("agent", w.agent("farewell", ("farewell",)))
    else:
        say("agent", w.agent("ending_plain"))
    return _timed(scenario, turns, rng)


def _interruptible(turns: list, k: int) -> bool:
    """Turn ``k`` may start over the end of turn ``k - 1``: the other party, nothing that must stay clean."""
    if k < 2 or turns[k][0] == turns[k - 1][0]:
        return False
    clean = ("greeting", "disclosure", "verification", "verification_answer", "closing", "farewell", "hold")
    for speaker, sentences, options in (turns[k - 1], turns[k]):
        if options.get("hold") or options.get("min_start"):
            return False
        if any(set(x.tags) & set(clean) or x.pii or x.forbidden for x in sentences):
            return False
    return True


def _timed(scenario: Scenario, turns: list, rng: np.random.Generator) -> tuple[ScriptTurn, ...]:
    candidates = [k for k in range(len(turns)) if _interruptible(turns, k)]
    count = min(scenario.interruptions, len(candidates))
    chosen = set(int(k) for k in rng.choice(candidates, size=count, replace=False)) if count else set()
    out = []
    for k, (speaker, sentences, options) in enumerate(turns):
        gap = float(rng.uniform(*TURN_GAP))
        style = scenario.agent_style if speaker == "agent" else scenario.customer_style
        gap = max(0.15, gap * style.gap_scale)
        if k in chosen:
            gap = -float(rng.uniform(*INTERRUPT_GAP))
        hold = options.get("hold")
        out.append(ScriptTurn(speaker, sentences, hold if hold else gap, hold=bool(hold),
                              min_start=float(options.get("min_start", 0.0))))
    return tuple(out)
