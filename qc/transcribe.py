"""What was said: faster-whisper over the diarized speech, with word timestamps and speakers.

Only speech is transcribed: the diarization's turns (VAD-derived) select the audio, so silence never
reaches Whisper and cannot be "heard" as text. Speech regions of one channel are packed in order, with
a short pause between them, into chunks of at most ``CHUNK_SECONDS`` (one Whisper window each, so
Whisper's long-form seeking, which can skip half a minute of speech after a premature end of text,
never comes into play), read ``BATCH_CHUNKS`` at a time (bounded memory for calls of any length), and
their word times mapped back onto the call's timeline. Stereo channels are transcribed
separately (every window holds one channel's speech, so each word's speaker is its channel's), but
the windows of both channels are decoded in the same batches (:func:`transcribe_channels`); in mono
calls a word goes to the speaker whose turn covers most of it, and words spoken while two speakers
overlap are flagged ``overlap``.

Always ``condition_on_previous_text=False``: conditioning on earlier text can make Whisper drop or
repeat long stretches of a call. Always temperature 0 (beam search, no sampling fallback): the same
audio gives the same words. Whisper's fallback samples with CTranslate2's random generators, one per
worker thread, seeded once per process: one call's transcript came out 218 words in one process and
224 in the next, and changed with the calls decoded before it in the same process (its phone number
read as "819 -", as nothing, or as "7978"), so a rerun of a night stored other words and other scores.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qc.assets import load_whisper
from qc.audio import Recording
from qc.config import Settings
from qc.encoder_states import Placed, TurnStates, capturing, to_numpy
from qc.records import Turn, Word

CHUNK_SECONDS = 28.0  # audio per Whisper window (its native 30 s, with room for the gaps)
BATCH_CHUNKS = 8  # chunks read (and, batched, decoded) together: ~4 min of audio, however long the call
GAP_SECONDS = 0.25  # silence inserted between concatenated speech regions
REGION_PAD = 0.10  # audio kept either side of a turn (s)
MERGE_GAP = 0.40  # turns closer than this are read as one region (s)
SPLIT_SEARCH = 5.0  # a region longer than a chunk is cut at its quietest point in this last stretch (s)
NO_SPEECH_PROB = 0.6  # Whisper's own thresholds for "this segment was not speech"
LOGPROB_THRESHOLD = -1.0
COMPRESSION_RATIO = 2.4  # above this gzip ratio, Whisper's text is a repetition loop
# a window decoded into a repetition loop or improbable text is decoded again with these (deterministic,
# unlike Whisper's sampling fallback): on one call, a "My name is Mary Hill" loop over a card and a
# phone number became both numbers, read right
RETRIES = ({"repetition_penalty": 1.1}, {"no_repeat_ngram_size": 4})
UNHEARD_TAIL = 4.0  # a batched window with this long a stretch where no word starts skipped speech (s)
# Batches of at least this many windows go through the batched pipeline; a lone window is decoded the
# sequential way (timestamp tokens, seeking on inside the window): decoded batched (greedy, no
# timestamps) a lone window can stop early and drop the rest of its speech (bench/results/NOTES.md).
# A stereo call's quieter party rarely has a lone window: both channels' windows share batches
# (transcribe_channels).
BATCH_MIN_CLIPS = 2


def speech_regions(turns: Sequence[Turn], duration: float, pad: float = REGION_PAD,
                   merge_gap: float = MERGE_GAP) -> list[tuple[float, float]]:
    """Padded, merged time spans covering the turns."""
    spans = sorted((max(0.0, t.start - pad), min(duration, t.end + pad)) for t in turns if t.end > t.start)
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] <= merge_gap:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def split_long_regions(rec: Recording, channel: int | None, regions: list[tuple[float, float]],
                       limit: float = CHUNK_SECONDS - GAP_SECONDS) -> list[tuple[float, float]]:
    """Regions no longer than ``limit``: a longer one is cut at its quietest 50 ms in the
    ``SPLIT_SEARCH`` seconds before the limit, so a cut rarely falls inside a word."""
    out = []
    for a, b in regions:
        while b - a > limit:
            lo, hi = a + limit - SPLIT_SEARCH, a + limit
            audio = rec.read(lo, hi, channel) if channel is not None else rec.mono(lo, hi)
            step = int(0.05 * rec.sample_rate)
            frames = len(audio) // step
            if frames:
                energy = np.square(audio[: frames * step].reshape(frames, step), dtype=np.float64).mean(axis=1)
                cut = lo + (int(np.argmin(energy)) + 0.5) * step / rec.sample_rate
            else:
                cut = hi
            out.append((a, cut))
            a = cut
        out.append((a, b))
    return out


def _chunks(regions: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Regions packed in order into chunks of at most ``CHUNK_SECONDS`` (gaps included): each chunk
    is one Whisper window, so no long-form seeking can skip audio."""
    out: list[list[tuple[float, float]]] = []
    used = 0.0
    for a, b in regions:
        need = (b - a) + GAP_SECONDS
        if not out or used + need > CHUNK_SECONDS:
            out.append([])
            used = 0.0
        out[-1].append((a, b))
        used += need
    return out


