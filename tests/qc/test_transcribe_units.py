"""Transcription plumbing with a stand-in Whisper model: what audio reaches the model, how word times
map back onto the call, who said each word, and that silence never produces text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from qc.audio import Recording
from qc.config import Settings
from qc.records import CallMeta, Turn, Word
from qc.transcribe import (BATCH_CHUNKS, CHUNK_SECONDS, GAP_SECONDS, _batches, _chunks, attach_text,
                           attribute_words, speech_regions, split_long_regions, transcribe)

RATE = 16000


@dataclass
class FakeWord:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class FakeSegment:
    words: list
    no_speech_prob: float = 0.01
    avg_logprob: float = -0.2
    start: float = 0.0
    end: float = 0.0
    compression_ratio: float = 1.5


@dataclass
class FakeWhisper:
    """Says one word per second of the audio it is given ("w0", "w1", ...) and records its calls."""

    calls: list = field(default_factory=list)

    def transcribe(self, audio, **kwargs):
        self.calls.append((len(audio) / RATE, kwargs))
        n = int(len(audio) / RATE)
        words = [FakeWord(k + 0.1, k + 0.6, f" w{k}") for k in range(n)]
        return iter([FakeSegment(words)]), None


ONE_AT_A_TIME = Settings(asr_batch_size=1)


@dataclass
class FakeBatched:
    """Stands in for faster-whisper's BatchedInferencePipeline: one word per second of each clip."""

    calls: list = field(default_factory=list)
    repeat_first: bool = False  # the first window's text is repetitive (a decoding failure)

    def transcribe(self, audio, clip_timestamps, batch_size, **kwargs):
        self.calls.append((clip_timestamps, batch_size, kwargs))
        segments = []
        for clip in clip_timestamps:
            n = int(clip["end"] - clip["start"])
            segments.append(FakeSegment([FakeWord(clip["start"] + k + 0.1, clip["start"] + k + 0.6, f" w{k}")
                                         for k in range(n)], start=clip["start"], end=clip["end"],
                                        compression_ratio=3.0 if self.repeat_first and not segments else 1.5))
        return iter(segments), None


def recording(channels: int, seconds: float) -> Recording:
    samples = np.zeros((channels, int(seconds * RATE)), np.float32)
    meta = CallMeta(external_id="c", path=__import__("pathlib").Path("c.wav"))
    return Recording(call_id="c", meta=meta, sample_rate=RATE, frames=samples.shape[1], channels=channels,
                     layout="stereo" if channels == 2 else "mono", agent_channel=0 if channels == 2 else None,
                     source_sample_rate=8000, source_channels=channels, _samples=samples)


def test_settings_reach_whisper():
    model = FakeWhisper()
    turns = [Turn("c", 1.0, 4.0, 0, "SPEAKER_00")]
    transcribe(recording(1, 10), turns, ONE_AT_A_TIME, model)
    (seconds, kwargs), = model.calls
    assert kwargs["beam_size"] == 5 and kwargs["language"] == "en"  # the default: Whisper's own
    assert kwargs["condition_on_previous_text"] is False
    assert kwargs["word_timestamps"] is True
    assert kwargs["vad_filter"] is False  # our own VAD already chose the audio
    assert kwargs["temperature"] == 0.0  # no sampling: the same audio, the same words
    assert seconds < 4.0  # only the turn (plus padding), not the 10 s call


def test_silence_never_reaches_whisper():
    model = FakeWhisper()
    assert transcribe(recording(1, 30), [], ONE_AT_A_TIME, model) == []
    assert model.calls == []


def test_word_times_map_back_to_call_time():
    model = FakeWhisper()
    turns = [Turn("c", 2.0, 5.0, 0, "SPEAKER_00"), Turn("c", 20.0, 23.0, 0, "SPEAKER_01")]
    words = transcribe(recording(1, 30), turns, ONE_AT_A_TIME, model)
    assert len(model.calls) == 1  # both regions in one window
    assert words, "expected words"
    for w in words:
        assert any(t.start - 0.2 <= w.start and w.end <= t.end + 0.2 for t in turns), w
    assert {w.speaker for w in words} == {"SPEAKER_00", "SPEAKER_01"}
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_stereo_channels_are_transcribed_separately():
    model = FakeWhisper()
    turns = [Turn("c", 1.0, 6.0, 0, "SPEAKER_00"), Turn("c", 5.0, 9.0, 1, "SPEAKER_01")]
    words = transcribe(recording(2, 12), turns, ONE_AT_A_TIME, model)
    assert len(model.calls) == 2
    assert {(w.channel, w.speaker) for w in words} == {(0, "SPEAKER_00"), (1, "SPEAKER_01")}
    overlapped = [w for w in words if w.overlap]
    assert overlapped and all(5.0 - 0.6 <= w.midpoint <= 6.0 + 0.6 for w in overlapped)


