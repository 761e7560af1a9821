"""Numbers said aloud, as ASR writes them: "four one one one", "4111 1111", "double five", "oh".

PII libraries look for numbers written the way people type them; a transcript holds them the way
people say them, split into groups, in words or digits or both, with fillers between. This module
reads such runs back into digit strings and decides which are card numbers (Luhn-checked, via
python-stdnum), phone numbers (``phonenumbers``) or national-id-like numbers (US SSN rules, via
python-stdnum), reporting character spans in the text so the caller can map them to words.

Words that only *sound* like digits ("for", "to", "too", "won", "ate", "oh", "o", "I'm") count as digits
inside a run of unambiguous ones; at a run's edges they are kept only when that makes the number
valid. When ASR garbles the digits so that nothing validates, the conversation's context (the agent
asking for the card number) still marks the run as PII (see :func:`find_spoken_numbers`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DIGIT_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
               "seven": "7", "eight": "8", "nine": "9", "niner": "9"}
# what ASR writes for a digit said alone: "for" four, "to" two, "I'm" nine (n-ai-n on a phone line)
SOUND_ALIKES = {"oh": "0", "o": "0", "for": "4", "to": "2", "too": "2", "won": "1", "ate": "8", "i'm": "9",
                "im": "9"}
TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
         "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
        "eighty": "8", "ninety": "9"}
REPEATS = {"double": 2, "triple": 3}
FILLERS = {"uh", "um", "er", "ah", "erm", "hmm", "mm"}

# Context words: what the speakers call the number about to be said ("number" alone says nothing).
CARD_WORDS = {"card", "visa", "mastercard", "amex", "discover", "credit", "debit", "cvv", "expiry"}
PHONE_WORDS = {"phone", "callback", "reach", "mobile", "cell", "cellphone", "telephone", "contact"}
ID_WORDS = {"social", "security", "ssn", "insurance", "national", "id", "identification", "taxpayer", "passport"}
CONTEXT_KINDS = {**{w: "NATIONAL_ID" for w in ID_WORDS}, **{w: "PHONE_NUMBER" for w in PHONE_WORDS},
                 **{w: "CARD_NUMBER" for w in CARD_WORDS}}
_RANK = {"CARD_NUMBER": 0, "PHONE_NUMBER": 1, "NATIONAL_ID": 2}
CONTEXT_TOKENS = 12  # how far back (tokens) context words are looked for in the text itself
MIN_RUN_DIGITS = 7  # shorter runs are amounts, dates, the last four digits: never redacted
MIN_REST_DIGITS = 4  # digits a context-only detection needs
CONTEXT_SCORE = 0.5
MIN_UNNAMED_DIGITS = 8  # a longer number nobody named is still somebody's identifier
UNNAMED_SCORE = 0.45

_TOKEN = re.compile(r"\S+")
_STRIP = ".,;:!?\"'()[]{}-"
_NUMERIC = re.compile(r"\d[\d\-./(),]*")


@dataclass(frozen=True)
class _Unit:
    """One token's contribution to a number: its digits, or its role in the grammar."""

    token: int  # index of the token in the text
    start: int  # character span of the token in the text
    end: int
    digits: str = ""
    ambiguous: bool = False  # a sound-alike word
    filler: bool = False
    repeat: int = 0  # "double" / "triple": repeat the next digit
    tens: str = ""  # "twenty": a tens digit waiting for its unit
    hundred: bool = False


@dataclass(frozen=True)
class SpokenNumber:
    """A number found in text: its type, digits, character span and a confidence in 0..1."""

    kind: str  # CARD_NUMBER | PHONE_NUMBER | NATIONAL_ID | NUMBER
    digits: str
    start: int
    end: int
    score: float


def _unit(k: int, m: re.Match) -> _Unit | None:
    raw = m.group(0)
    word = raw.strip(_STRIP).lower()
    lead = len(raw) - len(raw.lstrip(_STRIP))
    start, end = m.start() + lead, m.start() + lead + len(word)
    if not word:
        return None
    if _NUMERIC.fullmatch(word):
        return _Unit(k, start, end, digits=re.sub(r"\D", "", word))
    parts = word.split("-")
    if len(parts) > 1:  # "four-one-one-one", "twenty-one"
        digits = _parse_words(parts)
        return _Unit(k, start, end, digits=digits) if digits else None
    if word in DIGIT_WORDS:
        return _Unit(k, start, end, digits=DIGIT_WORDS[word])
    if word in SOUND_ALIKES:
        return _Unit(k, start, end, digits=SOUND_ALIKES[word], ambiguous=True)
    if word in TEENS:
        return _Unit(k, start, end, digits=TEENS[word])
    if word in TENS:
        return _Unit(k, start, end, tens=TENS[word])
    if word in REPEATS:
        return _Unit(k, start, end, repeat=REPEATS[word])
    if word == "hundred":
        return _Unit(k, start, end, hundred=True)
    if word in FILLERS:
        return _Unit(k, start, end, filler=True)
    return None


