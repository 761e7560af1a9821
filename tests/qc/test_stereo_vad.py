"""The stereo VAD skips the stretches where a channel stays at its noise floor (most of the other
party's turns) and finds the same speech as when it hears everything; the two channels' VAD run at
once give the same turns as one after the other."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from qc.vad import FRAME, frame_energy_db, load_vad, quiet_runs, speech_probabilities


def test_quiet_runs_keep_a_margin_to_sound_and_skip_only_long_stretches():
    floor, loud = -60.0, -20.0
    energy = np.full(400, floor)
    energy[100:150] = loud  # speech
    energy[190:200] = loud  # a short word: the 40 quiet frames before it are too few to skip
    energy[300:310] = floor + 5.0  # under floor + 6 dB: still quiet
    skip = quiet_runs(energy, above_floor_db=6.0, margin=10, min_frames=32)
    # the call's start needs no lead-in; 10 frames are kept before speech
    assert skip[:90].all() and not skip[90:100].any()
    assert not skip[100:200].any()  # speech, and a 40-frame pause (30 frames once its margins are kept)
    assert not skip[200:210].any() and skip[210:].all()  # hang-over margin, then the rest of the call
    assert not quiet_runs(np.full(20, floor)).any()  # shorter than a second: heard


class CountingVad:
    """The shipped VAD, counting the frames it is given."""

    def __init__(self):
        self.vad, self.frames = load_vad("silero"), 0

    def stream(self):
        inner = self.vad.stream()

        def run(audio: np.ndarray) -> np.ndarray:
            self.frames += len(audio) // FRAME
            return inner(audio)

        return run


@pytest.fixture(scope="module")
def stereo_call(tmp_path_factory):
    from qc.synth import make_call

    truth, wav = make_call(seed=7, index=0, layout="stereo", snr_db=25.0)
    data, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    path = tmp_path_factory.mktemp("vad") / "call.wav"
    sf.write(path, data, rate)
    return path


def test_skipping_the_quiet_stretches_finds_the_same_speech(stereo_call, tmp_path):
    from qc.audio import load_recording
    from qc.config import Settings
    from qc.records import CallMeta

    rec = load_recording(CallMeta("c", stereo_call), Settings(data_dir=tmp_path / "d"))
    try:
        full, part = CountingVad(), CountingVad()
        heard = 0
        for channel in (0, 1):
            energy = frame_energy_db(rec, channel)
            skip = quiet_runs(energy)
            a = speech_probabilities(rec, channel, vad=full)
            b = speech_probabilities(rec, channel, vad=part, skip=skip)
            assert len(a) == len(b) == len(energy)
            assert b[skip].max() == 0.0  # not heard
            heard += len(a)
            # the raw VAD differs a little (the model state carried across a skipped stretch puts some
            # onsets a frame or two earlier); the turns made from it do not (next test)
            assert np.mean((a >= 0.5) == (b >= 0.5)) >= 0.97
        assert full.frames == heard and part.frames <= 0.8 * full.frames  # a fifth or more not run
    finally:
        rec.close()


def test_stereo_turns_are_the_same_with_and_without_skipping(stereo_call, tmp_path):
    from qc.audio import load_recording
    from qc.config import Settings
    from qc.diarize.channels import diarize_channels
    from qc.records import CallMeta

    cfg = Settings(data_dir=tmp_path / "d")
    rec = load_recording(CallMeta("c", stereo_call), cfg)
    try:
        a = diarize_channels(rec, cfg, skip_quiet=False, parallel=False).turns
        b = diarize_channels(rec, cfg).turns  # quiet stretches skipped, the two channels at once
        c = diarize_channels(rec, cfg, parallel=False).turns
    finally:
        rec.close()
    assert len(a) >= 6
    assert [(t.start, t.end, t.channel) for t in a] == [(t.start, t.end, t.channel) for t in b]
    assert b == c
