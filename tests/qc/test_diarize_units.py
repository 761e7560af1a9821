"""Diarization building blocks on synthetic numbers (no models): counts, clustering, smoothing,
leakage rejection, overtalk."""

from __future__ import annotations

import numpy as np
import pytest

from qc.config import Settings
from qc.diarize import mark_overlaps, overlap_spans, speaker_bounds
from qc.diarize.channels import EDGE_HOP, EDGE_REACH, channel_activity, leakage_db, own_sound_db, refine_edges
from qc.diarize.embedded import (EmbeddedParams, bridge_pauses, cluster, cluster_coverage, frame_scores, label_frames,
                                 overlap_frames, overtalk_candidates, viterbi, window_spans)
from qc.records import Turn
from qc.vad import VadParams


def test_speaker_bounds_precedence():
    cfg = Settings()
    assert speaker_bounds(cfg) == (None, 1, 2)  # calls default to one or two speakers, chosen per call
    assert speaker_bounds(cfg, num_speakers=3) == (3, 3, 3)
    assert speaker_bounds(cfg, min_speakers=1, max_speakers=4) == (None, 1, 4)
    assert speaker_bounds(Settings(num_speakers=2)) == (2, 2, 2)  # an explicit count is exact
    assert speaker_bounds(Settings(min_speakers=3)) == (None, 3, 8)
    assert speaker_bounds(Settings(max_speakers=4)) == (None, 1, 4)
    assert speaker_bounds(Settings(min_speakers=2, max_speakers=3)) == (None, 2, 3)
    with pytest.raises(ValueError):
        speaker_bounds(cfg, num_speakers=5, min_speakers=1, max_speakers=3)


def test_speaker_count_from_the_environment_is_exact(monkeypatch):
    monkeypatch.setenv("QC_NUM_SPEAKERS", "2")
    assert speaker_bounds(Settings()) == (2, 2, 2)
    monkeypatch.setenv("QC_NUM_SPEAKERS", "1")
    assert speaker_bounds(Settings()) == (1, 1, 1)


