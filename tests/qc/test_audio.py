from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from qc.audio import content_hash, load_recording, probe
from qc.records import BadRecording, CallMeta
from tests.conftest import tone, write_audio


def meta(path: Path, **kw) -> CallMeta:
    return CallMeta(external_id=path.stem, path=path, **kw)


def test_mono_wav_is_resampled_to_16k(tmp_path, settings):
    path = write_audio(tmp_path / "a.wav", tone(2.0, 8000), 8000)
    rec = load_recording(meta(path), settings)
    assert rec.layout == "mono" and rec.channels == 1
    assert rec.sample_rate == 16000 and rec.source_sample_rate == 8000
    assert rec.frames == pytest.approx(32000, abs=2)
    assert rec.duration == pytest.approx(2.0, abs=1e-3)
    assert rec.call_id == content_hash(path) and len(rec.call_id) == 64


@pytest.mark.parametrize("suffix,kwargs", [(".flac", {}), (".ogg", {"subtype": "VORBIS"}), (".mp3", {})])
def test_other_containers_decode(tmp_path, settings, suffix, kwargs):
    path = write_audio(tmp_path / f"a{suffix}", tone(3.0, 16000), 16000, **kwargs)
    rec = load_recording(meta(path), settings)
    assert rec.duration == pytest.approx(3.0, abs=0.1)
    x = rec.read(0.5, 2.5)
    assert x.shape[0] == 1 and abs(x.shape[1] - 32000) <= 2
    assert 0.15 < float(np.abs(x).max()) < 0.5


def test_stereo_keeps_channels_and_agent_channel(tmp_path, settings):
    data = np.stack([tone(2.0, freq=300), tone(2.0, freq=900, amp=0.1, seed=1)])
    path = write_audio(tmp_path / "s.wav", data)
    rec = load_recording(meta(path, agent_channel=1), settings)
    assert rec.layout == "stereo" and rec.channels == 2 and rec.agent_channel == 1
    assert rec.read(channel=0).std() > 2 * rec.read(channel=1).std()
    default = load_recording(meta(path), settings)
    assert default.agent_channel == settings.stereo_agent_channel == 0


def test_identical_stereo_channels_are_a_mono_call(tmp_path, settings):
    x = tone(2.0)
    path = write_audio(tmp_path / "dup.wav", np.stack([x, x]))
    rec = load_recording(meta(path), settings)
    assert rec.layout == "mono" and rec.channels == 1
    assert "dual mono: identical channels" in rec.layout_reason


def test_six_channels_mixed_down_and_96k_resampled(tmp_path, settings):
    data = np.stack([tone(1.5, 96000, freq=200 * (i + 1), seed=i) for i in range(6)])
    path = write_audio(tmp_path / "six.wav", data, 96000)
    rec = load_recording(meta(path), settings)
    assert rec.layout == "mono" and rec.source_channels == 6 and rec.source_sample_rate == 96000
    assert rec.sample_rate == 16000 and rec.duration == pytest.approx(1.5, abs=1e-3)
    assert any("6 channels" in n for n in rec.notes)


def test_too_many_channels_rejected(tmp_path, settings):
    path = write_audio(tmp_path / "many.wav", np.zeros((10, 16000), np.float32), 8000)
    with pytest.raises(BadRecording, match="10 channels"):
        load_recording(meta(path), settings)


def test_stereo_claim_on_mono_file_rejected(tmp_path, settings):
    path = write_audio(tmp_path / "m.wav", tone(1.0))
    with pytest.raises(BadRecording, match="says stereo"):
        load_recording(meta(path, layout="stereo"), settings)


def test_bad_files_rejected_with_reasons(tmp_path, settings):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 50)
    good = write_audio(tmp_path / "good.wav", tone(4.0))
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    one = write_audio(tmp_path / "one.wav", np.zeros(1, np.float32))
    zero = write_audio(tmp_path / "zero.wav", np.zeros(0, np.float32))
    directory = tmp_path / "folder.wav"
    directory.mkdir()
    expected = {empty: "empty file", text: "not a readable audio file", truncated: "truncated",
                one: "too short", zero: "no audio samples", directory: "cannot read"}
    for path, reason in expected.items():
        with pytest.raises(BadRecording, match=reason):
            load_recording(meta(path), settings)


def test_nan_samples_rejected(tmp_path, settings):
    x = tone(1.0, 16000)
    x[100] = np.nan
    path = write_audio(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(BadRecording, match="NaN"):
        load_recording(meta(path), settings)


def test_long_call_is_read_in_windows_from_a_work_file(tmp_path, settings):
    data = np.stack([tone(12.0, freq=300), tone(12.0, freq=700, seed=3)])
    path = write_audio(tmp_path / "long.wav", data)
    in_memory = load_recording(meta(path), settings)
    windowed = load_recording(meta(path), settings.model_copy(update={"in_memory_seconds": 5.0}))
    assert in_memory.in_memory and not windowed.in_memory
    assert windowed.frames == in_memory.frames
    a, b = in_memory.read(3.0, 7.5), windowed.read(3.0, 7.5)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) < 2e-3  # 16-bit work file
    starts = [s for s, _ in windowed.windows(5.0, channel=1)]
    assert starts == [0.0, 5.0, 10.0]
    windowed.close()
    assert not list(settings.work_dir.glob("*.wav"))


def test_probe_reports_header(tmp_path):
    path = write_audio(tmp_path / "p.wav", np.stack([tone(1.0), tone(1.0, seed=2)]))
    info = probe(path)
    assert (info.channels, info.sample_rate, info.frames) == (2, 8000, 8000)


def test_records_are_frozen(tmp_path):
    from qc.records import Turn

    t = Turn(call_id="c", start=1.0, end=2.5, channel=0, speaker="SPEAKER_00")
    assert t.duration == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.start = 0.0  # type: ignore[misc]
