"""The per-call feature store: exact round trips, no pickle, and files of the earlier version still read."""

from __future__ import annotations

import numpy as np
import pytest

from qc.call_features import FEATURES_VERSION, FeatureStore

from .conftest import toy_features


def test_features_round_trip_exactly(tmp_path):
    store = FeatureStore(tmp_path)
    f = toy_features("call-1", "heated", "kind", np.random.default_rng(0))
    store.save(f)
    g = store.load("call-1")
    assert g.turn_texts == f.turn_texts and np.array_equal(g.images, f.images)
    assert np.array_equal(g.prosody, f.prosody, equal_nan=True) and np.isnan(g.prosody).any()
    assert store.available(["call-1", "call-2"]) == ["call-1"]
    with pytest.raises(KeyError, match="no stored features"):
        store.load("call-2")
    with pytest.raises(ValueError, match="bad call id"):
        store.load("../etc")


def test_features_stored_before_prosody_read_as_unmeasured(tmp_path, caplog):
    store = FeatureStore(tmp_path)
    f = toy_features("old", "calm", "plain", np.random.default_rng(1))
    path = tmp_path / "calls" / "old.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, version=np.array(1), images=f.images, present=f.present, turn_roles=f.turn_roles,
             turn_texts=np.array(f.turn_texts, dtype=np.str_))  # version 1: no prosody
    with caplog.at_level("WARNING", logger="callqc.models"):
        g = store.load("old")
    assert g.prosody.shape == f.prosody.shape and np.isnan(g.prosody).all()
    assert g.turn_texts == f.turn_texts and "before version 2" in caplog.text
    np.savez(path, version=np.array(FEATURES_VERSION + 1), images=f.images)
    with pytest.raises(KeyError, match=f"need {FEATURES_VERSION}"):
        store.load("old")
