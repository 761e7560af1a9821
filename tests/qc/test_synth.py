"""The synthetic call generator: files and truth agree with the audio, seeds are deterministic, and the
scenarios vary the way the later models need (cues in the words, in the voice, or both)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qc.synth import generate_corpus, luhn_valid, make_call, phrase_book, sample_scenario
from qc.synth.render import RATE, active_rms
from qc.synth.voices import SynthesisError, check_engine, voice_tables

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, calls=4, seed=11, layout="mixed", workers=2)
    return out


def test_corpus_files_are_complete_and_consistent(corpus: Path):
    calls = _read_csv(corpus / "calls.csv")
    assert [c["call_id"] for c in calls] == [f"call-11-{k:04d}" for k in range(4)]
    labels = _read_csv(corpus / "labels.csv")
    assert len(labels) == 4 * 3
    assert {row["label"] for row in labels} == {"customer_emotion", "agent_politeness", "resolution"}
    for row in calls:
        audio, rate = sf.read(corpus / row["file"], dtype="float32", always_2d=True)
        truth = json.loads((corpus / "transcripts" / f"{row['call_id']}.json").read_text())
        assert rate == RATE == truth["sample_rate"]
        assert audio.shape[1] == (1 if row["layout"] == "mono" else 2)
        assert abs(len(audio) / RATE - truth["duration"]) < 0.01
        if row["layout"] != "mono":
            assert row["layout"] == f"stereo:agent={truth['agent_channel']}"
        # RTTM and JSON describe the same turns, in time order, inside the audio
        rttm = [line.split() for line in (corpus / "rttm" / f"{row['call_id']}.rttm").read_text().splitlines()]
        assert len(rttm) == len(truth["turns"]) >= 8
        for fields, turn in zip(rttm, truth["turns"]):
            assert fields[7] == turn["speaker"] and abs(float(fields[3]) - turn["start"]) < 1e-6
            assert abs(float(fields[4]) - (turn["end"] - turn["start"])) < 2e-3
            assert 0 <= turn["start"] < turn["end"] <= truth["duration"] and turn["text"].strip()
        assert {t["role"] for t in truth["turns"]} == {"agent", "customer"}


def test_stereo_channels_carry_their_speaker(corpus: Path):
    """In a stereo call the agent's turns are loud on the agent channel and quiet on the other."""
    checked = 0
    for row in _read_csv(corpus / "calls.csv"):
        if row["layout"] == "mono":
            continue
        audio, _ = sf.read(corpus / row["file"], dtype="float64", always_2d=True)
        truth = json.loads((corpus / "transcripts" / f"{row['call_id']}.json").read_text())
        for turn in truth["turns"]:
            seg = audio[int(turn["start"] * RATE):int(turn["end"] * RATE)]
            own = turn["channel"]
            assert active_rms(seg[:, own]) > 8 * active_rms(seg[:, 1 - own]) or _overlapped(truth, turn)
            checked += 1
    assert checked >= 8


def _overlapped(truth: dict, turn: dict) -> bool:
    return any(o["start"] < turn["end"] and turn["start"] < o["end"] for o in truth["overlaps"])


def test_same_seed_same_bytes_and_rerun_leaves_exactly_the_corpus(tmp_path: Path, corpus: Path):
    out = tmp_path / "again"
    generate_corpus(out, calls=4, seed=11, layout="mixed", workers=1)
    for name in ("calls.csv", "labels.csv", "audio/call-11-0002.wav", "transcripts/call-11-0003.json"):
        assert (out / name).read_bytes() == (corpus / name).read_bytes(), name
    # a smaller rerun into the same folder removes the calls it no longer has
    generate_corpus(out, calls=2, seed=11, layout="mixed", workers=1)
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["call-11-0000.wav", "call-11-0001.wav"]
    assert len(_read_csv(out / "labels.csv")) == 6


def test_another_seed_gives_other_calls(tmp_path: Path, corpus: Path):
    truth_a, wav_a = make_call(11, 0, "stereo", None)
    truth_b, wav_b = make_call(12, 0, "stereo", None)
    assert wav_a != wav_b and truth_a.turns != truth_b.turns


def test_scenarios_vary_and_cues_sit_in_words_voice_or_both():
    book = phrase_book()
    scenarios = [sample_scenario(5, k, "mixed", None, book) for k in range(400)]
    emotions = Counter(s.customer_emotion for s in scenarios)
    assert set(emotions) == {"neutral", "angry", "satisfied"} and min(emotions.values()) > 60
    assert set(Counter(s.agent_politeness for s in scenarios)) == {"polite", "rude"}
    assert set(Counter(s.resolution for s in scenarios)) == {"resolved", "unresolved"}
    assert {s.emotion_cue for s in scenarios if s.customer_emotion != "neutral"} == {"text", "voice", "both"}
    assert {s.politeness_cue for s in scenarios} == {"text", "voice", "both"}
    assert Counter(s.layout for s in scenarios)["mono"] in range(150, 250)
    for flag in ("greeting", "disclosure", "closing"):
        values = Counter(getattr(s, flag) for s in scenarios)
        assert values[True] > 250 and values[False] > 15, flag
    assert sum(s.verification is None for s in scenarios) > 30
    assert sum(s.hold_seconds is not None for s in scenarios) > 60
    assert sum(s.interruptions > 0 for s in scenarios) > 100
    cards = [s.pii.card_number for s in scenarios if s.pii.card_number]
    assert len(cards) > 80 and all(len(c) == 16 and luhn_valid(c) for c in cards)
    assert sum(s.pii.phone_number is not None for s in scenarios) > 80
    # agents and customers always sound like two different people
    for s in scenarios:
        assert s.agent_voice.speaker != s.customer_voice.speaker
    assert len({s.agent_voice.id for s in scenarios}) == len(voice_tables("flite")[0])


