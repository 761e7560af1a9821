"""``callqc bench`` end to end on its smallest corpus (5 mono + 5 stereo calls), without WhisperX:
every table it promises is there, filled from real runs, written as JSON, latest.md and into a README.
No timing is asserted (the bench reports speed; tests do not judge it)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_bench_writes_every_table(tmp_path):
    from bench.suite import README_END, README_START, STAGES, render, run

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_START}\nold table\n{README_END}\n\nrest\n")
    lines: list[str] = []
    res = run(minutes=2.0, seed=2026, whisperx=False, out_dir=tmp_path / "out", cache=tmp_path / "cache",
              side_calls=1, readme=readme, log=lambda *a: lines.append(" ".join(map(str, a))))

    stereo, mono = res["pipeline"]["stereo"], res["pipeline"]["mono"]
    assert stereo["calls"] == mono["calls"] == 5 and stereo["rejected"] == mono["rejected"] == 0
    for stage in ("decode", "diarize", "transcribe", "pii", "rules", "spectrogram", "classify"):
        assert stage in STAGES and stereo["stage_seconds"][stage] > 0
    assert "classify" not in mono["stage_seconds"]  # nothing promoted before the mono run
    assert stereo["scored_by"] == [res["classifier"]["version"]]  # the stereo run is scored by the trained model
    assert 0 < res["stages_over_transcription"] < 10 and stereo["audio_hours_per_hour"] > 0
    assert res["peak_rss_mb"] > 100

    sbs = res["side_by_side"]
    assert sbs["files"] == 2 and "whisperx_seconds" not in sbs
    assert abs(sbs["callqc_words"] - sbs["plain_words"]) <= 0.3 * sbs["plain_words"]

    q = res["quality"]
    assert q["wer_stereo"] < 0.2 and q["wer_mono"] < 0.2 and q["der_mono"] < 0.2
    f1 = res["classifier"]["macro_f1"]
    assert set(f1) >= {"fused_concat", "fused_concat-images", "text_only", "audio_only"}  # the default variants
    assert all(0.0 <= v <= 1.0 for per_label in f1.values() for v in per_label.values())

    saved = json.loads(next((tmp_path / "out").glob("*-cpu.json")).read_text())
    assert saved["pipeline"]["stereo"]["calls"] == 5
    table = render(res)
    assert (tmp_path / "out" / "latest.md").read_text().strip() == table.strip()
    text = readme.read_text()
    assert "old table" not in text and table in text and text.endswith("rest\n")
    assert "| transcribe |" in table and "WhisperX" not in table.split("Quality:")[0].split("in one run:")[1]
