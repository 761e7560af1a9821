"""Recorded prompts (an IVR's menu, a queue's announcements) are found from the words of their turns and
taken out of the talk: the phrases only a system says, and the rest of the same announcement."""

from __future__ import annotations

import pytest

from qc.conversation import measure
from qc.prompts import find_prompts, prompt_spans, without_prompts
from qc.records import Turn, Word


def _call(lines: list[tuple[float, float, str, str]]) -> tuple[list[Turn], list[Word]]:
    turns, words = [], []
    for start, end, speaker, text in lines:
        turns.append(Turn("c", start, end, 0, speaker, text=text))
        parts = text.split()
        step = (end - start) / len(parts)
        words += [Word("c", start + k * step, start + (k + 1) * step, w, 0.9, 0, speaker)
                  for k, w in enumerate(parts)]
    return turns, words


IVR = [
    (0.0, 4.0, "S0", "Thank you for calling Acme Energy."),
    (4.5, 9.0, "S0", "For billing, press 1. For a new connection, press 2."),
    (20.0, 24.0, "S0", "All of our agents are currently busy. Your call is important to us."),
    (24.8, 27.0, "S0", "This call may be recorded."),
]
TALK = [
    (40.0, 44.0, "S0", "Thank you for calling Acme, this is Dana, this call may be recorded."),
    (44.5, 47.0, "S1", "Hi, I have a question about my bill."),
    (47.5, 50.0, "S0", "Sure, please hold while I open your account."),
]


def test_the_ivr_and_the_queue_are_prompts_and_the_agent_is_not():
    turns, words = _call(IVR + TALK)
    assert find_prompts(turns, words) == [0, 1, 2, 3]  # the agent's greeting and "please hold" are talk
    talk, kept_words, prompts, kept = without_prompts(turns, words)
    assert kept == [4, 5, 6] and [t.start for t in talk] == [40.0, 44.5, 47.5]
    assert min(w.start for w in kept_words) == 40.0
    assert [(s.start, s.end) for s in prompt_spans(prompts)] == [(0.0, 4.0), (4.5, 9.0), (20.0, 24.0), (24.8, 27.0)]


def test_an_agent_saying_the_shared_phrases_alone_is_talk():
    turns, words = _call(TALK + [(51.0, 53.0, "S0", "Thank you for holding, welcome back.")])
    assert find_prompts(turns, words) == []


def test_prompt_time_is_measured_apart_from_talk_and_silence():
    turns, words = _call(IVR + TALK)
    talk, kept_words, prompts, _ = without_prompts(turns, words)
    talk = [Turn(t.call_id, t.start, t.end, t.channel, t.speaker, "agent" if t.speaker == "S0" else "customer",
                 t.text) for t in talk]
    m = measure("c", 50.0, talk, kept_words, non_talk=prompt_spans(prompts))
    assert m.prompt_time == pytest.approx(4.0 + 4.5 + 4.0 + 2.2)
    assert m.talk_time_agent == pytest.approx(4.0 + 2.5) and m.time_to_greeting == 40.0
    assert m.silence_total == pytest.approx(0.5 + 0.5)  # the talk's own pauses; the IVR opening is not silence


def _espeak(text: str, rate: int):
    import io
    import subprocess

    import numpy as np
    import soundfile as sf
    import soxr

    wav = subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "165", "--stdout", text], capture_output=True,
                         check=True).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return (0.5 * soxr.resample(x, sr, rate) / np.abs(x).max()).astype(np.float32)


@pytest.mark.slow
def test_an_ivr_menu_and_queue_announcements_before_the_agent_are_neither_words_nor_talk(tmp_path, settings):
    import io

    import numpy as np
    import soundfile as sf
    import soxr

    from qc.evaluate import word_errors
    from qc.pipeline import analyze_call
    from qc.records import CallMeta
    from qc.synth import make_call
    from tests.qc.test_hold import R, dtmf, music

    truth, wav = make_call(5, 0, "mono", None)
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    x = soxr.resample(x, sr, R).astype(np.float32)
    pause = np.zeros(R // 2, np.float32)
    menu = _espeak("Thank you for calling Northwind Energy. For billing, press one. For a new connection, press two.", R)
    queue = _espeak("All of our agents are currently busy. Your call is important to us. Please stay on the line.", R)
    lead = np.concatenate([menu, pause, dtmf("1"), pause, music(12.0), pause, queue, pause, pause])
    off = len(lead) / R
    path = tmp_path / "ivr.wav"
    sf.write(path, np.concatenate([lead, x]), R)
    result = analyze_call(CallMeta(external_id="ivr", path=path), settings)
    early = [w.text for w in result.words if w.start < off - 0.3]
    assert not early, early
    assert not [t for t in result.turns if t.start < off - 0.3]
    spoken = (len(menu) + len(queue)) / R
    assert result.metrics.prompt_time == pytest.approx(spoken, abs=1.5)
    assert result.metrics.hold_time == pytest.approx(12.0, abs=1.5)
    first_agent = min(t.start for t in truth.turns if t.role == "agent")
    assert result.metrics.time_to_greeting == pytest.approx(off + first_agent, abs=1.0)
    reference = " ".join(t.text for t in sorted(truth.turns, key=lambda t: t.start))
    assert word_errors(reference, " ".join(w.text for w in result.words)).wer <= 0.25
    # the parties are told apart as if no third voice had spoken: each truth turn's role at its middle
    def role_at(t: float) -> str | None:
        return next((s.role for s in result.turns if s.start <= t <= s.end), None)

    truth_turns = [t for t in truth.turns if t.end - t.start > 1.0]
    right = sum(role_at(off + (t.start + t.end) / 2) == t.role for t in truth_turns)
    assert right >= 0.9 * len(truth_turns), (right, len(truth_turns))