def test_voice_cues_change_the_voice_not_the_words():
    """A voice-only angry customer speaks the neutral words, louder and higher than a neutral one."""
    book = phrase_book()
    found = None
    for k in range(200):
        s = sample_scenario(3, k, "stereo", 30.0, book)
        if s.customer_emotion == "angry" and s.emotion_cue == "voice":
            found = k
            break
    assert found is not None
    truth, _ = make_call(3, found, "stereo", 30.0)
    prosody = truth.scenario["prosody"]["customer"]
    assert prosody["style"] == "angry" and prosody["gain_db"] > 0
    neutral = dict(truth.scenario["prosody"]["agent"])
    assert prosody["f0_stddev_hz"] > neutral["f0_stddev_hz"] or neutral["style"] != "neutral"
    angry_words = {"ridiculous", "unacceptable", "furious", "angry", "fed up", "disgrace", "worst service"}
    said = " ".join(t.text.lower() for t in truth.turns if t.speaker == "customer")
    assert not any(w in said for w in angry_words)


def test_pii_truth_points_at_spoken_words():
    seen = Counter()
    for k in range(6):
        truth, _ = make_call(21, k, "stereo", None)
        for item in truth.pii:
            seen[item.type] += 1
            turn = truth.turns[item.turn]
            assert item.spoken in turn.text
            assert turn.start <= item.sentence_start < item.sentence_end <= turn.end + 1e-6
            if item.type == "card_number":
                assert luhn_valid(item.value)
    assert seen["card_number"] + seen["phone_number"] >= 2


def test_background_noise_follows_the_snr():
    quiet, wav_quiet = make_call(8, 0, "mono", 35.0)
    _, wav_noisy = make_call(8, 0, "mono", 10.0)
    import io

    a, _ = sf.read(io.BytesIO(wav_quiet), dtype="float64")
    b, _ = sf.read(io.BytesIO(wav_noisy), dtype="float64")
    lead = int(quiet.turns[0].start * RATE) - 80  # noise only, before the first word
    floor_quiet = np.sqrt(np.mean(a[:lead] ** 2))
    floor_noisy = np.sqrt(np.mean(b[:lead] ** 2))
    assert 20 * np.log10(floor_noisy / floor_quiet) == pytest.approx(25.0, abs=1.5)


def test_truth_spans_are_where_the_voice_stands_above_the_line_noise():
    """A sentence's last 40 dB fade under the noise of a 15 dB SNR call: its truth ends where its
    voice sinks under the noise level, not where it would end on a clean line. The audio is the same
    speech either way (only the noise differs)."""
    import io

    from qc.synth.render import NOMINAL_DBFS, envelope

    clean_truth, clean_wav = make_call(8, 1, "stereo", 60.0)
    noisy_truth, _ = make_call(8, 1, "stereo", 15.0)
    voice, _ = sf.read(io.BytesIO(clean_wav), dtype="float64")  # noise 45 dB under the 15 dB call's
    noise = 10 ** ((NOMINAL_DBFS - 15.0) / 20)
    shorter, checked = 0, 0
    for clean, noisy in zip(clean_truth.turns, noisy_truth.turns, strict=True):
        assert clean.start <= noisy.start < noisy.end <= clean.end
        shorter += noisy.end < clean.end - 0.02
        if any(o.start < clean.end and clean.start < o.end for o in clean_truth.turns if o.speaker != clean.speaker):
            continue  # the other party's leak would be in the measurement
        env = envelope(voice[:, clean.channel])
        a, b = round(noisy.end * RATE), round(clean.end * RATE)
        assert env[a - 40:a].max() > noise  # audible up to the truth's end ...
        if b - a > 40:
            assert env[a + 20:b - 20].max() < noise * 1.1  # ... and not after it
        checked += 1
    assert checked >= 5 and shorter >= len(clean_truth.turns) // 2


def test_bad_arguments_are_clear_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="calls"):
        generate_corpus(tmp_path, calls=0, seed=1)
    with pytest.raises(ValueError, match="layout"):
        generate_corpus(tmp_path, calls=1, seed=1, layout="quad")
    with pytest.raises(ValueError, match="tts"):
        generate_corpus(tmp_path, calls=1, seed=1, tts="festival")
    with pytest.raises(ValueError, match="seed"):
        generate_corpus(tmp_path, calls=1, seed=-1)


def test_missing_engine_is_reported(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SynthesisError, match="apt-get install flite"):
        check_engine("flite")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_engine_makes_a_call_too():
    truth, wav = make_call(4, 1, "mono", None, tts="espeak")
    assert truth.scenario["voices"]["agent"]["engine"] == "espeak"
    assert len(wav) > RATE * 2 * 20 and len(truth.turns) >= 8
