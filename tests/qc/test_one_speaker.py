"""One-speaker recordings (a voicemail, a labelled utterance) are diarized as one speaker under the
default speaker count (one or two, chosen per call), two-party calls stay two, and an explicit count
of two still splits any recording in two."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import soxr

from bench import ravdess
from qc.audio import load_recording
from qc.config import Settings
from qc.diarize import diarize
from qc.evaluate import diarization_report, to_annotation, turns_to_annotation
from qc.records import CallMeta
from tests.qc.conftest import RATE, TARGET_MONO_CALLS, speak

pytestmark = pytest.mark.slow

no_ravdess = pytest.mark.skipif(not (ravdess.corpus_dir() / "labels.csv").exists(),
                                reason=f"no RAVDESS copy at {ravdess.corpus_dir()} (../shared/data/ravdess)")

MONOLOGUE = [
    "Hello, this is a message for the billing department.",
    "I am calling about my last invoice, which seems too high.",
    "My account number is on the letter you sent me last week.",
    "I will be at home all afternoon, so any time after two is fine.",
    "Please call me back when you have a moment. Thank you, and goodbye.",
]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


def _speakers(path, cfg: Settings, **counts) -> int:
    rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
    try:
        return len(diarize(rec, cfg, **counts).speakers)
    finally:
        rec.close()


@pytest.mark.parametrize("voice", ["en-us+f3", "en-gb+m3", "en-us+m1", "en+f2"])
def test_a_voicemail_is_one_speaker(voice, cfg, tmp_path):
    """Five sentences from one espeak-ng voice with pauses between them (about 20 s)."""
    rng = np.random.default_rng(0)
    parts = []
    for sentence in MONOLOGUE:
        parts += [speak(sentence, voice) * 0.6, np.zeros(int(rng.uniform(0.6, 1.2) * RATE), np.float32)]
    audio = np.concatenate(parts)
    audio += 0.002 * rng.standard_normal(len(audio)).astype(np.float32)
    path = tmp_path / "voicemail.wav"
    sf.write(path, audio, RATE)
    rec = load_recording(CallMeta(external_id="voicemail", path=path), cfg, call_id="voicemail")
    result = diarize(rec, cfg)
    assert result.speakers == ["SPEAKER_00"]
    spoken = sum(len(p) for p in parts[::2]) / RATE
    assert sum(t.end - t.start for t in result.turns) >= 0.8 * spoken  # the speech is in the turns
    assert len(diarize(rec, cfg, num_speakers=2).speakers) == 2  # an explicit count is still exact
    assert len(diarize(rec, Settings(data_dir=cfg.data_dir, num_speakers=2)).speakers) == 2


def test_a_two_voice_call_stays_two(dialogue, cfg):
    rec = load_recording(CallMeta(external_id="d", path=dialogue.mono), cfg, call_id="d")
    result = diarize(rec, cfg)
    assert len(result.speakers) == 2
    ref = to_annotation([(a, b, s) for a, b, s, _ in dialogue.turns])
    assert diarization_report([("d", ref, turns_to_annotation(result.turns))], collar=0.25).der <= 0.10


def test_each_party_of_a_synthetic_call_alone_is_one_speaker(corpus_factory, cfg, tmp_path):
    """The generator's two-party mono calls with one party's turns replaced by quiet noise: the same
    voices the two-speaker DER target is measured on, heard one at a time."""
    corpus = corpus_factory("mono", TARGET_MONO_CALLS)
    rng = np.random.default_rng(0)
    counts = []
    for wav in sorted((corpus / "audio").glob("*.wav")):
        audio, rate = sf.read(wav, dtype="float32")
        spans: dict[str, list[tuple[float, float]]] = {}
        for line in (corpus / "rttm" / f"{wav.stem}.rttm").read_text().splitlines():
            f = line.split()
            spans.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))
        floor = float(np.percentile(np.abs(audio), 10)) + 1e-5
        for keep in spans:
            alone = audio.copy()
            for a, b in (s for who, own in spans.items() if who != keep for s in own):
                i, j = max(0, int((a - 0.1) * rate)), int((b + 0.1) * rate)
                alone[i:j] = floor * rng.standard_normal(len(alone[i:j]))
            path = tmp_path / f"{wav.stem}-{keep}.wav"
            sf.write(path, alone, rate)
            counts.append(_speakers(path, cfg))
    assert len(counts) == 2 * TARGET_MONO_CALLS
    assert counts.count(1) >= 0.85 * len(counts), counts
    assert counts.count(1) + counts.count(2) == len(counts)


@no_ravdess
def test_ravdess_utterances_are_one_speaker(cfg):
    """Two clips of each of the 24 actors (the first and the last in file order: neutral, and strong
    surprise), each a labelled utterance imported as a mono call."""
    rows = ravdess.clips(per_actor=2)
    assert len({r["speaker"] for r in rows}) >= 10
    counts = [_speakers(ravdess.corpus_dir() / r["file"], cfg) for r in rows]
    assert counts == [1] * len(rows)


@no_ravdess
def test_an_actors_sentences_in_a_row_are_mostly_one_speaker(cfg, tmp_path):
    """Six neutral and calm clips of one actor read in a row with 0.6 s pauses (about 25 s), for
    every actor. Acted speech moves the speaker embeddings: an actor may still be split."""
    with open(ravdess.corpus_dir() / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    actors = sorted({r["speaker"] for r in rows})
    counts = []
    for actor in actors:
        own = [r for r in rows if r["speaker"] == actor and r["label"] in ("neutral", "calm")
               and r["intensity"] == "normal"][:6]
        parts = []
        for r in own:
            audio, rate = sf.read(ravdess.corpus_dir() / r["file"], dtype="float32")
            audio = soxr.resample(audio if audio.ndim == 1 else audio.mean(axis=1), rate, 16000)
            parts += [audio.astype(np.float32), np.zeros(int(0.6 * 16000), np.float32)]
        path = tmp_path / f"{actor}.wav"
        sf.write(path, np.concatenate(parts), 16000)
        counts.append(_speakers(path, cfg))
    assert len(actors) == 24
    assert counts.count(1) >= 20, counts
