"""Which audio file the dashboard plays for a call, and the spectrogram image it draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from dashboards import media
from warehouse.testing import dummy_call_result


@pytest.fixture
def call(tmp_path):
    source = tmp_path / "inbox" / "call.wav"
    source.parent.mkdir()
    rng = np.random.default_rng(1)
    sf.write(str(source), 0.1 * rng.standard_normal((8000 * 4, 2)).astype(np.float32), 8000)
    return dataclasses.replace(dummy_call_result(1).call, source_path=str(source))


def test_prefers_the_redacted_copy(call, tmp_path):
    redacted_dir = tmp_path / "redacted"
    got = media.audio_source(call, redacted_dir)
    assert got == media.AudioSource(tmp_path / "inbox" / "call.wav", redacted=False)
    redacted_dir.mkdir()
    (redacted_dir / f"{call.call_id}.wav").write_bytes((tmp_path / "inbox" / "call.wav").read_bytes())
    got = media.audio_source(call, redacted_dir)
    assert got is not None and got.redacted and got.path.parent == redacted_dir and got.mime == "audio/wav"
    assert media.read_audio(got) == got.path.read_bytes()
    with pytest.raises(ValueError, match="too large"):
        media.read_audio(got, max_bytes=10)


def test_only_listed_paths(call, tmp_path):
    """A call id that is not a hex digest never becomes a path; a missing source gives None."""
    odd = dataclasses.replace(call, call_id="../../etc/passwd", source_path=str(tmp_path / "missing.wav"))
    (tmp_path / "redacted").mkdir()
    assert media.audio_source(odd, tmp_path / "redacted") is None


def test_spectrogram_png_per_channel(call):
    names = media.channel_names(call, 2)
    assert names == ["agent", "customer"]  # the dummy call's agent is on channel 0
    turns = ((0.0, 1.5, "agent"), (1.6, 3.0, "customer"), (3.0, 9.0, "unknown"))
    png = media.spectrogram_png(media.Path(call.source_path), names, turns)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert media.channel_names(dataclasses.replace(call, agent_channel=None), 1) == ["mixed"]


def test_spectrogram_of_a_broken_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEnot audio")
    with pytest.raises(RuntimeError, match="cannot decode"):
        media.spectrogram_png(bad, ["mixed"])
