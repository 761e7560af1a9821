"""DER/JER/WER helpers: numbers checked against hand-computed values."""

from __future__ import annotations

import json

import pytest

from qc.evaluate import (diarization_report, read_reference_texts, read_rttm, to_annotation, transcript_text,
                         wer_report, write_rttm)
from qc.records import Turn
from qc.text import normalize

REF = [(0.0, 10.0, "agent"), (10.0, 20.0, "customer")]


def test_identical_diarization_scores_zero():
    report = diarization_report([("a", to_annotation(REF), to_annotation([(0, 10, "X"), (10, 20, "Y")]))])
    assert report.der == pytest.approx(0.0)
    assert report.jer == pytest.approx(0.0)
    assert report.summary().splitlines()[-1] == "DER 0.0000"


def test_collar_is_seconds_each_side():
    hyp = to_annotation([(0.0, 10.2, "X"), (10.2, 20.0, "Y")])  # boundary 0.2 s late
    assert diarization_report([("a", to_annotation(REF), hyp)], collar=0.25).der == pytest.approx(0.0)
    # without a collar, 0.2 s of 20 s is confusion
    assert diarization_report([("a", to_annotation(REF), hyp)], collar=0.0).der == pytest.approx(0.01)
    # 0.1 s each side is not enough for a 0.2 s shift: 0.1 s confused over 19.6 s scored
    assert diarization_report([("a", to_annotation(REF), hyp)], collar=0.1).der == pytest.approx(0.1 / 19.6)


def test_overlap_is_scored_and_missed_overlap_counts():
    ref = to_annotation([(0.0, 10.0, "agent"), (8.0, 20.0, "customer")])
    hyp = to_annotation([(0.0, 9.0, "X"), (9.0, 20.0, "Y")])  # no overlap reported
    report = diarization_report([("a", ref, hyp)], collar=0.0)
    row = report.rows[0]
    assert row.total == pytest.approx(22.0)  # overlapped seconds count twice
    assert row.missed == pytest.approx(2.0)
    assert report.der == pytest.approx(2.0 / 22.0)


def test_overall_der_is_time_weighted():
    good = ("a", to_annotation(REF), to_annotation([(0, 10, "X"), (10, 20, "Y")]))
    bad = ("b", to_annotation([(0.0, 5.0, "agent")]), to_annotation([]))  # all 5 s missed
    report = diarization_report([good, bad], collar=0.0)
    assert report.der == pytest.approx(5.0 / 25.0)


def test_rttm_roundtrip(tmp_path):
    turns = [Turn(call_id="c", start=0.5, end=2.0, channel=0, speaker="SPEAKER_00"),
             Turn(call_id="c", start=2.5, end=4.25, channel=0, speaker="SPEAKER_01")]
    write_rttm(tmp_path / "c.rttm", "c", turns)
    assert read_rttm(tmp_path / "c.rttm") == {"c": [(0.5, 2.0, "SPEAKER_00"), (2.5, 4.25, "SPEAKER_01")]}


def test_whisper_normalization_makes_spelling_and_numbers_equal():
    assert normalize("Mr. Smith paid twenty-five dollars for the colour TV!") == normalize(
        "mister smith paid $25 for the color tv")
    assert normalize("Um, I can't, uh, do that.") == "i can not do that"


def test_spoken_digits_and_addresses_have_one_spelling():
    # Whisper writes digits read one by one in several ways; all are the same words
    spoken = normalize("The last four digits are nine seven six one.")
    assert spoken == "the last 4 digits are 9 7 6 1"
    assert normalize("The last four digits are 9.7.6.1.") == spoken
    assert normalize("The last 4 digits are 9 7 6 1") == spoken
    assert normalize("It is susan at example dot com") == normalize("It is susan at example.com")
    assert normalize("it costs 3.50") != normalize("it costs 3 5 0")  # a decimal stays a decimal


def test_wer_counts_errors_over_all_reference_words():
    report = wer_report([("a", "the cat sat on the mat", "the cat sat on a mat"),  # 1 sub / 6
                         ("b", "hello there", "hello there friend")])  # 1 ins / 2
    assert report.rows[0].wer == pytest.approx(1 / 6)
    assert report.rows[1].insertions == 1
    assert report.wer == pytest.approx(2 / 8)
    assert report.summary().splitlines()[-1] == "WER 0.2500"


def test_reference_texts_from_tsv_and_generator_directory(tmp_path):
    (tmp_path / "ref.tsv").write_text("file\ttext\ncall-1.wav\tHello there.\ncall-2\tGood bye\n")
    assert read_reference_texts(tmp_path / "ref.tsv") == {"call-1": "Hello there.", "call-2": "Good bye"}
    corpus = tmp_path / "corpus"
    (corpus / "transcripts").mkdir(parents=True)
    doc = {"turns": [{"speaker": "customer", "start": 3.0, "end": 4.0, "text": "second"},
                     {"speaker": "agent", "start": 0.5, "end": 3.5, "text": "first"}]}
    (corpus / "transcripts" / "c1.json").write_text(json.dumps(doc))
    assert read_reference_texts(corpus) == {"c1": "first second"}
    assert transcript_text(doc["turns"]) == "first second"
