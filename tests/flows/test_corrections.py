"""Roles corrected by hand (``callqc calls swap-roles``): computed again from stored data, twice is
the original, the classifier's features follow the roles, who and when are kept."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.corrections import swap_roles, swapped_features
from qc.call_features import CallFeatures, FeatureStore
from qc.records import TurnFeatures
from qc.records import ROLES
from warehouse import Warehouse
from warehouse.testing import dummy_call_result


def _stored(settings):
    result = dummy_call_result(3, external_id="EXT-3", n_turns=12, n_words=60)
    with Warehouse.open(settings) as wh:
        run = wh.start_run({}, "test")
        wh.save_call(result, run)
        stored = wh.load_call(result.call_id)
    rng = np.random.default_rng(0)
    n = len(stored.turns)
    roles = np.array([ROLES.index(t.role) if t.role in ROLES else -1 for t in stored.turns], np.int8)
    speech = TurnFeatures(np.array([[t.start, t.end] for t in stored.turns], np.float32), roles,
                          rng.standard_normal((n, 8)).astype(np.float16), rng.standard_normal((n, 4)).astype(np.float32),
                          rng.standard_normal((n, 4)).astype(np.float32))
    features = CallFeatures(stored.call_id, rng.random((2, 1, 4, 6)).astype(np.float16), np.array([True, True]),
                            roles, tuple(t.text for t in stored.turns), rng.random((2, 5)).astype(np.float32),
                            speech, speech.spans)
    FeatureStore.for_settings(settings).save(features)
    return stored, features


def test_swapping_twice_gives_back_the_call(settings, monkeypatch):
    stored, features = _stored(settings)
    once = swap_roles(settings, stored.call_id, "ann")
    assert [t.role for t in once.turns] != [t.role for t in stored.turns]
    assert once.metrics.talk_time_agent == stored.metrics.talk_time_customer
    again = swap_roles(settings, stored.call_id, "bob")
    assert [t.role for t in again.turns] == [t.role for t in stored.turns]
    assert [w.role for w in again.words] == [w.role for w in stored.words]
    fields = ("talk_time_agent", "talk_time_customer", "talk_ratio_agent", "turns_agent", "turns_customer",
              "silence_total", "overtalk_time")
    assert [getattr(again.metrics, f) for f in fields] == [getattr(stored.metrics, f) for f in fields]
    back = FeatureStore.for_settings(settings).load(stored.call_id)
    np.testing.assert_array_equal(back.images, features.images)
    np.testing.assert_array_equal(back.speech.roles, features.speech.roles)


def test_swapped_features_exchange_the_roles_parts(settings):
    _, f = _stored(settings)
    s = swapped_features(f)
    np.testing.assert_array_equal(s.images[0], f.images[1])
    np.testing.assert_array_equal(s.prosody[1], f.prosody[0])
    assert set(zip(f.turn_roles.tolist(), s.turn_roles.tolist())) <= {(0, 1), (1, 0), (-1, -1)}
    np.testing.assert_array_equal(s.speech.whisper, f.speech.whisper)


def test_the_command_finds_the_call_by_external_id_and_says_what_changed(settings, monkeypatch):
    stored, _ = _stored(settings)
    monkeypatch.setenv("QC_DATA_DIR", str(settings.data_dir))
    out = CliRunner().invoke(app, ["calls", "swap-roles", "EXT-3", "--who", "ann"])
    assert out.exit_code == 0, out.output
    assert f"roles swapped on EXT-3 ({stored.call_id})" in out.output
    assert "metrics changed" in out.output and "words_per_minute_agent:" in out.output
    missing = CliRunner().invoke(app, ["calls", "swap-roles", "nope"])
    assert missing.exit_code != 0 and "no stored call has the id 'nope'" in missing.output


def test_a_call_analysed_again_keeps_the_roles_an_analyst_set(settings):
    from flows.corrections import CORRECTED, keep_correction, role_agreement

    stored, features = _stored(settings)
    corrected = swap_roles(settings, stored.call_id, "ann")
    talk = sum(t.end - t.start for t in stored.turns if t.role in ("agent", "customer"))
    assert role_agreement(stored.turns, corrected.turns) == pytest.approx(-talk, rel=1e-6)
    # the new analysis decided the roles as the first one did: the analyst's roles are put back
    again, f, flipped = keep_correction(stored, features, corrected.turns, settings)
    assert flipped and [t.role for t in again.turns] == [t.role for t in corrected.turns]
    assert [w.role for w in again.words] == [w.role for w in corrected.words]
    assert again.metrics.talk_time_agent == corrected.metrics.talk_time_agent
    assert (again.call.role_strategy, again.call.role_confidence) == (CORRECTED, 1.0)
    np.testing.assert_array_equal(f.images[0], features.images[1])
    # a new analysis that agrees with the analyst is kept, marked as corrected by hand
    same, f2, flipped = keep_correction(corrected, features, corrected.turns, settings)
    assert not flipped and same.turns == corrected.turns and f2 is features
    assert same.call.role_strategy == CORRECTED