def _batches(chunks: list[list[tuple[float, float]]]) -> list[list[list[tuple[float, float]]]]:
    return [chunks[k:k + BATCH_CHUNKS] for k in range(0, len(chunks), BATCH_CHUNKS)]


def _assemble(rec: Recording, batch: list[tuple[int | None, list[tuple[float, float]]]]
              ) -> tuple[np.ndarray, list[Placed], list[tuple[float, float]]]:
    """Batch audio (chunks one after the other, each from its own channel; ``None``: mixed down),
    where each region sits in it, and each chunk's span."""
    gap = np.zeros(int(GAP_SECONDS * rec.sample_rate), np.float32)
    parts, pieces, clips, offset = [], [], [], 0.0
    for channel, chunk in batch:
        chunk_start = offset
        for a, b in chunk:
            audio = rec.read(a, b, channel) if channel is not None else rec.mono(a, b)
            pieces.append(Placed(start=a, end=a + len(audio) / rec.sample_rate, offset=offset, channel=channel))
            parts += [audio, gap]
            offset += (len(audio) + len(gap)) / rec.sample_rate
        clips.append((chunk_start, offset))
    return np.concatenate(parts).astype(np.float32, copy=False), pieces, clips


def _piece_of(t: float, pieces: list[Placed]) -> Placed:
    """The piece holding batch time ``t`` (inside a gap: the nearer piece)."""
    k = bisect.bisect_right([p.offset for p in pieces], t) - 1
    if k < 0:
        return pieces[0]
    piece = pieces[k]
    if t > piece.batch_end and k + 1 < len(pieces) and pieces[k + 1].offset - t < t - piece.batch_end:
        return pieces[k + 1]
    return piece


def _to_call_time(start: float, end: float, pieces: list[Placed]) -> tuple[float, float, int | None]:
    """Map a word's batch-audio span to call time and channel, inside the one piece its midpoint falls
    in (a word never straddles the gap between two regions of the call)."""
    piece = _piece_of(0.5 * (start + end), pieces)
    length = piece.end - piece.start
    a = min(max(start - piece.offset, 0.0), length)
    b = min(max(end - piece.offset, a), length)
    return piece.start + a, piece.start + b, piece.channel


def transcribe_channels(rec: Recording, regions: dict[int | None, list[tuple[float, float]]], cfg: Settings,
                        model=None, states: TurnStates | None = None) -> dict[int | None, list[Word]]:
    """Words (speaker unset) recognised in the given regions of each channel (``None``: mixed down).

    Every Whisper window holds one channel's speech, but the windows of all channels go through the
    batched pipeline together: a stereo call's quieter party often has under ``CHUNK_SECONDS`` of
    speech, one window, which alone would be decoded the slow sequential way (see ``BATCH_MIN_CLIPS``).
    With ``states``, the encoder states of every window go to it.
    """
    model = model or load_whisper(cfg)
    if states is not None:
        model = capturing(model, states)
    tagged = [(channel, chunk) for channel, spans in regions.items()
              for chunk in _chunks(split_long_regions(rec, channel, spans))]
    words: dict[int | None, list[Word]] = {channel: [] for channel in regions}
    for batch in _batches(tagged):
        audio, pieces, clips = _assemble(rec, batch)
        for seg in _recognise(model, audio, clips, cfg, pieces if states is not None else None):
            if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOGPROB_THRESHOLD:
                continue  # Whisper itself says this was not speech
            for w in seg.words or ():
                text = w.word.strip()
                if not any(ch.isalnum() for ch in text):
                    continue  # a music note, a dash, a lone punctuation mark: nothing anyone said
                start, end, channel = _to_call_time(w.start, w.end, pieces)
                words[channel].append(Word(call_id=rec.call_id, start=round(start, 3), end=round(end, 3),
                                           text=text, probability=round(float(w.probability), 4),
                                           channel=channel if channel is not None else 0, speaker=""))
    return words