def is_number_word(text: str) -> bool:
    """A token that says digits: numerals, digit words, sound-alikes, teens, tens, "double"."""
    u = _unit(0, re.match(r"\S+", text.strip() or "x"))
    return u is not None and not u.filler


def _parse_words(parts: list[str]) -> str:
    """Digits of a hyphenated number word ("four-one", "twenty-one"), or "" if it is not one."""
    out = ""
    i = 0
    while i < len(parts):
        p = parts[i]
        if p in DIGIT_WORDS:
            out += DIGIT_WORDS[p]
        elif p in SOUND_ALIKES and p not in ("to", "for"):
            out += SOUND_ALIKES[p]
        elif p in TEENS:
            out += TEENS[p]
        elif p in TENS:
            if i + 1 < len(parts) and parts[i + 1] in DIGIT_WORDS and parts[i + 1] not in ("zero",):
                out += TENS[p] + DIGIT_WORDS[parts[i + 1]]
                i += 1
            else:
                out += TENS[p] + "0"
        elif p.isdigit():
            out += p
        else:
            return ""
        i += 1
    return out


def _runs(units: list[_Unit | None]) -> list[list[_Unit]]:
    """Maximal runs of consecutive number tokens (fillers allowed inside a run, not at its ends)."""
    runs: list[list[_Unit]] = []
    current: list[_Unit] = []
    for u in units + [None]:
        if u is not None and (current or not u.filler):
            current.append(u)
            continue
        while current and current[-1].filler:
            current.pop()
        if current:
            runs.append(current)
        current = []
    return runs


def _digits(units: list[_Unit]) -> str:
    """The digit string a run of units says ("double five" -> 55, "twenty one" -> 21, "eight
    hundred" -> 800); fillers say nothing."""
    out = ""
    i = 0
    while i < len(units):
        u = units[i]
        if u.repeat and i + 1 < len(units) and len(units[i + 1].digits) == 1:
            out += units[i + 1].digits * u.repeat
            i += 2
            continue
        if u.tens:
            nxt = units[i + 1] if i + 1 < len(units) else None
            if nxt is not None and len(nxt.digits) == 1 and nxt.digits != "0" and not nxt.ambiguous:
                out += u.tens + nxt.digits
                i += 2
                continue
            out += u.tens + "0"
        elif u.hundred:
            out += "00"
        else:
            out += u.digits
        i += 1
    return out


def _lead(run: list[_Unit]) -> int:
    """Index of the run's first unambiguous unit (a stretch may start at or before it)."""
    return next((k for k, u in enumerate(run) if not u.ambiguous), 0)


def _trail(run: list[_Unit]) -> int:
    """Index of the run's last unambiguous unit (a stretch may end at or after it)."""
    return next((k for k in range(len(run) - 1, -1, -1) if not run[k].ambiguous), len(run) - 1)


def _classify(digits: str) -> tuple[str, float] | None:
    """(kind, score) of a digit string that is a valid number on its own, or None."""
    from stdnum import luhn
    from stdnum.us import ssn

    n = len(digits)
    if _monotone(digits):
        return None
    if 13 <= n <= 19 and luhn.is_valid(digits):
        return "CARD_NUMBER", 1.0
    if 10 <= n <= 16:
        score = _phone(digits)
        if score:
            return "PHONE_NUMBER", score
    if n == 9 and ssn.is_valid(digits):
        return "NATIONAL_ID", 0.7
    return None


def _monotone(digits: str) -> bool:
    """One or two digits over and over ("0 0 0 0 0", "2 3 2 3 2 3"), give or take a slip: what ASR
    hallucinates in noise or when it loops, nobody's number."""
    if len(digits) < 5:
        return False
    for period in (1, 2):
        pattern = (digits[:period] * len(digits))[:len(digits)]
        if sum(a == b for a, b in zip(digits, pattern)) >= 0.9 * len(digits):
            return True
    return False


def context_kind(words: Iterable[str]) -> str | None:
    """The kind of number the last context word in ``words`` (in speaking order) asks for. Words
    match with one letter missing, added or changed at the end, as ASR writes them ("car number",
    "phones")."""
    kind = None
    for w in words:
        kind = _context_word(w.strip(_STRIP).lower()) or kind
    return kind


@functools.lru_cache(maxsize=4096)
def _context_word(word: str) -> str | None:
    if word in CONTEXT_KINDS:
        return CONTEXT_KINDS[word]
    if len(word) < 3:
        return None
    for key, kind in CONTEXT_KINDS.items():
        if len(key) >= 4 and abs(len(key) - len(word)) <= 1 and key[:3] == word[:3] \
                and sum(a != b for a, b in zip(key, word)) <= 1 - (len(key) != len(word)):
            return kind
    return None


_NANP = re.compile(r"1?[2-9]\d{2}[2-9]\d{6}")


def _phone(digits: str) -> float | None:
    """Score of a phone number: North American (10 digits, or 11 with the leading 1), or international
    dialled with its exit code (00 / 011); None if it is not one."""
    import phonenumbers

    if digits.startswith("011"):
        text, region = "+" + digits[3:], None
    elif digits.startswith("00"):
        text, region = "+" + digits[2:], None
    elif _NANP.fullmatch(digits):
        text, region = digits, "US"
    else:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return 0.8
    # fictional (555-01xx) and unassigned numbers in the North American format: still someone's number
    return 0.5 if region == "US" else None