def test_long_calls_are_cut_into_whisper_windows_and_bounded_batches():
    regions = [(k * 100.0, k * 100.0 + 9.0) for k in range(40)] + [(5000.0, 5000.0 + 95.0)]
    rec = recording(1, 5200)
    split = split_long_regions(rec, None, regions)
    assert all(b - a <= CHUNK_SECONDS - GAP_SECONDS + 1e-6 for a, b in split)
    assert sum(b - a for a, b in split) == pytest.approx(40 * 9 + 95)
    chunks = _chunks(split)
    assert all(sum(b - a + GAP_SECONDS for a, b in chunk) <= CHUNK_SECONDS + 1e-6 for chunk in chunks)
    assert [r for chunk in chunks for r in chunk] == split  # in order, nothing lost
    assert all(len(batch) <= BATCH_CHUNKS for batch in _batches(chunks))


def test_every_chunk_is_one_whisper_window():
    model = FakeWhisper()
    turns = [Turn("c", k * 20.0, k * 20.0 + 12.0, 0, "SPEAKER_00") for k in range(10)]
    transcribe(recording(1, 220), turns, ONE_AT_A_TIME, model)
    assert len(model.calls) >= 5
    assert all(seconds <= 30.0 for seconds, _ in model.calls)


def test_regions_merge_close_turns():
    turns = [Turn("c", 1.0, 2.0, 0, "A"), Turn("c", 2.2, 3.0, 0, "B"), Turn("c", 8.0, 9.0, 0, "A")]
    assert speech_regions(turns, 10.0) == [(0.9, 3.1), (7.9, 9.1)]


def _word(start, end, text="x"):
    return Word("c", start, end, text, 0.9, 0, "")


def test_words_in_overtalk_are_flagged_and_split_in_order():
    turns = [Turn("c", 0.0, 5.0, 0, "A"), Turn("c", 4.0, 9.0, 0, "B")]
    words = [_word(1.0, 1.3), _word(4.1, 4.3), _word(4.7, 4.9), _word(6.0, 6.3), _word(9.2, 9.4)]
    out = attribute_words(words, turns)
    assert [w.speaker for w in out] == ["A", "A", "B", "B", "B"]
    assert [w.overlap for w in out] == [False, True, True, False, False]


def test_attach_text_gives_each_turn_its_words():
    turns = [Turn("c", 0.0, 2.0, 0, "A"), Turn("c", 2.5, 4.0, 0, "B"), Turn("c", 4.5, 6.0, 0, "A")]
    words = [Word("c", 0.5, 0.8, "hello", 0.9, 0, "A"), Word("c", 2.6, 2.9, "hi", 0.9, 0, "B"),
             Word("c", 4.6, 4.9, "bye", 0.9, 0, "A"), Word("c", 6.1, 6.3, "now", 0.9, 0, "A")]
    assert [t.text for t in attach_text(turns, words)] == ["hello", "hi", "bye now"]


def test_batched_decoding_gets_every_window_at_once(monkeypatch):
    import qc.transcribe

    batched = FakeBatched()
    monkeypatch.setattr(qc.transcribe, "_batched", lambda model: batched)
    turns = [Turn("c", k * 20.0, k * 20.0 + 12.0, 0, "SPEAKER_00") for k in range(10)]
    words = transcribe(recording(1, 220), turns, Settings(asr_batch_size=8), FakeWhisper())
    (clips, batch_size, kwargs), = batched.calls  # ten 12 s turns: five windows, one batch
    assert batch_size == 8 and len(clips) == 5
    assert all(c["end"] - c["start"] <= 30.0 for c in clips)
    assert kwargs["word_timestamps"] is True and kwargs["condition_on_previous_text"] is False
    assert len(words) >= 10 * 11
    for w in words:  # every word lands inside a turn of the call
        assert any(t.start - 0.2 <= w.start and w.end <= t.end + 0.2 for t in turns), w


def test_a_failed_batched_window_is_decoded_again_alone(monkeypatch):
    import qc.transcribe

    batched = FakeBatched(repeat_first=True)
    monkeypatch.setattr(qc.transcribe, "_batched", lambda model: batched)
    single = FakeWhisper()
    turns = [Turn("c", k * 20.0, k * 20.0 + 12.0, 0, "SPEAKER_00") for k in range(10)]
    transcribe(recording(1, 220), turns, Settings(asr_batch_size=8), single)
    assert len(batched.calls) == 1 and len(single.calls) == 1  # only the failed window again