def transcribe_channel(rec: Recording, channel: int | None, regions: list[tuple[float, float]], cfg: Settings,
                       model=None) -> list[Word]:
    """Words (speaker unset) recognised in the given regions of one channel (``None``: mixed)."""
    return transcribe_channels(rec, {channel: regions}, cfg, model)[channel]


@dataclass(frozen=True)
class _Segment:
    words: tuple
    no_speech_prob: float
    avg_logprob: float


@dataclass(frozen=True)
class _TimedWord:
    start: float
    end: float
    word: str
    probability: float


def _recognise(model, audio: np.ndarray, clips: list[tuple[float, float]], cfg: Settings,
               pieces: list[Placed] | None = None):
    """Whisper segments of each chunk, word times in batch-audio seconds.

    ``cfg.asr_batch_size`` > 1 decodes the chunks together (faster-whisper's batched pipeline, greedy
    at one temperature); a chunk whose text looks like a decoding failure there (repetitive: gzip
    compression ratio above ``COMPRESSION_RATIO``, or improbable: mean log-probability below
    ``LOGPROB_THRESHOLD``), or that has ``UNHEARD_TAIL`` seconds of audio where no word starts
    (:func:`_unheard`: skipped words, or an early end of text), is decoded again alone, by beam search
    with timestamp tokens. Otherwise one chunk at a time. Either way every chunk is a single 30 s
    window, and decoding is deterministic (temperature 0: see the module docstring). With ``pieces``
    (``model`` is then a :func:`qc.encoder_states.capturing` view), each window's encoder states are
    captured the first time it is encoded.
    """
    batch_size = cfg.asr_batch_size
    if batch_size > 1 and len(clips) >= BATCH_MIN_CLIPS:
        if pieces is not None:
            model.expect([_window(clip, pieces) for clip in clips])
        segments, _ = _batched(model).transcribe(
            audio, clip_timestamps=[{"start": a, "end": b} for a, b in clips], batch_size=batch_size,
            without_timestamps=True, **_options(cfg))
        by_clip: list[list] = [[] for _ in clips]
        starts = [a for a, _ in clips]
        for seg in segments:
            k = max(0, bisect.bisect_right(starts, 0.5 * (seg.start + seg.end)) - 1)
            by_clip[k].append(seg)
        for clip, segs in zip(clips, by_clip):
            if any(_failed(seg) for seg in segs) or _unheard(clip, segs) > UNHEARD_TAIL:
                yield from _one_window(model, audio, clip, cfg)  # its states are captured already
            else:
                yield from segs  # times are already in batch-audio seconds
        return
    for clip in clips:
        if pieces is not None:
            model.expect([_window(clip, pieces)])
        yield from _one_window(model, audio, clip, cfg)


def _window(clip: tuple[float, float], pieces: list[Placed]) -> tuple[float, list[Placed]]:
    """A window's start in the batch audio and the call spans inside it."""
    return clip[0], [p for p in pieces if clip[0] - 1e-6 <= p.offset < clip[1]]


def _unheard(clip: tuple[float, float], segs: list) -> float:
    """The longest stretch of a batched window's audio (all speech: its regions are cut out and put
    side by side) in which no word starts, or after the last word ends. A window whose opening words
    were skipped reads like one that stopped early: one call's first 6 s (a greeting and the recording
    notice) came back as "I have the", starting at 6.2 s; decoded alone, all of it was there."""
    words = sorted((w.start, w.end) for seg in segs for w in (seg.words or ()))
    if not words:
        return clip[1] - clip[0]
    starts = [clip[0]] + [s for s, _ in words]
    inner = max(b - a for a, b in zip(starts, starts[1:])) if len(starts) > 1 else 0.0
    return max(inner, clip[1] - max(e for _, e in words))