def find_spoken_numbers(text: str, context: Callable[[int], Iterable[str]] | None = None) -> list[SpokenNumber]:
    """Card, phone and national-id numbers in ``text``, said in words, digits or a mix.

    A *run* is a stretch of number tokens (fillers allowed inside). Within a run the longest valid
    stretch wins (Luhn-valid cards before phone numbers before SSN-valid ids). A card may start at
    the run's start or end at its end (on token boundaries), so a card number followed by its expiry
    date is still found; phone numbers and ids must be the whole run. A number is never picked out
    of the middle of a longer one (any long digit string holds some valid-looking phone number).

    ASR often mishears digits, so a number that fails validation is still PII when the conversation
    asked for it: in a run of at least ``MIN_RUN_DIGITS`` digits, what no valid number covers (at
    least ``MIN_REST_DIGITS`` digits of it) takes the kind of the last context word said before the
    run (``CARD_WORDS``, ``PHONE_WORDS``, ``ID_WORDS``), with score ``CONTEXT_SCORE``. Context is the
    ``CONTEXT_TOKENS`` tokens before the run in ``text``, or, when given, ``context(char_offset of
    the run)``: the caller's way to add what the other party said just before (the agent asking for
    the card number). A validated id needs context too (nine digits alone are too common).

    What is left after all that and still has ``MIN_UNNAMED_DIGITS`` digits is an identifier of
    unknown kind (an account number, or a card or phone number the ASR garbled and nobody named
    intelligibly): kind ``NUMBER``, score ``UNNAMED_SCORE``. A Luhn-invalid 16-digit string is thus
    never called a card without card words, but it is not left in the clear either.
    """
    matches = list(_TOKEN.finditer(text))
    tokens = [m.group(0) for m in matches]
    units = [_unit(k, m) for k, m in enumerate(matches)]
    found: list[SpokenNumber] = []
    for run in _runs(units):
        if len(_digits(run)) < MIN_RUN_DIGITS:
            continue
        said_before = (context(run[0].start) if context is not None
                       else tokens[max(0, run[0].token - CONTEXT_TOKENS):run[0].token])
        asked = context_kind(said_before)
        taken: list[tuple[int, int]] = []
        for _, neg_score, _, i, j, kind, digits in sorted(_candidates(run, asked)):
            if any(i <= b and a <= j for a, b in taken):
                continue
            taken.append((i, j))
            found.append(SpokenNumber(kind=kind, digits=digits, start=run[i].start, end=run[j].end,
                                      score=round(-neg_score, 3)))
        for i, j in _uncovered(run, taken):
            digits = _digits(run[i:j + 1])
            if _monotone(digits):
                continue
            if asked is not None and len(digits) >= MIN_REST_DIGITS:
                found.append(SpokenNumber(kind=asked, digits=digits, start=run[i].start, end=run[j].end,
                                          score=CONTEXT_SCORE))
            elif asked is None and len(digits) >= MIN_UNNAMED_DIGITS:
                found.append(SpokenNumber(kind="NUMBER", digits=digits, start=run[i].start, end=run[j].end,
                                          score=UNNAMED_SCORE))
    return sorted(found, key=lambda s: s.start)


def _candidates(run: list[_Unit], asked: str | None) -> list[tuple[int, float, int, int, int, str, str]]:
    """Valid stretches of a run, as sortable tuples (rank, -score, -length, i, j, kind, digits)."""
    lead, trail = _lead(run), _trail(run)
    out = []
    for i in range(len(run)):
        if run[i].filler:
            continue
        for j in range(i, len(run)):
            if run[j].filler or (i > lead and j < trail):
                continue
            digits = _digits(run[i:j + 1])
            if len(digits) > 19:
                break
            hit = _classify(digits)
            if hit is None:
                continue
            kind, score = hit
            partial = i > lead or j < trail
            if partial and (kind != "CARD_NUMBER" or asked not in (None, "CARD_NUMBER")):
                continue  # only a card is read out with more digits (its expiry date) beside it
            if kind == "NATIONAL_ID" and asked != "NATIONAL_ID":
                continue
            # sound-alikes at the edges only when they belong: prefer stretches without them
            score -= 0.05 * (run[i].ambiguous + run[j].ambiguous)
            out.append((_RANK[kind], -score, i - j, i, j, kind, digits))
    return out


def _uncovered(run: list[_Unit], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Maximal stretches of the run that no taken stretch covers, without fillers or sound-alikes
    at their edges."""
    free = [not any(a <= k <= b for a, b in taken) for k in range(len(run))]
    out = []
    k = 0
    while k < len(run):
        if not free[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(run) and free[j + 1]:
            j += 1
        i, e = k, j
        while i <= e and (run[i].filler or run[i].ambiguous):
            i += 1
        while e >= i and (run[e].filler or run[e].ambiguous):
            e -= 1
        if i <= e:
            out.append((i, e))
        k = j + 1
    return out
