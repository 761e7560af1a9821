"""Hostile and unusual input through the real pipeline: every file ends as a stored rejection with a
reason an analyst can read, or as a correct result; nothing outside the inbox is ever opened.

The decoder-level checks (empty, zero/one sample, text, truncated, NaN, 6 ch / 96 kHz decoding) are unit
tested in ``test_audio.py`` and the sidecar rules in ``test_inbox.py``; here the same files go through
``nightly_qc`` (or ``handle_call``) and the warehouse, with the shipped models.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa

from qc.config import Settings
from qc.evaluate import wer_report
from qc.inbox import scan_inbox
from tests.conftest import tone, write_audio

REPO = Path(__file__).resolve().parents[2]


# --- the sidecar: malformed files never stop a scan ------------------------------------------------------

@pytest.mark.parametrize("content,reason", [
    (b"call_id,file\nA,a.wav\x00\n", "malformed row (control characters in file"),
    (b'call_id,file\nA,"a.wav\nB,b.wav\n', "malformed row (control characters in file"),
    (b"call_id,file\nA,\xff\xfea.wav\n", "calls.csv unreadable"),
    (bytes(range(256)) * 4, "calls.csv unreadable"),
    (b"", "no 'file' column (header: empty)"),
    (b"file,file\na.wav,b.wav\n", "repeats columns ['file']"),
    (b"call_id,file\nA,a.wav,extra,cells\nB\n", "calls.csv row has no file"),
])
def test_malformed_sidecar_gives_a_reason_and_the_audio_still_counts(tmp_path, content, reason):
    write_audio(tmp_path / "a.wav", tone(1))
    write_audio(tmp_path / "b.wav", tone(1, seed=1))
    (tmp_path / "calls.csv").write_bytes(content)
    scan = scan_inbox(tmp_path)
    assert sorted(m.path.name for m in scan.calls) == ["a.wav", "b.wav"]
    assert [r.reason for r in scan.rejections if reason in r.reason], [r.reason for r in scan.rejections]
    # every stored text is printable: no NUL or newline reaches the database
    for r in scan.rejections:
        assert not any(ord(ch) < 32 for ch in r.file + (r.external_id or ""))


# --- a hostile inbox through the real nightly flow ---------------------------------------------------------

def _speech_clip(seconds: float = 20.0) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of a synthetic stereo call: (frames, 2) float32 and its sample rate."""
    from qc.synth import make_call

    _, wav = make_call(seed=31, index=0, layout="stereo", snr_db=30.0)
    data, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return data[: int(seconds * rate)], rate


