"""Turns as well as calls: spans of calls as examples, labelled utterances, every turn scored."""

from __future__ import annotations

import numpy as np
import pytest

from models.resampling import macro_f1
from qc.call_features import CallFeatures, FeatureStore, call_of, in_span, parse_example, restrict, span_id
from models.registry import load_artifact, save_artifact
from models.score import aggregate_turns, score_features, score_turns
from models.train import LabeledData, split_calls, train_classifier
from qc.features import EGEMAPS_DIM, MFCC_DIM
from qc.records import TurnFeatures
from qc.prosody import N_PROSODY
from qc.records import Score, Turn

from .conftest import FILLER, WORDS, quick_config

TURN = 3.0  # seconds per turn of the toy calls


def long_call(call_id: str, tones: list[str], rng: np.random.Generator) -> CallFeatures:
    """Six turns, agent and customer in turn; the customer's turns (1, 3, 5) say ``tones`` in words and
    voice (the first speech-feature column), the agent's are filler."""
    texts, roles, spans = [], [], []
    whisper = rng.normal(size=(6, 8)).astype(np.float32)
    for k in range(6):
        roles.append(k % 2)
        spans.append((k * TURN, (k + 1) * TURN - 0.2))
        if k % 2:
            tone = tones[k // 2]
            texts.append(WORDS[tone])
            whisper[k, 0] += {"kind": 2.0, "harsh": -2.0, "plain": 0.0}[tone]
        else:
            texts.append(FILLER[int(rng.integers(len(FILLER)))])
    spans_arr = np.array(spans, np.float32)
    speech = TurnFeatures(spans_arr, np.array(roles, np.int8), whisper.astype(np.float16),
                          rng.normal(size=(6, EGEMAPS_DIM)).astype(np.float32),
                          rng.normal(size=(6, MFCC_DIM)).astype(np.float32))
    images = rng.uniform(0.2, 0.5, size=(2, 2, 64, 32)).astype(np.float16)
    return CallFeatures(call_id, images, np.array([True, True]), np.array(roles, np.int8), tuple(texts),
                        rng.normal(size=(2, N_PROSODY)).astype(np.float32), speech, spans_arr)


@pytest.fixture(scope="module")
def turn_store(tmp_path_factory):
    """48 calls; each customer turn labelled as a span (``turn_tone``), no call label."""
    rng = np.random.default_rng(3)
    store = FeatureStore(tmp_path_factory.mktemp("turn-features"))
    rows, truth = [], {}
    for i in range(48):
        cid = f"call{i:03d}"
        tones = [["kind", "harsh", "plain"][int(rng.integers(3))] for _ in range(3)]
        store.save(long_call(cid, tones, rng))
        truth[cid] = tones
        for j, tone in enumerate(tones):
            k = 2 * j + 1
            rows.append((span_id(cid, k * TURN - 0.1, (k + 1) * TURN - 0.1), "turn_tone", tone))
    return store, LabeledData(tuple(rows)), truth


def test_example_ids_name_a_call_or_a_span_of_one():
    sid = span_id("abc", 1.5, 4)
    assert sid == "abc@1.500-4.000" and parse_example(sid) == ("abc", (1.5, 4.0)) and call_of(sid) == "abc"
    assert parse_example("abc") == ("abc", None) and call_of("abc") == "abc"
    with pytest.raises(ValueError, match="empty span"):
        parse_example("abc@4-4")


def test_a_span_holds_the_turns_mostly_inside_it():
    spans = np.array([[0, 3], [2.5, 6], [6, 6.4], [5.9, 20]])
    # turn 0 is all inside; turn 1 is 1.5 of its 3.5 s inside (under half) but covers half the span;
    # turn 3 barely touches it
    assert in_span(spans, 0, 3).tolist() == [True, False, False, False]
    assert in_span(spans, 0, 2).tolist() == [True, False, False, False]
    assert in_span(spans, 2, 6.5).tolist() == [False, True, True, False]
    assert in_span(spans, 6.1, 6.3).tolist() == [False, False, True, True]


def test_restricting_a_call_to_a_span_keeps_its_turns_and_roles_only():
    f = long_call("c", ["kind", "harsh", "plain"], np.random.default_rng(0))
    s = restrict(f, TURN - 0.1, 2 * TURN - 0.1)  # the customer's first turn
    assert s.call_id == span_id("c", TURN - 0.1, 2 * TURN - 0.1)
    assert s.turn_texts == (WORDS["kind"],) and s.turn_roles.tolist() == [1]
    assert s.present.tolist() == [False, True]  # only the customer speaks in it
    assert len(s.speech) == 1 and s.speech.whisper[0, 0] == f.speech.whisper[1, 0]
    both = restrict(f, 0, 2 * TURN)
    assert both.turn_roles.tolist() == [0, 1] and both.present.tolist() == [True, True]
    old = restrict(CallFeatures("c", f.images, f.present, f.turn_roles, f.turn_texts, f.prosody, f.speech), 0, 3)
    assert old.turn_texts == () and len(old.speech) == 1  # stored before turn spans: no words for a span


def test_the_spans_of_one_call_stay_on_one_side_of_every_split(turn_store):
    store, data, _ = turn_store
    ids = data.call_ids
    targets = {"turn_tone": np.zeros(len(ids), int)}
    split = split_calls(ids, targets, quick_config())
    sides = [{call_of(c) for c in part} for part in (split.train, split.val, split.test)]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_a_model_learns_labelled_utterances_and_scores_every_turn(turn_store, models_dir):
    store, data, truth = turn_store
    result = train_classifier(data, store, quick_config(variants=("fused_concat",), max_epochs=40))
    assert result.turn_labels == ("turn_tone",)
    test = list(result.split.test)
    values = result.schema.values("turn_tone")
    pred = [s.value for s in score_features(load_artifact(save_artifact(result, models_dir, png=False)), store, test)]
    gold = dict((c, v) for c, _, v in data.rows)
    y = np.array([values.index(gold[c]) for c in test])
    assert macro_f1(y, np.array([values.index(p) for p in pred])) >= 0.9  # chance is a third

    model = load_artifact(next(models_dir.iterdir()))
    assert model.meta["turn_labels"] == ["turn_tone"]
    cid = call_of(test[0])
    turns = [Turn(cid, k * TURN, (k + 1) * TURN - 0.2, k % 2, f"S{k % 2}", role=("agent", "customer")[k % 2])
             for k in range(6)] + [Turn(cid, 18.0, 18.1, 0, "S0", role="agent")]  # too short to score
    scored = score_turns(model, store, cid, turns)
    assert {t.turn for t in scored} == set(range(6)) and {t.label for t in scored} == {"turn_tone"}
    customer = {t.turn: t.value for t in scored if t.role == "customer"}
    assert [customer[k] for k in (1, 3, 5)] == truth[cid]
    assert all(abs(sum(t.probabilities.values()) - 1) < 1e-4 for t in scored)

    # the call's score of a label learned from utterances is the duration-weighted mean of its turns'
    call = [Score(cid, "turn_tone", model.version, values[0], {v: 1.0 if v == values[0] else 0.0 for v in values})]
    agg = aggregate_turns(model, call, scored)[0]
    w = np.array([t.end - t.start for t in scored])
    mean = {v: float((w * [t.probabilities[v] for t in scored]).sum() / w.sum()) for v in values}
    assert agg.probabilities == pytest.approx(mean, abs=1e-5) and agg.value == max(mean, key=mean.get)
