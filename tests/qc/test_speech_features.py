"""Per-turn speech features: the pooling of Whisper's encoder states into turns, and the functionals."""

from __future__ import annotations

import numpy as np
import pytest

from qc.encoder_states import FRAME_SECONDS, Placed, TurnStates
from qc.features import EGEMAPS_DIM, MFCC_DIM, egemaps, mfcc_stats
from qc.records import Turn
from tests.conftest import tone


def _turn(start: float, end: float, channel: int = 0) -> Turn:
    return Turn(call_id="c", start=start, end=end, channel=channel, speaker=f"S{channel}")


def _states(frames: int, window_start: float) -> np.ndarray:
    """Encoder states whose first column is each frame's centre in the batch audio."""
    centres = window_start + (np.arange(frames) + 0.5) * FRAME_SECONDS
    return np.stack([centres, np.ones(frames)], 1).astype(np.float32)


def test_each_turn_pools_the_frames_of_its_own_span_and_channel():
    turns = [_turn(10.0, 11.0, 0), _turn(11.0, 12.0, 1), _turn(30.0, 31.0, 0)]
    states = TurnStates(turns)
    # one window from batch second 0: channel 0's call seconds 10-12 at 0.0, channel 1's 10.5-12 at 2.25
    placed = [Placed(10.0, 12.0, 0.0, 0), Placed(10.5, 12.0, 2.25, 1)]
    states.add(_states(250, 0.0), 0.0, placed)
    pooled = states.pooled(2)
    assert states.n.tolist() == [50, 50, 0]  # 1 s of 20 ms frames; the third turn was never heard
    # turn 0: frames centred at batch 0.01..0.99 s; turn 1: its channel's piece from batch 2.75 s
    assert pooled[0, 0] == pytest.approx(0.5, abs=1e-4)
    assert pooled[1, 0] == pytest.approx(2.25 + 0.5 + 0.5, abs=0.011)  # a frame either side of an edge
    assert pooled[0, 2] == pytest.approx(np.std(0.01 + 0.02 * np.arange(50)), abs=1e-4)  # the std half
    assert pooled[0, 3] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(pooled[2]).all()


def test_mono_windows_feed_every_overlapping_turn_and_gaps_feed_none():
    turns = [_turn(0.0, 2.0), _turn(1.0, 3.0)]  # overtalk between 1 and 2 s: both hear it
    states = TurnStates(turns)
    # two regions with a 0.25 s gap between them in the window: call 0-1.5 and 2-3
    states.add(_states(200, 0.0), 0.0, [Placed(0.0, 1.5, 0.0, None), Placed(2.0, 3.0, 1.75, None)])
    assert states.n.tolist() == [75 + 0, 25 + 50]
    gap_centres = (1.5, 1.75)
    pooled = states.pooled(2)
    assert not (gap_centres[0] <= pooled[0, 0] < gap_centres[1])


def test_states_from_several_windows_add_up():
    turns = [_turn(0.0, 40.0)]
    states = TurnStates(turns)
    states.add(_states(1500, 0.0), 0.0, [Placed(0.0, 28.0, 0.0, 0)])
    states.add(_states(1500, 30.0), 30.0, [Placed(28.0, 40.0, 30.0, 0)])
    assert states.n[0] == 1400 + 600


def test_functionals_have_their_widths_and_are_unmeasured_on_a_blip():
    audio = tone(2.0, rate=16000, freq=180.0)
    eg, mf = egemaps(audio, 16000), mfcc_stats(audio, 16000)
    assert eg.shape == (EGEMAPS_DIM,) and np.isfinite(eg).all()
    assert mf.shape == (MFCC_DIM,) and np.isfinite(mf).all()
    # loudness follows the level: the same tone 20 dB down measures quieter
    assert egemaps(audio * 0.1, 16000)[10] < eg[10]
    assert np.isnan(egemaps(audio[:2000], 16000)).all() and np.isnan(mfcc_stats(audio[:2000], 16000)).all()


def test_egemaps_budget_spreads_over_each_speakers_turns():
    from qc.features import egemaps_turns

    turns = [Turn("c", 2.0 * k, 2.0 * k + 1.5, 0, f"S{k % 2}") for k in range(20)]  # 1.5 s turns
    assert egemaps_turns(turns, 100.0) == set(range(20))
    chosen = egemaps_turns(turns, 4.0)
    for speaker in ("S0", "S1"):
        mine = sorted(k for k in chosen if turns[k].speaker == speaker)
        assert len(mine) == 3  # 4.5 s: the budget is reached on the third turn
        assert mine[-1] - mine[0] >= 8  # spread over the call, not its opening
    assert egemaps_turns(turns, 0.0) == set()