class OpenSpy:
    """Records every path opened from Python (audit hook) or by libsndfile (SoundFile)."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        self.active = True
        spy = self

        def hook(event, args):
            if spy.active and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                spy.paths.append(os.fsdecode(args[0]))

        sys.addaudithook(hook)  # hooks cannot be removed: ``active`` turns it off after the test
        original = sf.SoundFile.__init__

        def init(self_, file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)):
                spy.paths.append(os.fspath(file))
            return original(self_, file, *args, **kwargs)

        monkeypatch.setattr(sf.SoundFile, "__init__", init)

    def touched(self, target: Path) -> list[str]:
        real = target.resolve()
        out = []
        for p in self.paths:
            try:
                if Path(p).resolve() == real:
                    out.append(p)
            except (OSError, ValueError):
                continue
        return out


@pytest.fixture
def hostile_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.wav").write_bytes(b"")
    write_audio(inbox / "zero.wav", np.zeros(0, np.float32))
    write_audio(inbox / "one.wav", np.zeros(1, np.float32))
    (inbox / "notes.wav").write_text("this is not audio at all\n" * 50)
    good = write_audio(tmp_path / "good.wav", tone(4.0, seed=5))
    (inbox / "truncated.wav").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    write_audio(inbox / "silence.wav", np.zeros((2, 8000 * 20), np.float32))
    rng = np.random.default_rng(7)
    write_audio(inbox / "noise.wav", (0.1 * rng.standard_normal(8000 * 20)).astype(np.float32))
    clip, rate = _speech_clip()
    write_audio(inbox / "Ünïcode call ü 1.wav", clip.T, rate)
    write_audio(inbox / "dup-a.wav", tone(3.0, seed=9))
    shutil.copy(inbox / "dup-a.wav", inbox / "dup copy b.wav")  # the same audio under two names
    write_audio(inbox / "locked.wav", tone(3.0, seed=11))
    os.chmod(inbox / "locked.wav", 0)
    write_audio(tmp_path / "secret.wav", tone(3.0, seed=13))  # outside the inbox
    (inbox / "calls.csv").write_text(
        "call_id,file,agent_id,queue,started_at,layout\n"
        "ETC,../../etc/passwd,,,,\n"
        "SECRET,../secret.wav,,,,\n"
        "ABS,/etc/passwd,,,,\n"
        "SPEECH,Ünïcode call ü 1.wav,agent 7,billing,2026-11-20T09:30:00,stereo\n"
        "SPEECH,dup-a.wav,,,,\n",  # a duplicate call id: rejected, dup-a.wav is not processed with a guess
        encoding="utf-8",
    )
    return inbox


@pytest.mark.slow
def test_hostile_inbox_through_the_nightly_flow(hostile_inbox: Path, tmp_path: Path, monkeypatch, prefect_harness):
    from flows.nightly import run_nightly

    locked = hostile_inbox / "locked.wav"
    if os.geteuid() == 0:
        # root reads a mode-000 file anyway; make the kernel's answer the one an ordinary user gets
        real_access = os.access
        monkeypatch.setattr(os, "access",
                            lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
    spy = OpenSpy(monkeypatch)
    cfg = Settings(data_dir=tmp_path / "data", task_runner="sequential")
    try:
        summary = run_nightly(hostile_inbox, cfg)
    finally:
        spy.active = False
        os.chmod(locked, 0o644)

    by_file = {Path(o.file).name: o for o in summary.outcomes}
    expected_rejections = {
        "empty.wav": "empty file (0 bytes)",
        "zero.wav": "no audio samples",
        "one.wav": "too short: 0.000 s",
        "notes.wav": "not a readable audio file",
        "truncated.wav": "truncated file",
        "locked.wav": "cannot read file: permission denied",
        "passwd": "path points outside the inbox",
        "secret.wav": "path points outside the inbox",
        "dup-a.wav": "duplicate call_id 'SPEECH'",
    }
    for name, reason in expected_rejections.items():
        assert by_file[name].status == "rejected" and reason in by_file[name].reason, (name, by_file[name])

    # nothing outside the inbox was opened, by Python or by the audio decoder
    assert spy.paths, "the spy saw no opens at all"
    for outside in (tmp_path / "secret.wav", Path("/etc/passwd")):
        assert spy.touched(outside) == []
    assert spy.touched(hostile_inbox / "silence.wav")  # ... while the inbox's files were

    # the same audio under a second name is processed once; the other copy is reported, not stored twice
    assert by_file["dup copy b.wav"].status == "processed"
    assert {(o.file.endswith("dup-a.wav"), o.status) for o in summary.outcomes
            if o.call_id == by_file["dup copy b.wav"].call_id} <= {(False, "processed")}

    # silence and noise are calls without speech: stored, no words, no turns
    for name in ("silence.wav", "noise.wav"):
        assert by_file[name].status == "processed", by_file[name]
    speech = by_file["Ünïcode call ü 1.wav"]
    assert speech.status == "processed" and speech.external_id == "SPEECH" and speech.words >= 20

    engine = sa.create_engine(cfg.db_url)
    with engine.connect() as conn:
        calls = {r.external_id: r for r in conn.execute(sa.text(
            "SELECT c.external_id, c.source_path, c.agent_id, c.layout, c.channels, "
            "(SELECT COUNT(*) FROM words w WHERE w.call_id = c.call_id) AS words, "
            "(SELECT COUNT(*) FROM turns t WHERE t.call_id = c.call_id) AS turns FROM calls c"))}
        rejections = {Path(r.file).name: r.reason for r in conn.execute(sa.text("SELECT file, reason FROM rejections"))}
    engine.dispose()
    assert set(calls) == {"SPEECH", "silence", "noise", "dup copy b"}
    assert calls["silence"].words == 0 and calls["silence"].turns == 0 and calls["silence"].layout == "stereo"
    assert calls["noise"].words <= 3  # white noise: no speech turns, at most a stray hallucinated word
    assert calls["SPEECH"].agent_id == "agent 7" and calls["SPEECH"].source_path.endswith("Ünïcode call ü 1.wav")
    assert calls["SPEECH"].words == speech.words
    for name, reason in expected_rejections.items():
        assert reason in rejections[name], (name, rejections.get(name))
    # the run report names every rejection with its reason
    engine = sa.create_engine(cfg.db_url)
    with engine.connect() as conn:
        report = conn.execute(sa.text("SELECT report_markdown FROM pipeline_runs WHERE run_id = :r"),
                              {"r": summary.run_id}).scalar_one()
    engine.dispose()
    for name in expected_rejections:
        assert name in report


# --- unusual formats give the same words -------------------------------------------------------------------

@pytest.mark.slow
def test_six_channels_and_96_khz_give_the_words_of_the_original(tmp_path: Path):
    """A 6-channel file (mixed down) and a 96 kHz file (resampled) are transcribed like the 8 kHz stereo
    original; the stored call keeps the source's channel count and rate."""
    import soxr

    from flows.nightly import handle_call, open_warehouse
    from qc.audio import content_hash
    from qc.records import CallMeta

    clip, rate = _speech_clip()
    six = np.zeros((clip.shape[0], 6), np.float32)
    six[:, 0], six[:, 3] = clip[:, 0], clip[:, 1]  # agent and customer on two of six channels
    files = {
        "original": write_audio(tmp_path / "in" / "original.wav", clip.T, rate),
        "six": write_audio(tmp_path / "in" / "six.wav", six.T, rate),
        "hi-rate": write_audio(tmp_path / "in" / "hi-rate.wav", soxr.resample(clip, rate, 96000).T, 96000,
                               subtype="PCM_24"),
    }
    cfg = Settings(data_dir=tmp_path / "data")
    wh = open_warehouse(cfg)
    run_id = wh.start_run(cfg.public_dict(), "test")
    outcomes = {name: handle_call(CallMeta(external_id=name, path=path), content_hash(path), cfg, run_id)
                for name, path in files.items()}
    assert all(o.status == "processed" for o in outcomes.values()), outcomes
    texts = {name: " ".join(w.text for w in wh.load_call(o.call_id).words) for name, o in outcomes.items()}
    stored = {name: wh.load_call(o.call_id).call for name, o in outcomes.items()}
    assert (stored["six"].channels, stored["six"].layout) == (6, "mono")
    assert (stored["hi-rate"].sample_rate, stored["hi-rate"].layout) == (96000, "stereo")
    assert len(texts["original"].split()) >= 20
    for name in ("six", "hi-rate"):
        wer = wer_report([(name, texts["original"], texts[name])]).wer
        print(f"{name}: WER against the 8 kHz original {wer:.3f}")
        assert wer <= 0.25, (texts["original"], texts[name])


