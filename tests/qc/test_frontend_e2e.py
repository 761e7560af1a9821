"""The front-end with the shipped models on a short espeak dialogue: speaker counts honoured,
overtalk reported, roles found from the greeting, words on both sides, nothing heard in silence."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from qc.audio import load_recording
from qc.config import Settings
from qc.diarize import diarize
from qc.evaluate import diarization_report, to_annotation, turns_to_annotation, word_errors
from qc.records import CallMeta
from qc.roles import apply_roles, assign_roles
from qc.transcribe import transcribe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


def _load(path, cfg):
    return load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)


def test_mono_dialogue_front_end(dialogue, cfg):
    rec = _load(dialogue.mono, cfg)
    result = diarize(rec, cfg)
    assert result.backend == "embedded" and len(result.speakers) == 2
    ref = to_annotation([(a, b, s) for a, b, s, _ in dialogue.turns])
    der = diarization_report([("d", ref, turns_to_annotation(result.turns))], collar=0.25).der
    assert der <= 0.10
    words = transcribe(rec, result.turns, cfg)
    roles = assign_roles(rec, result.turns, words, cfg)
    turns, words = apply_roles(roles, result.turns, words)
    first_agent = min((t for t in turns if t.role == "agent"), key=lambda t: t.start)
    assert first_agent.start < 1.0  # the agent greets first
    assert roles.strategy == "greeting" and roles.confidence >= 0.8
    assert word_errors(dialogue.text, " ".join(w.text for w in words)).wer <= 0.35
    assert {w.role for w in words} == {"agent", "customer"}


def test_speaker_counts_are_honoured(dialogue, cfg):
    rec = _load(dialogue.mono, cfg)
    assert len(diarize(rec, cfg, num_speakers=1).speakers) == 1
    assert len(diarize(rec, cfg, num_speakers=3).speakers) == 3
    assert len(diarize(rec, cfg, min_speakers=1, max_speakers=4).speakers) == 2


def test_stereo_dialogue_with_leakage(dialogue, cfg):
    rec = _load(dialogue.stereo, cfg)
    result = diarize(rec, cfg)
    assert result.backend == "channels"
    ref = to_annotation([(a, b, s) for a, b, s, _ in dialogue.turns])
    assert diarization_report([("d", ref, turns_to_annotation(result.turns))], collar=0.25).der <= 0.05
    assert result.overlaps, "the planned overtalk is reported"
    words = transcribe(rec, result.turns, cfg)
    assert {w.channel for w in words} == {0, 1}
    assert any(w.overlap for w in words)


def test_silence_and_noise_produce_no_text(cfg, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "quiet.wav"
    sf.write(str(path), (0.003 * rng.standard_normal(8000 * 30)).astype(np.float32), 8000)
    rec = _load(path, cfg)
    turns = diarize(rec, cfg).turns
    assert transcribe(rec, turns, cfg) == []


def test_transcripts_are_the_same_whatever_was_decoded_before(tmp_path, cfg):
    """A synthetic call whose phone number Whisper at temperature 0 reads as a "My name is Mary Hill"
    loop: Whisper's sampling fallback read it differently in every process and after every other
    decode ("819 -", nothing, "7978"). Decoded twice in one process, with CTranslate2's random seed
    changed in between, the words must be identical, and the retry must read both numbers.

    What is the same across machines is not the spelling: int8 kernels differ between CPUs, and one
    CPU writes the phone number as digits where another writes it out in words. The promise is the
    same words twice on one machine, and both numbers found and redacted in whichever form."""
    import re

    import ctranslate2

    from qc.pii.spoken import is_number_word
    from qc.redact import find_pii, redact_words
    from qc.synth import make_call

    truth, wav = make_call(31415, 3, "stereo", None)
    path = tmp_path / "call.wav"
    path.write_bytes(wav)
    rec = _load(path, cfg)
    turns = diarize(rec, cfg).turns
    runs = []
    for seed in (1, 2):
        ctranslate2.set_random_seed(seed)
        runs.append(transcribe(rec, turns, cfg))
    assert [(w.text, w.start, w.end, w.channel) for w in runs[0]] == \
        [(w.text, w.start, w.end, w.channel) for w in runs[1]]
    words = runs[0]
    text = " ".join(w.text for w in words)
    assert text.count("Mary Hill") <= 1
    # both numbers were read: each reply holds most of its digits, as digits or as words
    for start, end, n_digits in ((33.7, 39.7, 16), (45.3, 48.5, 10)):
        said = [w.text for w in words if w.channel == 1 and start - 0.5 <= w.start <= end + 0.5]
        digits = sum(len(re.sub(r"\D", "", t)) or int(is_number_word(t)) for t in said)
        assert digits >= n_digits - 3, (said, n_digits)
    roles = assign_roles(rec, turns, words, cfg)
    _, words = apply_roles(roles, turns, words)
    redacted = redact_words(words, find_pii(words))
    kept = [w.text for w in redacted if w.channel == 1]
    assert not [t for t in kept if re.search(r"\d", t)], kept
    runs_of_number_words = re.findall(r"N{3,}", "".join("N" if is_number_word(t) else "." for t in kept))
    assert not runs_of_number_words, kept
    assert "[CARD_NUMBER]" in kept, kept
    assert {"[PHONE_NUMBER]", "[NUMBER]"} & set(kept), kept