def _failed(seg) -> bool:
    return (getattr(seg, "compression_ratio", 0.0) > COMPRESSION_RATIO
            or getattr(seg, "avg_logprob", 0.0) < LOGPROB_THRESHOLD)


def _options(cfg: Settings) -> dict:
    return dict(language=cfg.asr_language, beam_size=cfg.asr_beam_size, word_timestamps=True,
                condition_on_previous_text=False, vad_filter=False, temperature=0.0)


def _one_window(model, audio: np.ndarray, clip: tuple[float, float], cfg: Settings):
    """One window decoded alone; where Whisper's text looks like a decoding failure (:func:`_failed`),
    decoded again with each of ``RETRIES`` in turn until one is not, keeping the try with the fewest
    failed segments (then the most probable)."""
    a, b = clip
    rate = 16000
    window = audio[int(round(a * rate)):int(round(b * rate))]
    best: tuple[tuple[int, float], list] | None = None
    for extra in ({}, *RETRIES):
        segments = list(model.transcribe(window, without_timestamps=False, **_options(cfg), **extra)[0])
        failed = sum(_failed(seg) for seg in segments)
        key = (failed, -float(np.mean([seg.avg_logprob for seg in segments])) if segments else 0.0)
        if best is None or key < best[0]:
            best = (key, segments)
        if not failed:
            break
    for seg in best[1]:
        yield _Segment(words=tuple(_TimedWord(w.start + a, w.end + a, w.word, w.probability)
                                   for w in (seg.words or ())),
                       no_speech_prob=seg.no_speech_prob, avg_logprob=seg.avg_logprob)


def _batched(model):
    from faster_whisper import BatchedInferencePipeline

    return BatchedInferencePipeline(model)


class _TurnIndex:
    """Turns sorted by start, for finding those that overlap a time span without a full scan."""

    def __init__(self, turns: Sequence[Turn]):
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.longest = max((t.duration for t in self.turns), default=0.0)

    def overlapping(self, start: float, end: float) -> list[Turn]:
        """Turns sharing time with [start, end] (a zero-length span: turns containing it)."""
        hi = bisect.bisect_right(self.starts, end)
        lo = bisect.bisect_left(self.starts, start - self.longest - 1e-9)
        return [t for t in self.turns[lo:hi]
                if (min(end, t.end) - max(start, t.start) > 0) or (end == start and t.start <= start <= t.end)]

    def nearest(self, time: float) -> Turn:
        k = bisect.bisect_left(self.starts, time)
        near = self.turns[max(0, k - 1):k + 1] + self.overlapping(time, time)
        return min(near or self.turns, key=lambda t: min(abs(t.start - time), abs(t.end - time)))


def attribute_words(words: list[Word], turns: Sequence[Turn]) -> list[Word]:
    """Give each word the speaker whose turn overlaps it most; words in overtalk are flagged.

    A word spoken while two speakers' turns both cover it (overtalk in a mono call) is flagged
    ``overlap`` and given, when the coverage ties, to the speaker whose turn began earlier if it lies
    in the first half of the overtalk, else to the one who came in: Whisper reads the mixed audio in
    order, so the earlier speaker's words come first.
    """
    index = _TurnIndex(turns)
    if not index.turns:
        return list(words)
    out = []
    for w in words:
        cover: dict[str, float] = {}
        first_start: dict[str, float] = {}
        span: list[float] = [w.start, w.end]
        for t in index.overlapping(w.start, w.end):
            cover[t.speaker] = cover.get(t.speaker, 0.0) + max(min(w.end, t.end) - max(w.start, t.start), 1e-6)
            first_start[t.speaker] = min(first_start.get(t.speaker, t.start), t.start)
        if not cover:  # between turns: the nearest turn's speaker
            out.append(dataclasses.replace(w, speaker=index.nearest(w.midpoint).speaker, overlap=False))
            continue
        best = max(cover.values())
        tied = [s for s, v in cover.items() if v >= best - 0.02]
        if len(tied) > 1:
            both = [t for t in index.overlapping(w.start, w.end) if t.speaker in tied]
            span = [max(t.start for t in both), min(t.end for t in both)]  # the overtalk
            earlier = sorted(tied, key=lambda s: first_start[s])
            speaker = earlier[0] if w.midpoint < 0.5 * (span[0] + span[1]) else earlier[-1]
        else:
            speaker = tied[0]
        out.append(dataclasses.replace(w, speaker=speaker, overlap=len(cover) > 1))
    return out