# --- a 3-hour call in bounded memory ----------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from flows.nightly import handle_call, open_warehouse
    from qc.audio import content_hash
    from qc.config import Settings
    from qc.records import CallMeta

    path, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = Settings(data_dir=data_dir, in_memory_seconds=float(sys.argv[3]))
    wh = open_warehouse(cfg)
    run_id = wh.start_run(cfg.public_dict(), "test")
    o = handle_call(CallMeta(external_id=path.stem, path=path), content_hash(path), cfg, run_id)
    # this process's own peak RSS: VmHWM belongs to the address space exec made; getrusage and wait4
    # keep the high-water mark of the process it was forked from (the test runner, GBs into a suite)
    hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("RESULT " + json.dumps({"status": o.status, "reason": o.reason, "audio_seconds": o.audio_seconds,
                                  "peak_rss_kib": hwm_kib,
                                  "seconds": o.seconds, "words": o.words, "timings": o.timings,
                                  "work_files": sorted(p.name for p in cfg.work_dir.glob("*"))
                                                if cfg.work_dir.exists() else []}))
""")


def _write_long_call(path: Path, hours: float, clip: np.ndarray, rate: int, every_s: float) -> None:
    """Quiet line noise for ``hours`` with ``clip`` spoken every ``every_s`` seconds, written block by block."""
    total = int(hours * 3600 * rate)
    rng = np.random.default_rng(3)
    block = 60 * rate
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16") as out:
        for start in range(0, total, block):
            n = min(block, total - start)
            chunk = (1e-4 * rng.standard_normal((n, 2))).astype(np.float32)
            if start % int(every_s * rate) == 0:
                k = min(len(clip), n)
                chunk[:k] += clip[:k]
            out.write(chunk)


def _run_child(path: Path, data_dir: Path, in_memory_seconds: float) -> tuple[dict, float]:
    """Process one call in a fresh interpreter; returns its outcome and its peak RSS in MiB."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(data_dir), str(in_memory_seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO, text=True)
    out = proc.stdout.read()
    proc.wait()
    assert proc.returncode == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[7:])
    return result, result["peak_rss_kib"] / 1024


