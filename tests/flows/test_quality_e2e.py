"""Real recordings' failure modes through the nightly flow with the shipped models: a dual-mono file
(the mixed conversation on both channels, the second through a lossy codec with a delay and a gain)
that calls.csv calls stereo, speech in languages the English ASR model cannot read, beside a sound
stereo call. Nothing comes out silently empty, and no invented text is stored as words."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
import sqlalchemy as sa

from qc.config import Settings
from qc.evaluate import word_errors
from qc.synth import make_call

pytestmark = pytest.mark.slow
RATE = 16000


def _lossy(x: np.ndarray, delay_s: float, gain_db: float) -> np.ndarray:
    buf = io.BytesIO()
    sf.write(buf, x, RATE, format="WAV")
    mp3 = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "-", "-ar", "8000", "-b:a", "32k",
                          "-f", "mp3", "-"], input=buf.getvalue(), capture_output=True, check=True).stdout
    wav = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", "-", "-ar", str(RATE), "-ac", "1", "-f", "wav",
                          "-"], input=mp3, capture_output=True, check=True).stdout
    y, _ = sf.read(io.BytesIO(wav), dtype="float32")
    y = np.concatenate([np.zeros(int(delay_s * RATE), np.float32), y]) * 10 ** (gain_db / 20)
    return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]


def _espeak(path, voice: str, text: str) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-inbox")
    truth, wav = make_call(21, 0, "stereo", None)
    x, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    x = soxr.resample(x, sr, RATE).T
    mix = x.mean(axis=0)
    sf.write(root / "dual.wav", np.stack([mix, _lossy(mix, 0.012, -1.0)]).T, RATE)
    sf.write(root / "mixed.wav", mix, RATE)
    (root / "stereo.wav").write_bytes(wav)
    sf.write(root / "swapped.wav", x.T, RATE)  # the same call, listed with the wrong agent channel
    _espeak(root / "german.wav", "de", "Guten Tag, ich rufe an, weil meine Rechnung falsch ist. Können Sie mir "
            "bitte helfen? Ich habe letzten Monat zweimal bezahlt und möchte mein Geld zurück.")
    _espeak(root / "french.wav", "fr", "Bonjour, j'appelle parce que ma facture est fausse. Pouvez-vous m'aider "
            "s'il vous plaît? J'ai payé deux fois le mois dernier.")
    with open(root / "calls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "file", "layout"])
        w.writerows([["dual", "dual.wav", "stereo:agent=0"], ["mixed", "mixed.wav", "mono"],
                     ["stereo", "stereo.wav", f"stereo:agent={truth.agent_channel}"],
                     ["swapped", "swapped.wav", f"stereo:agent={1 - truth.agent_channel}"],
                     ["german", "german.wav", "mono"], ["french", "french.wav", "mono"]])
    return root, " ".join(t.text for t in sorted(truth.turns, key=lambda t: t.start))


@pytest.fixture(scope="module")
def night(inbox, tmp_path_factory, prefect_harness):
    from flows.nightly import run_nightly

    cfg = Settings(data_dir=tmp_path_factory.mktemp("quality") / "data", task_runner="sequential")
    return cfg, run_nightly(inbox[0], cfg)


def _calls(cfg):
    engine = sa.create_engine(cfg.db_url)
    with engine.connect() as con:
        rows = con.execute(sa.text("SELECT external_id, layout, layout_reason, quality_flags, quality_ok, "
                                   "(SELECT COUNT(*) FROM words w WHERE w.call_id = c.call_id) AS words "
                                   "FROM calls c")).mappings().all()
    return {r["external_id"]: dict(r) for r in rows}


def _text(cfg, external_id):
    engine = sa.create_engine(cfg.db_url)
    with engine.connect() as con:
        return " ".join(con.execute(sa.text(
            "SELECT w.text FROM words w JOIN calls c ON c.call_id = w.call_id WHERE c.external_id = :e "
            "ORDER BY w.start_s"), {"e": external_id}).scalars())


def test_dual_mono_is_read_as_well_as_the_same_call_in_mono(night, inbox):
    cfg, summary = night
    calls = _calls(cfg)
    dual, mixed = calls["dual"], calls["mixed"]
    assert dual["layout"] == "mono" and "dual mono" in dual["layout_reason"]
    assert "calls.csv says stereo" in dual["layout_reason"]
    reference = inbox[1]
    wer_dual = word_errors(reference, _text(cfg, "dual")).wer
    wer_mixed = word_errors(reference, _text(cfg, "mixed")).wer
    assert dual["words"] > 100 and wer_dual <= 0.2
    assert abs(wer_dual - wer_mixed) <= 0.03, (wer_dual, wer_mixed)
    assert calls["stereo"]["layout"] == "stereo" and calls["stereo"]["layout_reason"].startswith("two parties")
    assert calls["stereo"]["quality_ok"] and json.loads(calls["stereo"]["quality_flags"]) == []


def test_speech_the_asr_cannot_read_is_flagged_and_stores_no_words(night):
    cfg, summary = night
    calls = _calls(cfg)
    for name, language in (("german", "de"), ("french", "fr")):
        row = calls[name]
        flags = json.loads(row["quality_flags"])
        assert not row["quality_ok"] and row["words"] == 0, (name, flags)
        assert any(f"another language ({language}" in f for f in flags), flags
    french = json.loads(calls["french"]["quality_flags"])
    assert any("no one could have said" in f for f in french), french  # the loop, caught before storage


def test_the_run_counts_quality_issues_and_leaves_them_out_of_the_scores(night):
    from warehouse import Warehouse
    from warehouse import queries

    cfg, summary = night
    assert summary.count("processed") == 6
    flagged = {o.external_id for o in summary.quality_issues}
    assert {"german", "french"} <= flagged and "stereo" not in flagged
    sound = [o.qa_score for o in summary.outcomes if o.external_id not in flagged]
    assert summary.mean_qa_score == pytest.approx(sum(sound) / len(sound))
    from flows.nightly import report_markdown

    report = report_markdown(summary)
    assert "## Quality issues" in report and "`german`" in report
    by_day = queries.qa_summary(Warehouse.from_url(cfg.db_url), by="call_date")
    assert int(by_day["quality_issues"].sum()) == len(flagged)
    assert int(by_day["scored"].sum()) == 6 - len(flagged)


def test_a_wrong_channel_map_is_flagged_with_its_evidence(night, inbox):
    cfg, summary = night
    calls = _calls(cfg)
    row = calls["swapped"]
    flags = json.loads(row["quality_flags"])
    assert row["layout"] == "stereo" and not row["quality_ok"]
    assert any(f"the channel map puts the agent on channel {row_agent}" in f and "opens like an agent ('" in f
               for f in flags for row_agent in (0, 1)), flags
    assert not any("listening just so you know" in f for f in flags)  # phrases named, the words not quoted
    assert calls["stereo"]["quality_ok"]
