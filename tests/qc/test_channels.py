"""Two-channel files as recorders really write them: the layout is decided from the audio, with its
reason stored. Audio: synthetic two-party stereo calls (each party on its own channel, with cross-talk
leakage) and what recorders make of them: a dual-mono copy through a lossy codec with a delay and a
gain, a channel that only carries the other's leakage, a silent channel."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr

from qc.audio import load_recording
from qc.channels import analyse_channels
from qc.records import CallMeta
from qc.synth import make_call

RATE = 16000


@pytest.fixture(scope="module")
def calls():
    out = []
    for seed in (11, 12):
        truth, wav = make_call(seed, 0, "stereo", None)
        x, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        out.append((truth, soxr.resample(x, sr, RATE).T.astype(np.float32)))
    return out


def verdict(x: np.ndarray):
    return analyse_channels(lambda a, b: x[:, int(a * RATE):int(b * RATE)], x.shape[1] / RATE, RATE)


def lossy(x: np.ndarray, delay_s: float, gain_db: float) -> np.ndarray:
    """``x`` through an 8 kHz MP3 round trip at 32 kbit/s, delayed and scaled: what a recorder that
    writes the mixed conversation twice leaves on its second channel."""
    buf = io.BytesIO()
    sf.write(buf, x, RATE, format="WAV")
    mp3 = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "-", "-ar", "8000", "-b:a", "32k",
                          "-f", "mp3", "-"], input=buf.getvalue(), capture_output=True, check=True).stdout
    wav = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", "-", "-ar", str(RATE), "-ac", "1", "-f", "wav",
                          "-"], input=mp3, capture_output=True, check=True).stdout
    y, _ = sf.read(io.BytesIO(wav), dtype="float32")
    y = np.concatenate([np.zeros(int(delay_s * RATE), np.float32), y]) * 10 ** (gain_db / 20)
    return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]


def test_two_parties_stay_stereo(calls):
    for _, x in calls:
        v = verdict(x)
        assert v.kind == "two_party" and not v.one_conversation
        assert v.similarity < 0.3


def test_dual_mono_through_a_codec_with_delay_and_gain_is_one_conversation(calls):
    for _, x in calls:
        mix = x.mean(axis=0)
        v = verdict(np.stack([mix, lossy(mix, 0.015, -1.5)]))
        assert v.kind == "dual_mono" and v.one_conversation
        assert v.similarity > 0.8 and abs(v.level_db) < 3
        assert "dual mono" in v.reason


def _espeak(text: str) -> np.ndarray:
    """Wideband speech (espeak-ng at 22 kHz, resampled to RATE): sound up to 8 kHz."""
    wav = subprocess.run(["espeak-ng", "-s", "150", "--stdout", text], capture_output=True, check=True).stdout
    data, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(data, rate, RATE).astype(np.float32)


def _pcm16(x: np.ndarray) -> np.ndarray:
    """``x`` (channels, n) as a 16-bit WAV file holds it."""
    buf = io.BytesIO()
    sf.write(buf, x.T, RATE, format="WAV", subtype="PCM_16")
    buf.seek(0)
    return sf.read(buf, dtype="float32")[0].T


def test_wideband_dual_mono_keeps_the_original_not_the_louder_copy():
    """The copy through an 8 kHz codec, 3 dB louder, on either channel of a 16-bit file: the original,
    which keeps the speech's sound above 4 kHz, is kept."""
    mix = np.concatenate([_espeak("Thank you for calling, my name is Sam, how can I help you today?"),
                          np.zeros(RATE // 2, np.float32),
                          _espeak("I would like to ask about the bill I got last week, it looks too high.")])
    copy = lossy(mix, 0.02, 3.0)
    for pair, original in (((mix, copy), 0), ((copy, mix), 1)):
        v = verdict(_pcm16(np.stack(pair)))
        assert v.kind == "dual_mono" and v.channel == original, v.reason
        assert f"channel {original} keeps" in v.reason and "above 4 kHz" in v.reason


def test_narrowband_dual_mono_keeps_the_louder(calls):
    """Telephone speech has no sound above 4 kHz on either channel: the louder channel is kept."""
    mix = calls[0][1].mean(axis=0)
    for gain, louder in ((3.0, 1), (-3.0, 0)):
        v = verdict(_pcm16(np.stack([mix, lossy(mix, 0.02, gain)])))
        assert v.kind == "dual_mono" and v.channel == louder and "is the louder" in v.reason, v.reason


def test_a_channel_of_leakage_only_and_a_silent_channel(calls):
    rng = np.random.default_rng(0)
    truth, x = calls[0]
    agent = x[truth.agent_channel]
    leak = 0.05 * agent + 1e-4 * rng.standard_normal(agent.size).astype(np.float32)
    v = verdict(np.stack([agent, leak]))
    assert v.kind == "copy" and v.channel == 0 and v.level_db > 20
    silent = verdict(np.stack([1e-4 * rng.standard_normal(agent.size).astype(np.float32), agent]))
    assert silent.kind == "one_silent" and silent.channel == 1


def test_a_party_who_says_little_keeps_the_call_stereo(calls):
    """A customer who only says one short thing hardly changes the channels' correlation; their own
    sound on their channel keeps the call two-party."""
    rng = np.random.default_rng(1)
    truth, x = calls[1]
    a, c = truth.agent_channel, 1 - truth.agent_channel
    short = min((t for t in truth.turns if t.role == "customer"), key=lambda t: t.end - t.start)
    quiet = 0.05 * x[a] + 1e-4 * rng.standard_normal(x.shape[1]).astype(np.float32)
    i, j = int(short.start * RATE), int(short.end * RATE)
    quiet[i:j] = x[c, i:j]
    out = np.zeros_like(x)
    out[a], out[c] = x[a], quiet
    assert short.end - short.start < 2.5
    assert verdict(out).kind == "two_party"


def test_load_recording_takes_dual_mono_down_the_mono_path_and_says_why(calls, tmp_path, settings):
    _, x = calls[0]
    mix = x.mean(axis=0)
    path = tmp_path / "dual.wav"
    sf.write(path, np.stack([mix, lossy(mix, 0.01, -0.5)]).T, RATE)
    rec = load_recording(CallMeta(external_id="dual", path=path, layout="stereo", agent_channel=0), settings)
    assert rec.layout == "mono" and rec.channels == 1 and rec.source_channels == 2
    assert "dual mono" in rec.layout_reason and "calls.csv says stereo" in rec.layout_reason
    np.testing.assert_allclose(rec.read(0, 5.0), mix[None, :5 * RATE], atol=2e-3)  # channel 0, unmixed
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, x.T, RATE)
    rec = load_recording(CallMeta(external_id="stereo", path=stereo), settings)
    assert rec.layout == "stereo" and rec.layout_reason.startswith("two parties")
