"""PII redaction of a call's words, turn text and audio.

Detection (:func:`find_pii`) runs on the raw words of each speaker, read as one text in time order
(a pause of ``SENTENCE_GAP`` s or more becomes a sentence break), so a card number said in groups over
several turns is still one number; what either party said in the ``CONTEXT_SECONDS`` before a number
tells what kind it is. A customer's reply to a request for a number that the ASR garbled beyond
recognition is redacted whole (:func:`request_replies`). Each entity becomes a :class:`PiiSpan`: its
type, the indices of the words that said it, and their time span.

Stored text replaces every entity's words by one placeholder word spanning their time
(:func:`redact_words`, :func:`redact_turns`): ``[CARD_NUMBER]``, ``[PHONE_NUMBER]``, ``[EMAIL]``,
``[PERSON]``, ``[NATIONAL_ID]``, and ``[NUMBER]`` for a long number of unknown kind. Rule evidence is
masked the same way through :func:`word_mask` (see :func:`qc.rules.evaluate_rules`).

Audio redaction (:func:`redact_audio`) silences (or bleeps) each entity's time span, padded by
``AUDIO_PAD`` s either side since word timestamps are approximate, on *all* channels: in a stereo
call the other channel carries the speaker's voice too (line echo, cross-talk), so silencing only the
speaker's own channel would leave the digits audible.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from qc.conversation import union
from qc.pii.engine import DEFAULT_SPACY_MODEL, Detection, detect
from qc.records import Turn, Word

KINDS = ("CARD_NUMBER", "PHONE_NUMBER", "EMAIL", "PERSON", "NATIONAL_ID", "NUMBER")
CONTEXT_SECONDS = 15.0  # words said this long before a number count as its context (either party)
SENTENCE_GAP = 3.0  # s between one speaker's words that ends a sentence for detection
AUDIO_PAD = 0.25  # s of audio redacted either side of an entity's words
BLEEP_HZ = 1000.0
BLEEP_LEVEL = 0.1  # amplitude (-20 dBFS)


def placeholder(kind: str) -> str:
    return f"[{kind}]"


@dataclass(frozen=True)
class PiiSpan:
    """One PII entity said in the call: its type, the words that said it (indices into the call's
    words, one speaker, in time order), their time span and channel, and the detection's score."""

    kind: str
    words: tuple[int, ...]
    start: float
    end: float
    channel: int
    speaker: str
    score: float
    source: str

    @property
    def placeholder(self) -> str:
        return placeholder(self.kind)


