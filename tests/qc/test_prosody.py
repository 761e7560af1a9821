"""qc.prosody: each role's level, pitch, tempo and timing, on speech from espeak-ng whose delivery we set."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qc.prosody import MAX_SECONDS, PROSODY_FEATURES, role_prosody
from qc.records import Turn, Word
from qc.synth.voices import AGENT_VOICES, STYLES, synth_rate, synthesize

RATE = 16000
SENTENCES = ["I have been waiting for my refund for three weeks now.",
             "Could you please tell me when the money will be back in my account?"]
F = {name: k for k, name in enumerate(PROSODY_FEATURES)}


def speech(style="neutral", **changes) -> np.ndarray:
    import librosa

    voice = AGENT_VOICES["agent-01"]
    pieces = synthesize(SENTENCES, voice, replace(STYLES[style], **changes))
    pause = np.zeros(int(0.4 * synth_rate(voice)), np.float32)
    x = np.concatenate([pieces[0], pause, pieces[1]])
    return librosa.resample(x, orig_sr=synth_rate(voice), target_sr=RATE).astype(np.float32)


def stereo_call(agent: np.ndarray, customer: np.ndarray, gap: float = 0.5, turns: int = 4,
                noise: float = 1e-3):
    """Agent and customer take turns (agent first), each on its own channel, ``gap`` s apart; the
    words are spread evenly over each turn, 0.1 s apart."""
    rng = np.random.default_rng(0)
    t = 0.3
    spans = []
    for k in range(turns):
        role, x = ("agent", agent) if k % 2 == 0 else ("customer", customer)
        spans.append((role, t, t + len(x) / RATE, x))
        t += len(x) / RATE + gap
    audio = noise * rng.standard_normal((2, int((t + 0.5) * RATE))).astype(np.float32)
    out_turns, words = [], []
    for role, a, b, x in spans:
        ch = 0 if role == "agent" else 1
        audio[ch, int(round(a * RATE)):int(round(a * RATE)) + len(x)] += x
        out_turns.append(Turn("c", a, b, ch, role[0], role))  # type: ignore[arg-type]
        edges = np.linspace(a, b, 11)
        words += [Word("c", s, e - 0.1, "w", 0.9, ch, role[0], role)  # type: ignore[arg-type]
                  for s, e in zip(edges, edges[1:], strict=False)]

    def read(a: float, b: float, ch: int) -> np.ndarray:
        return audio[ch, int(round(a * RATE)):int(round(b * RATE))]

    return read, out_turns, words


@pytest.fixture(scope="module")
def neutral() -> np.ndarray:
    return speech()


def test_level_and_timing_are_measured(neutral):
    read, turns, words = stereo_call(neutral, 2.0 * neutral, gap=0.7)
    p = role_prosody(read, turns, words, RATE)
    assert p.shape == (2, len(PROSODY_FEATURES)) and p.dtype == np.float32
    agent, customer = p
    # twice the amplitude is 6.0 dB louder; the same speech has the same spread and pitch
    assert customer[F["level_db"]] - agent[F["level_db"]] == pytest.approx(6.02, abs=0.3)
    assert customer[F["level_spread_db"]] == pytest.approx(agent[F["level_spread_db"]], abs=0.5)
    assert customer[F["f0_median_st"]] == pytest.approx(agent[F["f0_median_st"]], abs=0.5)
    assert -25 < agent[F["level_db"]] < -5
    talk = sum(t.duration for t in turns if t.role == "agent")
    assert agent[F["words_per_second"]] == pytest.approx(20 / talk, rel=1e-5)
    assert agent[F["word_duration"]] == pytest.approx(len(neutral) / RATE / 10 - 0.1, abs=1e-3)
    assert agent[F["word_gap"]] == pytest.approx(0.1, abs=1e-3)
    # the customer answers the agent twice, the agent answers once (its first turn opens the call)
    assert customer[F["response_latency"]] == pytest.approx(0.7, abs=1e-3)
    assert agent[F["response_latency"]] == pytest.approx(0.7, abs=1e-3)
    # the 0.4 s pause inside each turn: ~0.4 / 6 of the turn, and not the speech's own short gaps only
    assert 0.05 < agent[F["pause_ratio"]] < 0.5


def test_pitch_height_and_range_are_measured(neutral):
    high = speech(pitch=30)  # espeak-ng pitch 50 -> 80
    lively = speech(range="x-high")
    p_high = role_prosody(*stereo_call(neutral, high), RATE)
    p_lively = role_prosody(*stereo_call(neutral, lively), RATE)
    assert p_high[1, F["f0_median_st"]] - p_high[0, F["f0_median_st"]] > 2.0
    assert p_lively[1, F["f0_range_st"]] > 1.3 * p_lively[0, F["f0_range_st"]]
    assert p_lively[1, F["f0_spread_st"]] > p_lively[0, F["f0_spread_st"]]
    assert 0.3 < p_high[0, F["voiced_ratio"]] <= 1.0


def test_the_generator_voice_cues_move_the_measures(neutral):
    """The styles the synthetic corpus gives angry and satisfied customers (qc.synth.voices.STYLES):
    louder, faster and quicker to answer; softer, slower and unhurried."""
    angry, satisfied = STYLES["angry"], STYLES["satisfied"]
    gain = lambda db: 10 ** (db / 20)  # noqa: E731  (render applies the style's gain)
    p = {name: role_prosody(*stereo_call(neutral, gain(s.gain_db) * speech(name), gap=0.8 * s.gap_scale),
                            RATE)[1]
         for name, s in (("neutral", STYLES["neutral"]), ("angry", angry), ("satisfied", satisfied))}
    assert p["angry"][F["level_db"]] > p["neutral"][F["level_db"]] + 4 > p["satisfied"][F["level_db"]] + 6
    for measure in ("word_duration", "response_latency"):
        assert p["angry"][F[measure]] < p["neutral"][F[measure]] < p["satisfied"][F[measure]], measure
    assert p["angry"][F["f0_median_st"]] > p["neutral"][F["f0_median_st"]] + 2


def test_missing_roles_and_words_are_nan(neutral):
    read, turns, words = stereo_call(neutral, neutral)
    p = role_prosody(read, [t for t in turns if t.role == "agent"], [], RATE)
    assert np.isnan(p[1]).all()  # the customer never spoke
    assert np.isfinite(p[0, :F["voiced_ratio"] + 1]).all()
    unmeasured = [F[m] for m in ("words_per_second", "word_duration", "word_gap", "response_latency")]
    assert np.isnan(p[0, unmeasured]).all()  # no words; nobody to answer


def test_a_long_role_reads_a_bounded_amount_of_audio(neutral):
    read, turns, words = stereo_call(neutral, neutral, turns=60)  # ~30 turns of ~7 s per role
    seconds = []

    def counting(a, b, ch):
        seconds.append(b - a)
        return read(a, b, ch)

    p = role_prosody(counting, turns, words, RATE)
    assert sum(seconds) <= 2 * MAX_SECONDS + 1e-6
    assert sum(t.duration for t in turns) > 6 * MAX_SECONDS
    full = role_prosody(read, turns, words, RATE, max_seconds=1e9)
    assert p[0, F["level_db"]] == pytest.approx(full[0, F["level_db"]], abs=0.5)


@pytest.mark.parametrize("level", [0.0, 1e-3])
def test_a_role_heard_only_as_silence_or_steady_noise_is_unmeasured(neutral, level):
    """Diarization can give a role turns with nothing in them (digital silence on hold, line hiss)."""
    read, turns, words = stereo_call(neutral, np.zeros(3 * RATE, np.float32), noise=0.0)
    rng = np.random.default_rng(1)

    def hiss(a, b, ch):
        x = read(a, b, ch)
        return x if ch == 0 else level * np.sign(rng.standard_normal(len(x))).astype(np.float32)

    p = role_prosody(hiss, turns, [], RATE)
    assert np.isfinite(p[0, F["level_db"]]) and np.isnan(p[1, :F["voiced_ratio"] + 1]).all()
    assert p[1, F["response_latency"]] == pytest.approx(0.5, abs=1e-3)  # timing needs no audio