def _regions(rec: Recording, turns: Sequence[Turn]) -> dict[int | None, list[tuple[float, float]]]:
    """The speech regions transcription reads: each channel's own turns on a stereo call, every turn
    mixed down on a mono one."""
    if rec.layout == "stereo":
        return {c: speech_regions(own, rec.duration) for c in range(rec.channels)
                if (own := [t for t in turns if t.channel == c])}
    return {None: speech_regions(turns, rec.duration)}


def encode_turns(rec: Recording, turns: Sequence[Turn], cfg: Settings, model=None) -> TurnStates:
    """Whisper's encoder states of each turn, without decoding: the windows :func:`transcribe` reads (the
    same regions, chunks and features as its batched pass) encoded once each. For a call analysed before
    its features held these states (``callqc features backfill``)."""
    from faster_whisper.audio import pad_or_trim

    model = model or load_whisper(cfg)
    states = TurnStates(turns)
    tagged = [(channel, chunk) for channel, spans in _regions(rec, turns).items()
              for chunk in _chunks(split_long_regions(rec, channel, spans))]
    rate = rec.sample_rate
    for batch in _batches(tagged):
        audio, pieces, clips = _assemble(rec, batch)
        features = np.stack([pad_or_trim(model.feature_extractor(audio[int(a * rate):int(b * rate)])[..., :-1])
                             for a, b in clips])
        rows = to_numpy(model.encode(features))
        for window_states, clip in zip(rows.reshape(len(clips), -1, rows.shape[-1]), clips):
            states.add(window_states, *_window(clip, pieces))
    return states


def transcribe(rec: Recording, turns: Sequence[Turn], cfg: Settings, model=None,
               states: TurnStates | None = None) -> list[Word]:
    """All words of the call, sorted by time, each with its speaker and channel. With ``states``
    (made for ``turns``), Whisper's encoder states of each turn are pooled into it on the way."""
    if not turns:
        return []
    model = model or load_whisper(cfg)
    words: list[Word] = []
    if rec.layout == "stereo":
        heard_by_channel = transcribe_channels(rec, _regions(rec, turns), cfg, model, states)
        for channel, heard in heard_by_channel.items():
            speaker = next(t.speaker for t in turns if t.channel == channel)
            others = _TurnIndex([t for t in turns if t.channel != channel])
            for w in heard:
                during_other = any(min(w.end, t.end) - max(w.start, t.start) > 0
                                   for t in others.overlapping(w.start, w.end))
                words.append(dataclasses.replace(w, speaker=speaker, overlap=during_other))
    else:
        heard = transcribe_channels(rec, _regions(rec, turns), cfg, model, states)[None]
        words = attribute_words(heard, turns)
    words.sort(key=lambda w: (w.start, w.channel))
    return words


def attach_text(turns: Sequence[Turn], words: Sequence[Word]) -> list[Turn]:
    """Turns with their words' text: each word goes to the same-speaker turn it overlaps most (else
    the nearest one)."""
    position = {id(t): i for i, t in enumerate(turns)}
    by_speaker = {s: _TurnIndex([t for t in turns if t.speaker == s]) for s in {t.speaker for t in turns}}
    texts: list[list[str]] = [[] for _ in turns]
    for w in words:
        index = by_speaker.get(w.speaker)
        if index is None or not index.turns:
            continue
        hits = index.overlapping(w.start, w.end)
        if hits:
            best = max(hits, key=lambda t: min(w.end, t.end) - max(w.start, t.start))
        else:
            best = index.nearest(w.midpoint)
        texts[position[id(best)]].append(w.text)
    return [dataclasses.replace(t, text=" ".join(ws)) for t, ws in zip(turns, texts)]