@pytest.mark.slow
def test_three_hour_call_is_processed_in_bounded_memory(tmp_path: Path, test_output: Path):
    """A 3-hour stereo call (quiet line noise, a 20 s exchange every 30 minutes, so the speech stages
    see little audio and the test stays within CI time) is decoded to a work file and read in windows:
    its peak RSS stays close to a 1-minute call's, far below the 1.4 GB the decoded audio would take."""
    clip, rate = _speech_clip()
    long_call, short_call = tmp_path / "three-hours.wav", tmp_path / "one-minute.wav"
    _write_long_call(long_call, 3.0, clip, rate, every_s=1800)
    _write_long_call(short_call, 1 / 60, clip, rate, every_s=1800)
    short, short_rss = _run_child(short_call, tmp_path / "data-short", 1800.0)
    long, long_rss = _run_child(long_call, tmp_path / "data-long", 1800.0)
    stages = {k: round(v, 1) for k, v in long["timings"].items()}
    report = (f"3-hour call: {long['seconds']:.0f} s processing, {long['words']} words, peak RSS {long_rss:.0f} "
              f"MiB (1-minute call: {short['words']} words, {short_rss:.0f} MiB); stages {json.dumps(stages)}")
    print(report)
    (test_output / "three_hour_call.txt").write_text(report + "\n")
    assert short["status"] == "processed" and long["status"] == "processed", (short, long)
    assert long["audio_seconds"] == pytest.approx(3 * 3600, abs=0.1)
    # six exchanges, each heard as well as the same exchange at the start of the short call
    # (Whisper's batching makes a repeat of the same exchange vary by a few words)
    assert short["words"] >= 40 and long["words"] >= 0.8 * 6 * short["words"], report
    assert long["work_files"] == []  # the decoded work file is deleted after the call
    decoded_audio_mib = 3 * 3600 * 16000 * 2 * 4 / 2**20  # float32 stereo at 16 kHz: ~1318 MiB
    assert long_rss - short_rss < 400, report
    assert long_rss < short_rss + decoded_audio_mib / 3


@pytest.mark.slow
def test_speech_after_long_dead_air_is_heard_like_at_the_start(tmp_path: Path, settings):
    """The VAD skips dead air and starts fresh after it: an exchange after 5 minutes of line noise at
    -80 dBFS gets the speech probabilities it gets at the start of a call (a model state worn by minutes
    of near-silence once halved them, and whole turns were lost in long calls)."""
    from qc.audio import load_recording
    from qc.records import CallMeta
    from qc.vad import FRAME_SECONDS, speech_probabilities

    clip, rate = _speech_clip()
    # 300 s exactly: the exchange keeps its phase against the 32 ms VAD frames (a shift of a fraction of a
    # frame alone moves Silero's probabilities on this synthetic voice)
    quiet = (1e-4 * np.random.default_rng(0).standard_normal((300 * rate, 2))).astype(np.float32)
    start = write_audio(tmp_path / "start.wav", clip.T, rate)
    late = write_audio(tmp_path / "late.wav", np.concatenate([quiet, clip]).T, rate)
    offset = len(quiet) / rate
    for channel in (0, 1):
        a = speech_probabilities(load_recording(CallMeta("s", start), settings), channel)
        b = speech_probabilities(load_recording(CallMeta("l", late), settings), channel)
        n = int(19.0 / FRAME_SECONDS)
        k = int(round(offset / FRAME_SECONDS))
        assert b[: k - 40].max() == 0.0  # dead air: not run through the model
        assert abs(float(a[:n].mean()) - float(b[k:k + n].mean())) < 0.01
        assert abs(int((a[:n] > 0.5).sum()) - int((b[k:k + n] > 0.5).sum())) <= 3
