"""Hold music and DTMF key tones: found outside the turns, measured as hold, never as talk or silence.
Audio: a synthetic call with synthesized hold music (decaying chords with harmonics) and a run of key
tones before the agent answers, and the same music in the middle of the call."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import soundfile as sf
import soxr

from qc.audio import load_recording
from qc.conversation import measure
from qc.hold import find_non_talk
from qc.records import CallMeta, Turn
from qc.synth import make_call

R = 16000
KEYS = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
        "9": (852, 1477), "0": (941, 1336), "#": (941, 1477)}


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords of three notes with two overtones, a new chord every half second, each decaying."""
    rng = np.random.default_rng(seed)
    notes = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3]
    beat = int(0.5 * R)
    t = np.arange(beat) / R
    parts = []
    for _ in range(int(seconds / 0.5)):
        chord = sum(np.sin(2 * np.pi * f * h * t) / h for f in rng.choice(notes, 3, replace=False) for h in (1, 2, 3))
        parts.append(np.exp(-3 * t) * chord)
    x = np.concatenate(parts)
    return (0.15 * x / np.abs(x).max()).astype(np.float32)


def dtmf(keys: str, tone: float = 0.12, gap: float = 0.08) -> np.ndarray:
    t = np.arange(int(tone * R)) / R
    parts = []
    for k in keys:
        lo, hi = KEYS[k]
        parts += [0.1 * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t)), np.zeros(int(gap * R))]
    return np.concatenate(parts).astype(np.float32)


def shifted(turns, by: float, after: float = -1.0):
    return [dataclasses.replace(t, start=t.start + by, end=t.end + by) if t.start > after else t for t in turns]


@pytest.fixture(scope="module")
def call():
    truth, wav = make_call(5, 0, "mono", None)
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    x = soxr.resample(x, sr, R)
    turns = [Turn("c", t.start, t.end, 0, t.speaker, t.role, t.text) for t in truth.turns]
    return truth, x, sorted(turns, key=lambda t: t.start)


def _rec(tmp_path, settings, x, name):
    path = tmp_path / f"{name}.wav"
    sf.write(path, x, R)
    return load_recording(CallMeta(external_id=name, path=path), settings)


def test_hold_music_and_key_tones_before_the_agent_answers(call, tmp_path, settings):
    truth, x, turns = call
    lead = np.concatenate([music(25.0), np.zeros(R // 2, np.float32), dtmf("12345#"),
                           np.zeros(R // 2, np.float32)])
    off = len(lead) / R
    rec = _rec(tmp_path, settings, np.concatenate([lead, x]), "held")
    moved = shifted(turns, off)
    found = find_non_talk(rec, moved)
    assert [s.kind for s in found] == ["hold", "tones"]
    hold, tones = found
    assert hold.start < 0.1 and 24.5 <= hold.end <= 25.5
    assert 25.3 <= tones.start <= 25.7 and 1.0 <= tones.duration <= 1.4
    plain = measure("c", len(x) / R, turns, [])
    held = measure("c", rec.duration, moved, [], non_talk=found)
    assert held.hold_time == pytest.approx(25.0, abs=0.6) and held.hold_count == 1
    assert held.tone_time == pytest.approx(1.2, abs=0.2)
    assert held.silence_total == pytest.approx(plain.silence_total, abs=0.05)
    assert held.talk_time_agent == pytest.approx(plain.talk_time_agent, abs=0.01)


def test_hold_in_the_middle_of_a_call_is_not_silence(call, tmp_path, settings):
    truth, x, turns = call
    cut = turns[3].end + 0.3  # the agent puts the caller on hold after the fourth turn
    i = int(cut * R)
    rec = _rec(tmp_path, settings, np.concatenate([x[:i], music(20.0, seed=1), x[i:]]), "mid")
    moved = shifted(turns, 20.0, after=cut)
    found = find_non_talk(rec, moved)
    assert [s.kind for s in found] == ["hold"]
    assert found[0].start == pytest.approx(cut, abs=0.4) and found[0].duration == pytest.approx(20.0, abs=0.8)
    plain = measure("c", len(x) / R, turns, [], silence_threshold=3.0)
    held = measure("c", rec.duration, moved, [], silence_threshold=3.0, non_talk=found)
    without = measure("c", rec.duration, moved, [], silence_threshold=3.0)
    assert without.silence_total > plain.silence_total + 19  # counted as silence without the hold finder
    assert held.silence_total == pytest.approx(plain.silence_total, abs=0.8)
    assert held.silence_longest < 5 and held.hold_time == pytest.approx(20.0, abs=0.8)


def test_a_call_without_hold_has_none(call, tmp_path, settings):
    truth, x, turns = call
    rec = _rec(tmp_path, settings, x, "plain")
    assert find_non_talk(rec, turns) == []


@pytest.mark.slow
def test_the_front_end_neither_transcribes_nor_counts_hold_as_talk(call, tmp_path, settings):
    from qc.evaluate import word_errors
    from qc.pipeline import analyze_call

    truth, x, _ = call
    lead = np.concatenate([music(25.0), np.zeros(R // 2, np.float32), dtmf("90#"), np.zeros(R // 2, np.float32)])
    off = len(lead) / R
    path = tmp_path / "held.wav"
    sf.write(path, np.concatenate([lead, x]), R)
    result = analyze_call(CallMeta(external_id="held", path=path), settings)
    assert not [w for w in result.words if w.start < off - 0.2]
    assert not [t for t in result.turns if t.start < off - 0.2]
    assert result.metrics.hold_time == pytest.approx(25.0, abs=1.0)
    assert result.metrics.tone_time > 0.3
    reference = " ".join(t.text for t in sorted(truth.turns, key=lambda t: t.start))
    assert word_errors(reference, " ".join(w.text for w in result.words)).wer <= 0.25
