"""The consistency guard: what the front end made of a call is checked against the call's own sound
before anything is measured, scored or stored, so that a call never comes out silently empty or full
of words nobody said.

A call gets a quality flag (a sentence saying what is wrong, with the numbers) when:

- speech was found but (almost) no words were read, or the words cover far less time than the speech;
- there is no speech at all, or only one party speaks (a voicemail, a one-sided recording);
- a turn holds text no person could have said: more words per second than speech allows, or a loop
  (the same words over and over, which Whisper writes when it cannot read the audio). Those words are
  not stored: the turn keeps its time (talk is talk) but not the invented text;
- the speech is in a language the ASR model does not read: when the words' confidence is low or text
  was invented, Whisper base (multilingual, shipped) identifies the language of the speech; if it is
  not English with confidence, no words are stored for the call.

A flagged call is stored, with its flags, and left out of pass-rate and score statistics
(:mod:`warehouse.queries`); the nightly summary counts it.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qc.records import Turn, Word

log = logging.getLogger("callqc.quality")

MAX_WORDS_PER_SECOND = 5.0  # fast speech is about 4 words a second
MIN_WORDS_CHECKED = 8  # a turn with fewer words is not judged on its rate
LOOP_REPEATS = 4  # an n-gram (n >= 2) said this many times in a row is a loop; a single word twice as often
LOOP_COMPRESSION = 2.4  # gzip ratio of a turn's text above which it is a loop (Whisper's own threshold)
MIN_SPEECH_S = 1.0  # less speech than this: no speech found
MIN_WORDS_PER_MINUTE = 20.0  # of speech; conversation runs at 120-180
MIN_WORD_COVERAGE = 0.2  # share of the speech's time that the words span
MIN_SPEECH_FOR_RATES_S = 5.0  # the two checks above need at least this much speech
LOW_CONFIDENCE = 0.6  # mean word probability under which the language of the speech is checked
LANGUAGE_CONFIDENCE = 0.5  # language identification probability needed to call the speech not English
LANGUAGE_SECONDS = 30.0  # of speech given to language identification
ASR_LANGUAGE = "en"


@dataclass(frozen=True)
class QualityCheck:
    """The words that may be stored as said, and the call's quality flags (empty: nothing found)."""

    words: tuple[Word, ...]
    flags: tuple[str, ...]
    language: str | None = None  # identified where the guard had to ask


