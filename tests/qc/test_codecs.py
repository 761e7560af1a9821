"""Telephony audio as it arrives: G.711 mu-law and A-law WAV, GSM 6.10 WAV, MP3 at 16 kbit/s, Opus in
Ogg, AAC in M4A and ADTS, each made here with ffmpeg from one synthetic call. Each decodes to the same
conversation (checked against the source, frame by frame), or is rejected with a reason; the slow test
transcribes them with the shipped model."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr

from qc.audio import load_recording
from qc.channels import analyse_channels
from qc.config import Settings
from qc.records import BadRecording, CallMeta
from qc.synth import make_call

CODECS = {
    "ulaw.wav": ["-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw"],
    "alaw.wav": ["-ar", "8000", "-ac", "1", "-c:a", "pcm_alaw"],
    "gsm.wav": ["-ar", "8000", "-ac", "1", "-c:a", "gsm_ms"],
    "mp3-16k.mp3": ["-ar", "8000", "-ac", "1", "-b:a", "16k"],
    "opus.ogg": ["-ac", "1", "-c:a", "libopus", "-b:a", "16k"],
    "opus.opus": ["-ac", "1", "-c:a", "libopus", "-b:a", "24k"],
    "aac.m4a": ["-ac", "1", "-c:a", "aac", "-b:a", "32k"],
    "aac.aac": ["-ac", "1", "-c:a", "aac", "-b:a", "24k"],
}


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    root = tmp_path_factory.mktemp("codecs")
    truth, wav = make_call(7, 0, "mono", None)
    source = root / "source.wav"
    source.write_bytes(wav)
    for name, args in CODECS.items():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *args, str(root / name)],
                       check=True)
    return root, truth


def _same_conversation(a: np.ndarray, b: np.ndarray, rate: int = 16000) -> float:
    n = min(len(a), len(b))
    x = np.stack([a[:n], b[:n]])
    v = analyse_channels(lambda s, e: x[:, int(s * rate):int(e * rate)], n / rate, rate)
    assert v.kind == "dual_mono", v.reason
    return v.similarity


@pytest.mark.parametrize("name", sorted(CODECS))
def test_each_codec_decodes_to_the_same_conversation(encoded, name, settings):
    root, truth = encoded
    src, sr = sf.read(root / "source.wav", dtype="float32")
    src = soxr.resample(src, sr, 16000)
    rec = load_recording(CallMeta(external_id=name, path=root / name), settings)
    assert rec.layout == "mono" and rec.sample_rate == 16000
    assert rec.duration == pytest.approx(len(src) / 16000, abs=0.2)
    assert _same_conversation(src, rec.read(channel=0)) > 0.8
    assert not list(settings.work_dir.glob("*source*")) if settings.work_dir.exists() else True


def test_undecodable_and_truncated_containers_are_rejected_with_a_reason(encoded, settings, tmp_path):
    root, _ = encoded
    fake = tmp_path / "fake.m4a"
    fake.write_text("not audio at all")
    with pytest.raises(BadRecording, match="not a readable audio file"):
        load_recording(CallMeta(external_id="fake", path=fake), settings)
    cut = tmp_path / "cut.m4a"
    cut.write_bytes((root / "aac.m4a").read_bytes()[:40000])  # the index (moov) at the end is gone
    with pytest.raises(BadRecording):
        load_recording(CallMeta(external_id="cut", path=cut), settings)
    cut_adts = tmp_path / "cut.aac"
    cut_adts.write_bytes((root / "aac.aac").read_bytes()[:20000])  # a stream without an index: cut short
    rec = load_recording(CallMeta(external_id="cut-adts", path=cut_adts), settings)
    assert rec.duration < 10  # what is there is decoded, and no more is claimed


@pytest.mark.slow
def test_the_front_end_reads_every_codec(encoded, tmp_path):
    from qc.evaluate import word_errors
    from qc.pipeline import analyze_call

    root, truth = encoded
    cfg = Settings(data_dir=tmp_path / "data")
    reference = " ".join(t.text for t in sorted(truth.turns, key=lambda t: t.start))
    wer = {name: word_errors(reference, " ".join(w.text for w in analyze_call(
        CallMeta(external_id=name, path=root / name), cfg).words)).wer for name in ("source.wav", *CODECS)}
    print(wer)
    assert wer["source.wav"] <= 0.25, wer
    for name in CODECS:
        assert wer[name] <= wer["source.wav"] + 0.10, wer
