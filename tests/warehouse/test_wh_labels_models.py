"""Human labels (all-or-nothing import, history) and the model version registry."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse import Warehouse
from warehouse.testing import dummy_call_result


@pytest.fixture
def three_calls(wh: Warehouse, run_id: str) -> list[str]:
    results = [dummy_call_result(i, external_id=f"EXT-{i}") for i in range(3)]
    for r in results:
        wh.save_call(r, run_id)
    return [r.call_id for r in results]


def label_rows(wh: Warehouse) -> int:
    with wh.engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM labels")).scalar_one()


def test_import_is_all_or_nothing(wh: Warehouse, three_calls: list[str]) -> None:
    report = wh.import_labels(
        [("EXT-0", "sentiment", "positive"), ("EXT-404", "sentiment", "negative")], who="ana", source="csv"
    )
    assert not report.ok and report.unknown_ids == ("EXT-404",) and report.imported == 0
    assert "EXT-404" in report.describe()
    assert label_rows(wh) == 0

    conflict = wh.import_labels(
        [("EXT-0", "sentiment", "positive"), ("EXT-0", "sentiment", "negative")], who="ana", source="csv"
    )
    assert conflict.conflicts == (("EXT-0", "sentiment"),) and label_rows(wh) == 0
    empty = wh.import_labels([("EXT-0", "sentiment", " ")], who="ana", source="csv")
    assert empty.invalid_rows == (0,) and label_rows(wh) == 0

    rows = [
        ("EXT-0", "sentiment", "positive"),
        ("EXT-1", "sentiment", "negative"),
        ("EXT-1", "resolution", "resolved"),
    ]
    ok = wh.import_labels(rows, who="ana", source="csv")
    assert ok.ok and ok.imported == 3 and ok.unchanged == 0
    again = wh.import_labels(rows, who="ana", source="csv")  # importing the same file twice: no new rows
    assert again.ok and again.imported == 0 and again.unchanged == 3
    assert label_rows(wh) == 3


def test_ambiguous_external_id(wh: Warehouse, run_id: str) -> None:
    wh.save_call(dummy_call_result(10, external_id="DUP"), run_id)
    wh.save_call(dummy_call_result(11, external_id="DUP"), run_id)
    report = wh.import_labels([("DUP", "sentiment", "positive")], who="ana", source="csv")
    assert report.ambiguous_ids == ("DUP",) and label_rows(wh) == 0


def test_latest_label_wins_and_history_kept(wh: Warehouse, three_calls: list[str]) -> None:
    c0, c1, _ = three_calls
    wh.import_labels([("EXT-0", "sentiment", "positive")], who="ana", source="csv")
    wh.set_label(c0, "sentiment", "neutral", who="bob")
    wh.set_label(c1, "resolution", "unresolved", who="bob")
    with pytest.raises(KeyError):
        wh.set_label("0" * 64, "sentiment", "neutral", who="bob")
    df = wh.labels_frame()
    assert list(df.columns) == ["call_id", "external_id", "label", "value", "who", "at"]
    latest = {(r.call_id, r.label): (r.value, r.who, r.external_id) for r in df.itertuples()}
    assert latest == {
        (c0, "sentiment"): ("neutral", "bob", "EXT-0"),
        (c1, "resolution"): ("unresolved", "bob", "EXT-1"),
    }
    assert str(df["at"].dtype) == "datetime64[us, UTC]"
    history = wh.label_history(c0)
    assert list(history.value) == ["positive", "neutral"] and list(history.who) == ["ana", "bob"]


def test_promote_and_rollback(wh: Warehouse) -> None:
    assert wh.promoted_version() is None
    with pytest.raises(LookupError):
        wh.rollback()
    for v in ("v1", "v2", "v3"):
        mv = wh.register_model_version(
            v,
            f"/models/{v}",
            {"sentiment": ["negative", "neutral", "positive"]},
            {"f1": 0.8},
            ["c1", "c2"],
            "# r",
        )
        assert not mv.promoted and mv.test_split == ("c1", "c2")
    wh.register_model_version("v1", "/models/v1", {}, {"f1": 0.81}, [], None)  # same artifact: updates
    assert wh.model_version("v1").metrics == {"f1": 0.81}
    with pytest.raises(ValueError):
        wh.register_model_version("v1", "/elsewhere", {}, {}, [], None)
    with pytest.raises(KeyError):
        wh.promote("v404")

    wh.promote("v1")
    wh.promote("v2")
    wh.promote("v3")
    wh.promote("v3")  # no-op
    assert wh.promoted_version().version == "v3"
    assert wh.rollback().version == "v2"
    assert wh.promoted_version().version == "v2"
    assert wh.rollback().version == "v1"
    with pytest.raises(LookupError):
        wh.rollback()
    assert wh.promoted_version().version == "v1"
    df = wh.model_versions()
    assert set(df.version) == {"v1", "v2", "v3"} and int(df.promoted.sum()) == 1
    assert df.set_index("version").loc["v1", "label_schema"] == {}

    # the database itself refuses a second promoted version
    with pytest.raises(sa.exc.IntegrityError), wh.engine.begin() as conn:
        conn.execute(sa.text("UPDATE model_versions SET promoted = TRUE WHERE version = 'v3'"))


def test_span_labels_beside_call_labels(wh: Warehouse, three_calls: list[str]) -> None:
    """A row with start,end labels that span of the call; the call's own label is kept apart."""
    c0 = three_calls[0]
    duration = wh.load_call(c0).call.duration
    bad = wh.import_labels([("EXT-0", "emotion", "angry", "3.0", "2.0"),  # ends before it starts
                            ("EXT-0", "emotion", "calm", "1.0", str(duration + 5)),  # past the call's end
                            ("EXT-0", "emotion", "calm", "1.0", "")],  # half a span
                           who="ana", source="csv")
    assert bad.invalid_rows == (0, 1, 2) and label_rows(wh) == 0 and "span" in bad.describe()

    rows = [("EXT-0", "emotion", "angry", "1.5", "4.0"), ("EXT-0", "emotion", "calm", "6", "9"),
            ("EXT-0", "emotion", "neutral", "", ""), ("EXT-1", "emotion", "calm")]
    ok = wh.import_labels(rows, who="ana", source="csv")
    assert ok.ok and ok.imported == 4
    assert wh.import_labels(rows, who="ana", source="csv").unchanged == 4 and label_rows(wh) == 4
    fixed = wh.import_labels([("EXT-0", "emotion", "sad", "1.5", "4.0")], who="bo", source="csv")
    assert fixed.imported == 1 and label_rows(wh) == 5

    calls = wh.labels_frame()
    assert sorted(zip(calls.external_id, calls.value)) == [("EXT-0", "neutral"), ("EXT-1", "calm")]
    spans = wh.turn_labels_frame()
    assert [(r.call_id, r.start_s, r.end_s, r.value, r.who) for r in spans.itertuples()] == [
        (c0, 1.5, 4.0, "sad", "bo"), (c0, 6.0, 9.0, "calm", "ana")]
    # the scores view compares a call's score with the call's own label, not a span's
    assert wh.import_labels([("EXT-0", "sentiment", "negative", "1.5", "4.0"), ("EXT-0", "sentiment", "positive")],
                            who="ana", source="csv").imported == 2
    with wh.engine.connect() as conn:
        human = conn.execute(sa.text("SELECT human_value FROM v_call_scores WHERE call_id = :c AND label = :l"),
                             {"c": c0, "l": "sentiment"}).scalars().all()
    assert human == ["positive"]


def test_turn_scores_round_trip_and_are_replaced(wh: Warehouse, run_id: str) -> None:
    import dataclasses

    r = dummy_call_result(7)
    assert r.turn_scores
    wh.save_call(r, run_id)
    assert wh.load_call(r.call_id).turn_scores == r.turn_scores
    fewer = dataclasses.replace(r, turn_scores=r.turn_scores[:2])
    wh.save_scoring([fewer])  # a rescore replaces the call's turn scores
    assert wh.load_call(r.call_id).turn_scores == r.turn_scores[:2]
    with wh.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM turn_scores")).scalar_one() == 2
