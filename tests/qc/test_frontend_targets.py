"""The front-end's targets on synthetic calls from the generator, with a seed never used for tuning:
DER (collar 0.25 s each side, overlap scored) and WER (Whisper normalization, tiny.en)."""

from __future__ import annotations

import pytest

from qc.config import Settings
from qc.evaluate import evaluate_asr, evaluate_diarization
from tests.qc.conftest import TARGET_MONO_CALLS, TARGET_STEREO_CALLS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mono(corpus_factory):
    return corpus_factory("mono", TARGET_MONO_CALLS)


@pytest.fixture(scope="module")
def stereo(corpus_factory):
    return corpus_factory("stereo", TARGET_STEREO_CALLS)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


def test_mono_diarization_der(mono, cfg, test_output):
    report = evaluate_diarization(mono / "audio", mono / "rttm", cfg, collar=0.25)
    (test_output / "frontend-der-mono.txt").write_text(report.table() + "\n" + report.summary() + "\n")
    assert len(report.rows) >= 20
    assert all(r.hyp_speakers == 2 for r in report.rows)  # two-party calls stay two under the default count
    assert report.der <= 0.10, report.table()
    assert report.jer <= 0.15, report.table()


def test_stereo_diarization_der(stereo, cfg, test_output):
    report = evaluate_diarization(stereo / "audio", stereo / "rttm", cfg, collar=0.25)
    (test_output / "frontend-der-stereo.txt").write_text(report.table() + "\n" + report.summary() + "\n")
    assert all(r.hyp_speakers == 2 for r in report.rows)
    assert report.der <= 0.03, report.table()


# WER with tiny.en (beam 5, Whisper's default) on the generator's flite audio, 8 calls of each layout
# (1497 reference words): 0.092 mono, 0.067 stereo on this seed. Greedy decoding (beam 1) gave 0.100
# and 0.086-0.088; the beam was chosen on the bench corpora (seeds 2026/2027: 0.081 -> 0.073 mono,
# 0.088 -> 0.068 stereo), where it helped as much. Stereo went to 0.077 when turn edges came from
# each channel's sound (qc.diarize.channels.refine_edges): the words are much the same, but turns split
# differently, and words said over the other party are read in another order (one call: 0.072 -> 0.169,
# a sentence read before, not after, the customer's overlapping words; three calls got better).
WER_CALLS = 8


@pytest.fixture(scope="module")
def mono_wer(mono, cfg):
    return evaluate_asr(mono / "audio", mono, cfg, limit=WER_CALLS)


@pytest.fixture(scope="module")
def stereo_wer(stereo, cfg):
    return evaluate_asr(stereo / "audio", stereo, cfg, limit=WER_CALLS)


def test_mono_wer_target(mono_wer, test_output):
    (test_output / "frontend-wer-mono.txt").write_text(mono_wer.table() + "\n" + mono_wer.summary() + "\n")
    assert len(mono_wer.rows) == WER_CALLS
    assert mono_wer.wer <= 0.10, mono_wer.table()


def test_stereo_wer_target(stereo_wer, test_output):
    (test_output / "frontend-wer-stereo.txt").write_text(stereo_wer.table() + "\n" + stereo_wer.summary() + "\n")
    assert len(stereo_wer.rows) == WER_CALLS
    assert stereo_wer.wer <= 0.08, stereo_wer.table()