def _speakers(k: int, per: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` speakers' embeddings in a narrow cone (like GE2E d-vectors of one call)."""
    rng = np.random.default_rng(seed)
    common = np.abs(rng.standard_normal(64)) * 3
    centres = [common + np.abs(rng.standard_normal(64)) for _ in range(k)]
    x = np.concatenate([c + spread * rng.standard_normal((per, 64)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(k), per)


def _purity(labels: np.ndarray, truth: np.ndarray) -> float:
    hits = 0
    for c in set(labels.tolist()):
        hits += np.bincount(truth[labels == c]).max()
    return hits / len(truth)


@pytest.mark.parametrize("k", [2, 3])
def test_cluster_with_known_count(k):
    x, truth = _speakers(k, 40, 0.3)
    labels, centroids = cluster(x, k, k, k, same_speaker=0.9)
    assert centroids.shape == (k, 64)
    assert _purity(labels, truth) >= 0.95


def test_cluster_chooses_the_count_within_bounds():
    x, truth = _speakers(3, 30, 0.3, seed=1)
    labels, _ = cluster(x, None, 1, 5, same_speaker=0.99)
    assert len(set(labels.tolist())) == 3
    labels, _ = cluster(x, None, 1, 2, same_speaker=0.99)  # at most two
    assert len(set(labels.tolist())) == 2


def test_cluster_finds_a_single_speaker_when_allowed():
    x, _ = _speakers(1, 60, 0.3, seed=2)
    labels, _ = cluster(x, None, 1, 3, same_speaker=0.9)
    assert len(set(labels.tolist())) == 1
    labels, _ = cluster(x, None, 2, 3, same_speaker=0.9)  # min_speakers=2 is honoured
    assert len(set(labels.tolist())) == 2


def _spans(n: int, start: float = 0.0, hop: float = 0.8, window: float = 1.6) -> list[tuple[float, float]]:
    return [(start + k * hop, start + k * hop + window) for k in range(n)]


def test_cluster_coverage_counts_overlapping_windows_once():
    spans = _spans(3) + _spans(2, start=10.0)
    labels = np.array([0, 0, 0, 1, 1])
    assert cluster_coverage(spans, labels, 2) == pytest.approx([3.2, 2.4])


def test_a_second_speaker_needs_enough_speech_of_its_own():
    x, truth = _speakers(2, 30, 0.3, seed=3)
    spans = _spans(60)  # 60 windows, 0.8 s apart: each speaker's 30 cover 24+ s
    labels, _ = cluster(x, None, 1, 2, same_speaker=0.99, spans=spans, min_speech=4.0)
    assert _purity(labels, truth) >= 0.95 and len(set(labels.tolist())) == 2
    # the same two voices in three windows, one of them the second voice: too little to tell apart
    few = np.array([0, 1, 30])
    assert len(set(cluster(x[few], None, 1, 2, same_speaker=0.99)[0].tolist())) == 2  # no minimum: split
    labels, centroids = cluster(x[few], None, 1, 2, same_speaker=0.99, spans=_spans(3), min_speech=4.0)
    assert len(set(labels.tolist())) == 1 and centroids.shape[0] == 1
    # an exact count, or a lower bound of two, is honoured whatever the speech
    assert len(set(cluster(x[few], 2, 2, 2, 0.99, spans=_spans(3), min_speech=4.0)[0].tolist())) == 2
    assert len(set(cluster(x[few], None, 2, 3, 0.99, spans=_spans(3), min_speech=4.0)[0].tolist())) == 2


def test_window_spans_tile_segments():
    p = EmbeddedParams(window=1.6, hop=0.8, min_window=0.4)
    spans = window_spans([(0.0, 0.3), (1.0, 2.0), (3.0, 7.0)], p)
    assert (1.0, 2.0) in spans  # short segment: one window of its own length
    long = [s for s in spans if s[0] >= 3.0]
    assert long[0][0] == pytest.approx(3.0) and long[-1][1] == pytest.approx(7.0)
    assert all(e - s == pytest.approx(1.6) for s, e in long)
    assert all(b[0] - a[0] <= 0.8 + 1e-9 for a, b in zip(long, long[1:]))
    assert not any(s == 0.0 for s, _ in spans)  # 0.3 s is too short to embed


def test_viterbi_removes_flicker_but_keeps_real_changes():
    scores = np.zeros((100, 2))
    scores[:50, 0], scores[50:, 1] = 0.9, 0.9
    scores[:50, 1], scores[50:, 0] = 0.7, 0.7
    scores[20:22] = [0.7, 0.9]  # a 2-frame blip of the other speaker
    path = viterbi(scores, penalty=0.6)
    assert (path[:50] == 0).all() and (path[50:] == 1).all()


def test_frame_scores_and_labels_follow_windows():
    spans = [(0.0, 1.6), (0.8, 2.4), (1.6, 3.2), (2.4, 4.0)]
    sims = np.array([[0.9, 0.6], [0.9, 0.6], [0.6, 0.9], [0.6, 0.9]])
    n = int(4.0 / 0.032)
    scores, covered = frame_scores(n, spans, sims)
    assert covered.all()
    labels = label_frames(np.ones(n, bool), scores, covered, penalty=0.6)
    change = np.flatnonzero(np.diff(labels))[0] * 0.032
    assert 1.6 < change < 2.6  # the change lies where the windows' speakers change
    assert labels[0] == 0 and labels[-1] == 1


def test_overtalk_needs_no_pause_and_a_louder_mix():
    labels = np.array([0] * 50 + [1] * 50 + [0] * 50 + [1] * 50)
    probs = np.full(200, 0.95)
    probs[98:101] = 0.1  # a quick hand-over: the VAD dips at the second change
    energy = np.full(200, -25.0)
    energy[40:60] = -21.0  # two voices at once around the first change
    energy[140:160] = -25.0  # the third change: no dip, but no louder either
    found = overtalk_candidates(labels, probs, energy, radius=10, dip=0.4, rise_db=1.5)
    assert found == [50]
    scores = np.tile([0.9, 0.6], (200, 1)).astype(float)
    scores[50:100] = [0.6, 0.9]
    scores[45:55] = [0.8, 0.78]  # ambiguous around the overtalk
    (start, end, a, b), = overlap_frames(labels, scores, found, margin=10, ambiguity=0.05)
    assert (a, b) == (0, 1) and start <= 47 and end >= 53


def test_bridge_pauses_joins_one_speakers_sentences_only():
    turns = [Turn("c", 0.0, 2.0, 0, "A"), Turn("c", 2.5, 4.0, 0, "A"), Turn("c", 4.3, 6.0, 0, "B"),
             Turn("c", 8.0, 9.0, 0, "B")]
    out = bridge_pauses(turns, gap=0.8)
    assert [(t.start, t.end, t.speaker) for t in out] == [(0.0, 4.0, "A"), (4.3, 6.0, "B"), (8.0, 9.0, "B")]


def test_overlap_spans_and_flags():
    turns = [Turn("c", 0.0, 5.0, 0, "A"), Turn("c", 4.0, 8.0, 0, "B"), Turn("c", 9.0, 10.0, 0, "A")]
    assert overlap_spans(turns) == [(4.0, 5.0)]
    assert [t.overlap for t in mark_overlaps(turns)] == [True, True, False]


def test_leakage_is_rejected_and_overtalk_kept():
    n = 1000
    rng = np.random.default_rng(0)
    speech0 = np.zeros(n, bool)
    speech1 = np.zeros(n, bool)
    speech0[100:400] = True  # agent alone
    speech1[500:800] = True  # customer alone
    speech0[850:950] = speech1[850:950] = True  # overtalk
    level0 = np.where(speech0, -20.0 + rng.normal(0, 3, n), -70.0)
    level1 = np.where(speech1, -22.0 + rng.normal(0, 3, n), -70.0)

    def mix(own, other):  # power sum of own speech and the other party 30 dB down
        return 10 * np.log10(10 ** (own / 10) + 10 ** ((other - 30) / 10))

    energies = [mix(level0, level1), mix(level1, level0)]
    # Silero hears the leaked speech as speech too
    probs = [np.where(speech0 | speech1, 0.95, 0.02), np.where(speech0 | speech1, 0.95, 0.02)]
    assert leakage_db(energies[0], energies[1], probs[1]) == pytest.approx(-30.0, abs=3.0)
    masks = channel_activity(probs, energies, VadParams())
    assert masks[0][100:400].mean() > 0.95 and masks[0][500:800].mean() < 0.05
    assert masks[1][500:800].mean() > 0.95 and masks[1][100:400].mean() < 0.05
    assert masks[0][850:950].mean() > 0.9 and masks[1][850:950].mean() > 0.9


def test_leakage_is_estimated_when_the_vad_is_unsure_of_a_loud_voice():
    """Silero stayed below 0.83 on one loud, low male voice; the leak must still be measured from where
    that party clearly speaks (its channel far above its noise floor), not assumed absent."""
    n = 1000
    rng = np.random.default_rng(1)
    speech1 = np.zeros(n, bool)
    speech1[100:700] = True
    level1 = np.where(speech1, -15.0 + rng.normal(0, 3, n), -60.0)
    own = 10 * np.log10(10 ** ((level1 - 28) / 10) + 10 ** (-60 / 10))  # channel 0 hears it 28 dB down
    unsure = np.where(speech1, rng.uniform(0.55, 0.8, n), 0.05)
    assert leakage_db(own, level1, unsure) == pytest.approx(-28.0, abs=2.0)
    masks = channel_activity([np.where(speech1, 0.95, 0.05), unsure], [own, level1], VadParams())
    assert masks[0][100:700].mean() < 0.05  # the leak is not channel 0's speech


def test_leaked_first_words_of_a_voice_the_vad_is_slow_to_hear_are_not_this_channels_speech():
    """Silero stayed under 0.35 for the first 0.3 s of some agent turns (seed 97531, call 15) while the
    customer channel's VAD heard their leak at 0.9: 1.4 s of false customer talk and overtalk. Where
    the other channel is loud, a level the leak explains is the leak, whatever that channel's VAD says."""
    n = 1000
    rng = np.random.default_rng(3)
    speech1 = np.zeros(n, bool)
    speech1[100:400] = speech1[600:900] = True
    level1 = np.where(speech1, -12.0 + rng.normal(0, 3, n), -55.0)
    own = 10 * np.log10(10 ** ((level1 - 28) / 10) + 10 ** (-55 / 10))  # channel 0 hears it 28 dB down
    late = speech1.copy()
    late[100:110] = late[600:610] = False  # channel 1's VAD wakes ~0.3 s into each turn
    probs = [np.where(speech1, 0.9, 0.05), np.where(late, 0.9, 0.1)]
    masks = channel_activity(probs, [own, level1], VadParams(), leaks=[-28.0, -60.0])
    assert not masks[0].any()
    assert masks[1][100:400].mean() > 0.9
    # channel 0's own speech over channel 1's loud turn is still channel 0's (overtalk)
    own_speech = own.copy()
    own_speech[200:300] = -18.0
    masks = channel_activity([np.where(speech1, 0.9, 0.05), probs[1]], [own_speech, level1], VadParams(),
                             leaks=[-28.0, -60.0])
    assert masks[0][205:295].all() and not masks[0][:190].any() and not masks[0][310:].any()


def test_a_loud_voice_the_vad_only_leans_towards_is_speech_and_a_loud_hum_is_not():
    """Silero hovers at 0.2-0.6 on flite's awb voice at -12 dBFS (seed 13579: 1.3 s of a customer's
    "Yes please, a text message" missed, talk time 1.2 s short). Where the channel is loud and no leak
    explains it, a leaning VAD is enough; a steady sound the VAD hears nothing in stays out."""
    n = 1000
    rng = np.random.default_rng(4)
    level = np.full(n, -55.0) + rng.normal(0, 0.5, n)
    level[100:300] = -15.0 + rng.normal(0, 3, 200)  # the voice
    level[500:700] = -35.0  # a hum, 20 dB over the floor
    level[800:900] = -50.0  # quiet: 5 dB over the floor
    p = np.full(n, 0.02)
    p[100:300] = rng.uniform(0.2, 0.45, 200)
    p[800:900] = 0.3
    other = np.full(n, -55.0) + rng.normal(0, 0.5, n)
    masks = channel_activity([p, np.full(n, 0.02)], [level, other], VadParams(), leaks=[-30.0, -30.0])
    assert masks[0][100:300].mean() > 0.95
    assert not masks[0][500:700].any() and not masks[0][800:900].any()


def _fine(spans_db: list[tuple[float, float, float]], seconds: float = 6.0, floor: float = -55.0, seed: int = 2):
    """10 ms energies (dB): noise at ``floor`` +- 0.5 dB, with (start, end, level) sounds over it."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds / EDGE_HOP))
    power = 10 ** ((floor + rng.normal(0, 0.5, n)) / 10)
    for start, end, level in spans_db:
        power[int(round(start / EDGE_HOP)):int(round(end / EDGE_HOP))] += 10 ** (level / 10)
    return 10 * np.log10(power)


def test_turn_edges_move_to_where_the_channels_own_sound_starts_and_stops():
    """Silero's frames, hang-over and padding put a turn's edges ~0.1 s out; the channel's own energy
    places them to a frame (10 ms), across the short pauses between words."""
    own = _fine([(1.00, 1.60, -25.0), (1.70, 2.50, -28.0)])  # two words, a 0.1 s pause between
    other = _fine([])
    refined = refine_edges([(0.95, 2.66)], own_sound_db(own, other, leak_db=-30.0), duration=6.0)
    assert len(refined) == 1
    assert refined[0] == pytest.approx((1.00, 2.50), abs=0.02)
    # a VAD segment that ends early (a quiet last word the VAD dropped) reaches out to it
    refined = refine_edges([(1.05, 2.20)], own_sound_db(own, other, leak_db=-30.0), duration=6.0)
    assert refined[0] == pytest.approx((1.00, 2.50), abs=0.02)


def test_turn_edges_do_not_reach_into_leaked_speech_or_far_away_sound():
    # the other party speaks right after, leaking in 30 dB down: loud over this channel's floor, but
    # explained by the leak
    own = _fine([(1.00, 2.50, -25.0), (2.55, 4.00, -20.0 - 30.0)])
    other = _fine([(2.55, 4.00, -20.0)])
    refined = refine_edges([(0.95, 2.60)], own_sound_db(own, other, leak_db=-30.0), duration=6.0)
    assert refined[0] == pytest.approx((1.00, 2.50), abs=0.02)
    # a hum that goes on long after the turn: that edge stays where the VAD put it
    own = _fine([(1.00, 2.50, -25.0), (2.50, 2.50 + EDGE_REACH + 1.0, -45.0)])
    refined = refine_edges([(0.95, 2.60)], own_sound_db(own, _fine([]), leak_db=-30.0), duration=6.0)
    assert refined[0] == pytest.approx((1.00, 2.60), abs=0.02)


def test_segments_without_sound_over_the_floor_keep_their_vad_edges_and_touching_ones_merge():
    quiet = _fine([(1.0, 2.0, -60.0)])  # 1.2 dB over the noise, under floor + 3 dB: nothing to refine with
    assert refine_edges([(0.95, 2.05)], own_sound_db(quiet, _fine([]), leak_db=-30.0), 6.0) == [(0.95, 2.05)]
    own = _fine([(1.0, 2.0, -25.0), (2.1, 3.0, -25.0)])  # 0.1 s apart: one run once the pause is closed
    refined = refine_edges([(0.95, 1.90), (2.20, 3.05)], own_sound_db(own, _fine([]), leak_db=-30.0), 6.0)
    assert len(refined) == 1 and refined[0] == pytest.approx((1.0, 3.0), abs=0.02)


def test_the_noise_floor_is_measured_around_each_turn():
    """A long recording of near-silence with a noisier stretch around an exchange (the line noise
    changes): over the call-wide floor, the whole noisy stretch would be one run of sound, too long to
    give the turn its edges."""
    own = _fine([(7.0, 30.0, -52.0), (12.0, 20.0, -25.0)], seconds=120.0, floor=-80.0)
    sound = own_sound_db(own, _fine([], seconds=120.0, floor=-80.0), leak_db=-30.0)
    refined = refine_edges([(11.95, 20.1)], sound, duration=120.0)
    assert refined[0] == pytest.approx((12.0, 20.0), abs=0.02)


def test_a_vad_segment_is_cut_where_its_channel_is_quiet_for_a_pause_the_metrics_count():
    """Silero's hang-over carries a segment across a 0.5 s pause between two of a party's turns; the
    metrics count such a pause as silence (``qc.conversation.MAX_PAUSE``), so the turn is cut there.
    Shorter pauses, and quiet that is only the other party's leak, stay inside."""
    own = _fine([(1.0, 2.0, -25.0), (2.6, 3.5, -25.0)])  # 0.6 s apart
    refined = refine_edges([(0.95, 3.55)], own_sound_db(own, _fine([]), leak_db=-30.0), 6.0)
    assert np.ravel(refined) == pytest.approx([1.0, 2.0, 2.6, 3.5], abs=0.02)
    own = _fine([(1.0, 2.0, -25.0), (2.4, 3.5, -25.0)])  # 0.4 s apart: a pause inside the turn
    refined = refine_edges([(0.95, 3.55)], own_sound_db(own, _fine([]), leak_db=-30.0), 6.0)
    assert np.ravel(refined) == pytest.approx([1.0, 3.5], abs=0.02)
    # the other party talks over the pause: this channel's level there is its leak, not a measured pause
    own = _fine([(1.0, 2.0, -25.0), (2.0, 2.6, -15.0 - 30.0), (2.6, 3.5, -25.0)])
    other = _fine([(2.0, 2.6, -15.0)])
    refined = refine_edges([(0.95, 3.55)], own_sound_db(own, other, leak_db=-30.0), 6.0)
    assert np.ravel(refined) == pytest.approx([1.0, 3.5], abs=0.02)


def test_a_short_vad_segment_without_any_sound_over_the_floor_is_dropped():
    """Silero's state carried the other party's leaked words 0.3 s into their pause (seed 424242, calls
    12 and 13: false customer talk and overtalk); nothing over this channel's floor is not speech."""
    quiet = _fine([(1.0, 1.3, -60.0)])  # 1.2 dB over the noise
    assert refine_edges([(0.98, 1.30)], own_sound_db(quiet, _fine([]), leak_db=-30.0), 6.0) == []
    own = _fine([(3.0, 4.0, -25.0)])
    refined = refine_edges([(0.98, 1.30), (2.95, 4.05)], own_sound_db(own, _fine([]), leak_db=-30.0), 6.0)
    assert np.ravel(refined) == pytest.approx([3.0, 4.0], abs=0.02)