def test_stereo_windows_of_both_channels_are_batched_together(monkeypatch):
    """The customer's lone window goes into the agent's batch (not the slow sequential decoder), and
    every word still comes back on its own channel, inside its own turns."""
    import qc.transcribe

    batched, single = FakeBatched(), FakeWhisper()
    monkeypatch.setattr(qc.transcribe, "_batched", lambda model: batched)
    agent = [Turn("c", k * 20.0, k * 20.0 + 12.0, 0, "SPEAKER_00") for k in range(4)]
    customer = [Turn("c", 90.0, 98.0, 1, "SPEAKER_01")]
    words = transcribe(recording(2, 120), agent + customer, Settings(asr_batch_size=8), single)
    (clips, _, _), = batched.calls
    assert len(clips) == 3 and not single.calls  # two agent windows and the customer's, in one batch
    by_channel = {c: [w for w in words if w.channel == c] for c in (0, 1)}
    assert len(by_channel[0]) >= 4 * 11 and len(by_channel[1]) >= 8
    for channel, turns in ((0, agent), (1, customer)):
        for w in by_channel[channel]:
            assert w.speaker == turns[0].speaker
            assert any(t.start - 0.2 <= w.start and w.end <= t.end + 0.2 for t in turns), w


def test_a_batched_window_with_speech_where_no_word_starts_is_decoded_again():
    """Skipped opening words (one call's first 6 s came back as three words starting at 6.2 s), skipped
    words inside, or an early end: each leaves a stretch of the window's speech where no word starts."""
    from types import SimpleNamespace

    from qc.transcribe import UNHEARD_TAIL, _unheard

    def seg(*spans):
        return SimpleNamespace(words=[SimpleNamespace(start=a, end=b) for a, b in spans])

    clip = (0.0, 28.0)
    steady = seg(*[(t, t + 0.4) for t in np.arange(0.3, 27.5, 0.6)])
    assert _unheard(clip, [steady]) < 1.0
    assert _unheard(clip, [seg(*[(t, t + 0.4) for t in np.arange(6.2, 27.5, 0.6)])]) > UNHEARD_TAIL  # head
    gap = seg(*[(t, t + 0.4) for t in np.arange(0.3, 27.5, 0.6) if not 10 < t < 15.5])
    assert _unheard(clip, [gap]) > UNHEARD_TAIL  # inside
    assert _unheard(clip, [seg(*[(t, t + 0.4) for t in np.arange(0.3, 20.0, 0.6)])]) > UNHEARD_TAIL  # tail
    assert _unheard(clip, [seg()]) == 28.0


@dataclass
class LoopingWhisper(FakeWhisper):
    """Decodes into a repetition loop unless the call's options include one of ``cures``."""

    cures: tuple = ("no_repeat_ngram_size",)

    def transcribe(self, audio, **kwargs):
        self.calls.append((len(audio) / RATE, kwargs))
        cured = any(k in kwargs for k in self.cures)
        word = " right" if cured else " loop"
        words = [FakeWord(k + 0.1, k + 0.6, word) for k in range(int(len(audio) / RATE))]
        return iter([FakeSegment(words, compression_ratio=1.5 if cured else 3.0,
                                 avg_logprob=-0.3 if cured else -0.1)]), None


def test_a_window_decoded_into_a_loop_is_decoded_again_deterministically():
    """Whisper's own fallback samples (another transcript in every process); ours decodes again with
    RETRIES, in order, and keeps the first try that is not a failure."""
    from qc.transcribe import RETRIES

    turns = [Turn("c", 1.0, 6.0, 0, "SPEAKER_00")]
    model = LoopingWhisper()
    words = transcribe(recording(1, 10), turns, ONE_AT_A_TIME, model)
    assert [{k: v for k, v in kw.items() if k in ("repetition_penalty", "no_repeat_ngram_size")}
            for _, kw in model.calls] == [{}, *RETRIES]
    assert {w.text for w in words} == {"right"}
    assert all(kw["temperature"] == 0.0 for _, kw in model.calls)
    # the first retry cures it: no further tries
    model = LoopingWhisper(cures=("repetition_penalty",))
    assert {w.text for w in transcribe(recording(1, 10), turns, ONE_AT_A_TIME, model)} == {"right"}
    assert len(model.calls) == 2
    # nothing cures it: every try is made and the loop (the only text there is) is kept
    model = LoopingWhisper(cures=("nothing",))
    assert {w.text for w in transcribe(recording(1, 10), turns, ONE_AT_A_TIME, model)} == {"loop"}
    assert len(model.calls) == 1 + len(RETRIES)


def test_symbols_whisper_writes_for_music_are_not_words():
    @dataclass
    class Humming(FakeWhisper):
        def transcribe(self, audio, **kwargs):
            self.calls.append((len(audio) / RATE, kwargs))
            return iter([FakeSegment([FakeWord(0.1, 0.5, " ♪"), FakeWord(0.6, 0.9, " hello"),
                                      FakeWord(1.0, 1.2, " -"), FakeWord(1.3, 1.6, " 42%")])]), None

    words = transcribe(recording(1, 10), [Turn("c", 1.0, 4.0, 0, "SPEAKER_00")], ONE_AT_A_TIME, Humming())
    assert [w.text for w in words] == ["hello", "42%"]
