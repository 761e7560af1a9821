"""Long calls run in bounded memory: a 1 h call (silence and noise with a few stretches of speech)
goes through decode -> embedded diarization -> transcription from a work file, and its peak memory is
no higher than that of a 12 min call with the same speech, give or take a small allowance."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.qc.conftest import RATE, speak

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import qc
    from qc.audio import load_recording
    from qc.config import Settings
    from qc.diarize import diarize
    from qc.records import CallMeta
    from qc.transcribe import transcribe

    path, data = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = Settings(data_dir=data, in_memory_seconds=120.0)
    t0 = time.perf_counter()
    rec = load_recording(CallMeta(external_id=path.stem, path=path, layout="mono"), cfg, call_id=path.stem)
    in_memory = rec.in_memory
    turns = diarize(rec, cfg).turns
    words = transcribe(rec, turns, cfg)
    rec.close()
    # peak RSS of this process alone: ru_maxrss would keep the test runner's, from before exec
    hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rss_mb": hwm_kib / 1024,
                      "in_memory": in_memory, "duration": rec.duration, "turns": len(turns),
                      "words": len(words), "seconds": time.perf_counter() - t0,
                      "speakers": sorted({t.speaker for t in turns})}))
""")


QUESTIONS = ["How can I help you today?", "What is your account number?", "When did you place the order?",
             "Which card did you use?", "Can I have your postcode?", "Is the address still correct?"]
ANSWERS = ["I would like to check my order.", "It is four five six seven.", "I ordered it last Tuesday.",
           "I used my debit card.", "It is north one two.", "Yes, nothing has changed."]


def exchanges() -> list[list[np.ndarray]]:
    """Twelve short agent/customer exchanges, all different (repeated text would make Whisper fall
    back to sampling, a cost no real call pays)."""
    out = []
    for k in range(12):
        q, a = QUESTIONS[k % 6], ANSWERS[(k + k // 6) % 6]
        out.append([0.6 * speak(q, "en-us+f3"), 0.6 * speak(a, "en-gb+m3")])
    return out


def write_long_call(path: Path, minutes: float, talk: list[list[np.ndarray]], every: int) -> None:
    """``minutes`` of faint noise with the next exchange every ``every`` minutes, written in blocks."""
    rng = np.random.default_rng(0)
    block = 60 * RATE
    pending = list(talk)
    with sf.SoundFile(str(path), "w", samplerate=RATE, channels=1, subtype="PCM_16") as out:
        for minute in range(int(minutes)):
            audio = 0.001 * rng.standard_normal(block).astype(np.float32)
            if minute % every == 0 and pending:
                t = int(2 * RATE)
                for speech in pending.pop(0):
                    audio[t:t + len(speech)] += speech[: block - t]
                    t += len(speech) + int(0.7 * RATE)
            out.write(audio)


def run_worker(path: Path, data: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, str(path), str(data)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_hour_call_in_bounded_memory(tmp_path):
    talk = exchanges()
    # the same twelve exchanges in 12 min and in 60 min: only the length differs
    short, long = tmp_path / "twelve-minutes.wav", tmp_path / "one-hour.wav"
    write_long_call(short, 12, talk, every=1)
    write_long_call(long, 60, talk, every=5)
    small = run_worker(short, tmp_path / "data-short")
    big = run_worker(long, tmp_path / "data-long")
    assert not small["in_memory"] and not big["in_memory"]  # both read from the work file
    assert big["duration"] == pytest.approx(3600, abs=1)
    assert big["turns"] >= 12 * 2 - 4 and big["words"] >= 12 * 9  # twelve exchanges were heard
    assert big["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    # a 1 h call decoded in memory would hold 3600 s * 16 kHz * 4 B = 230 MB of samples alone
    assert big["rss_mb"] - small["rss_mb"] < 60, (small, big)