def _norm(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def find_loop(tokens: Sequence[str]) -> tuple[str, int] | None:
    """The longest-running repeated n-gram (n = 1..6) in ``tokens`` and its count in a row, when it is
    a loop (:data:`LOOP_REPEATS` times for n >= 2, twice that for one word)."""
    toks = [t for t in (_norm(x) for x in tokens) if t]
    best: tuple[str, int] | None = None
    for n in range(1, 7):
        need = LOOP_REPEATS * (2 if n == 1 else 1)
        i = 0
        while i + n <= len(toks):
            gram = toks[i:i + n]
            k = 1
            while toks[i + k * n:i + (k + 1) * n] == gram:
                k += 1
            if k >= need and (best is None or k * n > best[1] * len(best[0].split())):
                best = (" ".join(gram), k)
            i += max(1, (k - 1) * n) if k > 1 else 1
    return best


def _compression(text: str) -> float:
    data = text.encode()
    return len(data) / max(1, len(gzip.compress(data)))


def _worst_compression(tokens: Sequence[str], size: int = 60) -> float:
    """The highest gzip ratio over stretches of ``size`` words (about Whisper's 30 s segment, where its
    threshold holds: a long text compresses better whether or not it repeats)."""
    worst = 0.0
    for i in range(0, max(1, len(tokens) - size // 2), size // 2):
        text = " ".join(tokens[i:i + size])
        if len(text) >= 60:
            worst = max(worst, _compression(text))
    return worst


def words_by_turn(turns: Sequence[Turn], words: Sequence[Word]) -> list[list[int]]:
    """For each turn, the indices of its words: each word goes to the nearest turn of its speaker (the
    one that holds its middle, else the closest; Whisper piles invented words at a window's end, past
    the turn)."""
    out: list[list[int]] = [[] for _ in turns]
    for i, w in enumerate(words):
        mid = (w.start + w.end) / 2
        best, dist = None, np.inf
        for k, t in enumerate(turns):
            if t.channel != w.channel or t.speaker != w.speaker:
                continue
            d = max(t.start - mid, mid - t.end, 0.0)
            if d < dist:
                best, dist = k, d
        if best is not None:
            out[best].append(i)
    return out


def invented_turns(turns: Sequence[Turn], words: Sequence[Word]) -> tuple[set[int], list[str]]:
    """Indices of words no person could have said, and a flag per turn they come from."""
    drop: set[int] = set()
    flags: list[str] = []
    for t, mine in zip(turns, words_by_turn(turns, words)):
        if len(mine) < MIN_WORDS_CHECKED:
            continue
        seconds = max(t.end - t.start, 0.5)
        rate = len(mine) / seconds
        tokens = [words[i].text for i in mine]
        loop = find_loop(tokens)
        why = None
        if rate > MAX_WORDS_PER_SECOND:
            why = f"{len(mine)} words in {seconds:.1f} s of speech ({rate:.0f} a second)"
        elif loop is not None:
            # (the loop's words are not quoted: stored flags must not hold what the PII redaction never saw)
            why = f"the same {len(loop[0].split())}-word phrase {loop[1]} times in a row"
        elif (ratio := _worst_compression(tokens)) > LOOP_COMPRESSION:
            why = f"text that repeats itself (compression ratio {ratio:.1f})"
        if why:
            drop.update(mine)
            flags.append(f"the turn at {t.start:.1f} s holds text no one could have said ({why}): "
                         "its words are not stored")
    return drop, flags


def _speech_seconds(turns: Sequence[Turn]) -> float:
    spans = sorted((t.start, t.end) for t in turns)
    total, end = 0.0, -np.inf
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _word_seconds(words: Sequence[Word]) -> float:
    spans = sorted((w.start, w.end) for w in words)
    total, end = 0.0, -np.inf
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def check_call(turns: Sequence[Turn], words: Sequence[Word], layout: str, speech_audio=None,
               identify_language=None, asr_language: str | None = ASR_LANGUAGE) -> QualityCheck:
    """The guard over one call's turns and words (roles applied).

    ``speech_audio()``: up to :data:`LANGUAGE_SECONDS` of the call's speech (16 kHz mono), and
    ``identify_language(audio)``: ``(language, probability)``; both are called only when the words'
    confidence is low or text was invented (without them, or with ``asr_language`` None for a model
    that reads any language, the language is not checked)."""
    flags: list[str] = []
    drop, invented = invented_turns(turns, words)
    flags += invented
    kept = [w for i, w in enumerate(words) if i not in drop]
    language = None
    probs = np.array([w.probability for w in kept]) if kept else np.zeros(0)
    suspect = bool(drop) or (len(kept) >= 3 and float(probs.mean()) < LOW_CONFIDENCE)
    foreign = False
    if suspect and asr_language and speech_audio is not None and identify_language is not None:
        audio = speech_audio()
        if audio is not None and len(audio) >= 16000:
            language, p = identify_language(audio)
            if language != asr_language and p >= LANGUAGE_CONFIDENCE:
                flags.append(f"the speech is in another language ({language}, {p:.0%} sure) than the ASR "
                             f"model reads ({asr_language}): no words are stored")
                kept, foreign = [], True
    if not foreign and len(kept) >= 3 and float(np.mean([w.probability for w in kept])) < LOW_CONFIDENCE:
        flags.append(f"the ASR read this call with low confidence (mean word probability "
                     f"{float(np.mean([w.probability for w in kept])):.2f}): its words may be wrong")
    speech = _speech_seconds(turns)
    if speech < MIN_SPEECH_S:
        flags.append(f"no speech found ({speech:.1f} s)")
    elif speech >= MIN_SPEECH_FOR_RATES_S:
        per_minute = len(kept) / (speech / 60)
        coverage = _word_seconds(kept) / speech
        if per_minute < MIN_WORDS_PER_MINUTE:
            flags.append(f"{speech:.0f} s of speech but {len(kept)} words ({per_minute:.0f} a minute): the "
                         "words of this call were not read")
        elif coverage < MIN_WORD_COVERAGE:
            flags.append(f"the words cover {coverage:.0%} of the {speech:.0f} s of speech: much of what was "
                         "said was not read")
    if speech >= MIN_SPEECH_S:
        talk = {role: sum(t.end - t.start for t in turns if t.role == role) for role in ("agent", "customer")}
        silent = [role for role, s in talk.items() if s == 0.0]
        if silent and layout == "stereo":
            flags.append(f"the {silent[0]}'s channel has no turns: the {silent[0]} never speaks")
        elif silent:
            flags.append(f"only one party speaks (no {silent[0]} talk): a voicemail or a one-sided recording")
    return QualityCheck(tuple(kept), tuple(flags), language)


def speech_sample(rec, turns: Sequence[Turn], seconds: float = LANGUAGE_SECONDS) -> np.ndarray | None:
    """Up to ``seconds`` of the call's speech, mixed to mono at the recording's rate, for language
    identification: the longest turns first (where the language shows best), joined."""
    parts, total = [], 0.0
    for t in sorted(turns, key=lambda t: t.end - t.start, reverse=True):
        take = min(t.end - t.start, seconds - total)
        if take <= 0.2:
            break
        x = rec.read(t.start, t.start + take, channel=t.channel if rec.channels > 1 else 0)
        parts.append(x.astype(np.float32))
        total += take
    return np.concatenate(parts) if parts else None