def speaker_text(words: Sequence[Word], indices: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """One speaker's words as text, and each word's character span in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    previous: Word | None = None
    for i in indices:
        w = words[i]
        if previous is not None:
            # a standalone period: a sentence break for spaCy, and no number runs across it
            sep = " . " if w.start - previous.end >= SENTENCE_GAP else " "
            parts.append(sep)
            pos += len(sep)
        spans.append((pos, pos + len(w.text)))
        parts.append(w.text)
        pos += len(w.text)
        previous = w
    return "".join(parts), spans


def _spans_for(words: Sequence[Word], indices: Sequence[int], detections: Sequence[Detection]) -> list[PiiSpan]:
    """Map character-level detections back to words: each word takes the best detection covering
    it; consecutive words with the same detection form one span."""
    _, char_spans = speaker_text(words, indices)
    owner: list[int | None] = []
    for a, b in char_spans:
        best = None
        for k, d in enumerate(detections):
            if d.start < b and a < d.end and (best is None or (d.score, d.end - d.start) >
                                              (detections[best].score, detections[best].end - detections[best].start)):
                best = k
        owner.append(best)
    out: list[PiiSpan] = []
    run: list[int] = []
    for pos, k in enumerate(owner + [None]):
        if run and (k is None or k != owner[run[-1]]):
            d = detections[owner[run[-1]]]  # type: ignore[index]
            ws = [words[indices[p]] for p in run]
            out.append(PiiSpan(kind=d.kind, words=tuple(indices[p] for p in run), start=min(w.start for w in ws),
                               end=max(w.end for w in ws), channel=ws[0].channel, speaker=ws[0].speaker,
                               score=d.score, source=d.source))
            run = []
        if k is not None:
            run.append(pos)
    return out


NUMBER_KINDS = ("CARD_NUMBER", "PHONE_NUMBER", "NATIONAL_ID", "NUMBER")
MIN_SPOKEN_SECONDS = 0.3  # a number said in less time is an ASR hallucination, not somebody's data


def find_pii(words: Sequence[Word], spacy_model: str = DEFAULT_SPACY_MODEL) -> list[PiiSpan]:
    """Every PII entity in the call's words (raw, in time order), sorted by start time: what the
    text says (:func:`qc.pii.detect` per speaker, with the last ``CONTEXT_SECONDS`` of everybody's
    words as context for numbers), plus the replies to requests for a number that the ASR garbled
    beyond recognition (:func:`request_replies`)."""
    by_speaker: dict[tuple[int, str], list[int]] = {}
    for i, w in enumerate(words):
        by_speaker.setdefault((w.channel, w.speaker), []).append(i)
    starts = sorted(range(len(words)), key=lambda i: words[i].start)
    start_times = [words[i].start for i in starts]
    out: list[PiiSpan] = []
    for indices in by_speaker.values():
        indices.sort(key=lambda i: (words[i].start, i))
        text, char_spans = speaker_text(words, indices)
        offsets = [a for a, _ in char_spans]

        def context(offset: int, indices=indices, offsets=offsets) -> list[str]:
            """Everybody's words in the CONTEXT_SECONDS before the word at ``offset``."""
            t = words[indices[max(0, bisect.bisect_right(offsets, offset) - 1)]].start
            lo = bisect.bisect_left(start_times, t - CONTEXT_SECONDS)
            hi = bisect.bisect_left(start_times, t)
            return [words[i].text for i in starts[lo:hi]]

        detections = detect(text, spacy_model, context=context)
        if detections:
            out += [s for s in _spans_for(words, indices, detections)
                    if s.kind not in NUMBER_KINDS or s.end - s.start >= MIN_SPOKEN_SECONDS]
    out += request_replies(words, out)
    out = absorb_fragments(words, out)
    return sorted(out, key=lambda s: (s.start, s.channel))


FRAGMENT_GAP = 3  # non-number words a number's stray digits may be apart from it
FRAGMENT_SECONDS = 2.0


def absorb_fragments(words: Sequence[Word], spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Number spans grown over the stray digits the ASR split off them ("for 4. I do 8 year old,
    [card]"): the same speaker's number words at most ``FRAGMENT_GAP`` words and
    ``FRAGMENT_SECONDS`` away, and the words between, join the span (the digits of a card number are
    PII even one group at a time)."""
    from qc.pii.spoken import is_number_word

    taken = {i for s in spans for i in s.words}
    out = []
    for s in spans:
        if s.kind not in NUMBER_KINDS:
            out.append(s)
            continue
        own = sorted((i for i, w in enumerate(words) if w.speaker == s.speaker and w.channel == s.channel),
                     key=lambda i: words[i].start)
        pos = {i: k for k, i in enumerate(own)}
        first, last = pos[s.words[0]], pos[s.words[-1]]
        for step in (-1, 1):
            edge = first if step < 0 else last
            k = edge + step
            while 0 <= k < len(own) and abs(k - edge) <= FRAGMENT_GAP + 1 and own[k] not in taken:
                near = abs(words[own[k]].start - words[own[edge]].start) <= FRAGMENT_SECONDS + abs(k - edge)
                if not near:
                    break
                if is_number_word(words[own[k]].text):
                    edge = k
                k += step
            if step < 0:
                first = edge
            else:
                last = edge
        grown = tuple(own[first:last + 1])
        taken |= set(grown)
        said = [words[i] for i in grown]
        out.append(dataclasses.replace(s, words=grown, start=min(w.start for w in said), end=max(w.end for w in said)))
    return out


# --- replies to a request for a number ----------------------------------------------------------

REQUEST_STARTS = {"can", "could", "may", "what", "whats", "would", "please", "give", "read", "tell"}
DISCOURSE = {"and", "so", "okay", "ok", "right", "alright", "now", "then", "well"}
REQUEST_KINDS = {"number": "NUMBER", "email": "EMAIL"}
# "the last four digits", "your full name", "date of birth": verification, whose answers are not
# whole numbers (names are found in the text by the NER model)
NOT_A_NUMBER_REQUEST = {"last", "digits", "name", "identity", "birth"}
REPLY_SECONDS = 20.0  # a reply longer than this is not an answer to the request
REQUEST_PAUSE = 1.5  # s between an agent's words that ends a sentence (for requests)


def _token(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _sentences(words: Sequence[Word], role: str) -> list[list[int]]:
    """The role's words (indices, in time order) split into sentences at final punctuation and pauses."""
    out: list[list[int]] = []
    last_end = None
    for i in sorted((i for i, w in enumerate(words) if w.role == role), key=lambda i: words[i].start):
        if not out or last_end is None or words[i].start - last_end > REQUEST_PAUSE \
                or words[out[-1][-1]].text.rstrip().endswith((".", "?", "!")):
            out.append([])
        out[-1].append(i)
        last_end = words[i].end
    return out


def request_kind(tokens: Sequence[str], question: bool = False) -> str | None:
    """The kind of PII an agent's sentence (tokens: lower case, no punctuation) asks for ("could you
    read me the card number", "what is the best phone number to reach you on", "... number please"),
    or None for anything else: statements ("I can see no payments on the card"), yes/no questions
    ("is this still the best number to call?") and verification questions ("the last four digits").
    ``question``: the sentence ended with a question mark (then a request word anywhere will do:
    ASR often garbles the start, "and you thought that could you give me a contact phone number?")."""
    from qc.pii.spoken import context_kind

    k = 0
    while k < len(tokens) and tokens[k] in DISCOURSE:
        k += 1
    if k == len(tokens) or NOT_A_NUMBER_REQUEST & set(tokens):
        return None
    asking = tokens[k] in REQUEST_STARTS or "please" in tokens or (question and bool(REQUEST_STARTS & set(tokens)))
    if not asking:
        return None
    kind = context_kind(tokens)
    if kind is None:
        kind = next((REQUEST_KINDS[t] for t in reversed(tokens) if t in REQUEST_KINDS), None)
    return kind


def request_replies(words: Sequence[Word], found: Sequence[PiiSpan]) -> list[PiiSpan]:
    """When the agent asks for a number (card, phone, or a number of unknown kind) or an e-mail
    address and the customer's reply holds no detected number (the ASR garbled the digits: "seven
    six seven" heard as "San Francisco"), the whole reply is redacted as what was asked for, with
    score 0.4: better a few words too many than a card number left in the audio. The reply is the
    customer's words from the end of the request until the agent speaks again (at most
    ``REPLY_SECONDS``)."""
    covered = {i for s in found for i in s.words}
    agent_starts = sorted(w.start for w in words if w.role == "agent")
    out: list[PiiSpan] = []
    for sentence in _sentences(words, "agent"):
        kind = request_kind([t for t in (_token(words[i].text) for i in sentence) if t],
                            question=words[sentence[-1]].text.rstrip().endswith("?"))
        if kind is None:
            continue
        asked_at = words[sentence[-1]].end
        nxt = bisect.bisect_right(agent_starts, asked_at + 0.5)
        until = min(agent_starts[nxt] if nxt < len(agent_starts) else float("inf"), asked_at + REPLY_SECONDS)
        reply = sorted((i for i, w in enumerate(words)
                        if w.role == "customer" and asked_at - 0.5 <= w.start < until), key=lambda i: words[i].start)
        if not reply or covered & set(reply):
            continue
        said = [words[i] for i in reply]
        out.append(PiiSpan(kind=kind, words=tuple(reply), start=min(w.start for w in said),
                           end=max(w.end for w in said), channel=said[0].channel, speaker=said[0].speaker,
                           score=0.4, source="ReplyToRequest"))
        covered |= set(reply)
    return out


def word_mask(n_words: int, spans: Sequence[PiiSpan]) -> list[str | None]:
    """For each word of the call, the placeholder that replaces it, or None."""
    mask: list[str | None] = [None] * n_words
    for s in spans:
        for i in s.words:
            mask[i] = s.placeholder
    return mask


def redact_words(words: Sequence[Word], spans: Sequence[PiiSpan]) -> list[Word]:
    """The words with each entity's words replaced by one placeholder word spanning their time."""
    first = {s.words[0]: s for s in spans}
    dropped = {i for s in spans for i in s.words[1:]}
    out: list[Word] = []
    for i, w in enumerate(words):
        if i in dropped:
            continue
        span = first.get(i)
        if span is None:
            out.append(w)
            continue
        said = [words[j] for j in span.words]
        out.append(dataclasses.replace(w, start=span.start, end=span.end, text=span.placeholder,
                                       probability=min(x.probability for x in said),
                                       overlap=any(x.overlap for x in said)))
    out.sort(key=lambda w: (w.start, w.channel))
    return out


def redact_turns(turns: Sequence[Turn], redacted_words: Sequence[Word]) -> list[Turn]:
    """Turns whose text is rebuilt from the redacted words (same assignment as the pipeline's)."""
    from qc.transcribe import attach_text

    return attach_text(turns, redacted_words)


def audio_spans(spans: Sequence[PiiSpan], pad: float = AUDIO_PAD) -> list[tuple[float, float]]:
    """The time spans to redact in the audio: each entity's span padded by ``pad``, merged."""
    return union([(max(0.0, s.start - pad), s.end + pad) for s in spans])


def redact_audio(source: Path, out: Path, spans: Sequence[tuple[float, float]],
                 mode: Literal["silence", "bleep"] = "silence", block_frames: int = 1 << 16) -> Path:
    """Write ``source`` to ``out`` (WAV, same sample rate and channels) with ``spans`` (seconds)
    silenced, or replaced by a tone, on all channels. Streams in blocks (bounded memory); writes a
    temporary file next to ``out`` and renames it, so ``out`` is either absent or complete."""
    info = sf.info(str(source))
    rate, channels = int(info.samplerate), int(info.channels)
    subtype = info.subtype if sf.check_format("WAV", info.subtype) else "PCM_16"
    samples = sorted((max(0, math.floor(a * rate)), math.ceil(b * rate)) for a, b in spans if b > a)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with sf.SoundFile(str(tmp), "w", samplerate=rate, channels=channels, subtype=subtype, format="WAV") as dst:
            pos = 0
            for block in sf.blocks(str(source), blocksize=block_frames, dtype="float64", always_2d=True):
                n = len(block)
                for a, b in samples:
                    lo, hi = max(a - pos, 0), min(b - pos, n)
                    if lo >= hi:
                        continue
                    if mode == "silence":
                        block[lo:hi] = 0.0
                    else:
                        t = (pos + np.arange(lo, hi)) / rate
                        block[lo:hi] = (BLEEP_LEVEL * np.sin(2 * np.pi * BLEEP_HZ * t))[:, None]
                dst.write(block)
                pos += n
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
