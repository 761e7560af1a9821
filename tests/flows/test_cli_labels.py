"""``callqc labels import`` (all or nothing) and ``callqc models list|promote|rollback``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from qc.call_features import span_id
from flows.training import labels_from_warehouse
from warehouse import Warehouse
from warehouse.testing import dummy_call_result


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    with Warehouse.from_url(f"sqlite:///{(d / 'callqc.db').resolve()}") as wh:
        run = wh.start_run({}, "test")
        for i in range(3):
            wh.save_call(dummy_call_result(i, external_id=f"call-{i}", n_words=10), run)
    return d


def invoke(data_dir: Path, *args: str):
    return CliRunner().invoke(app, list(args), env={"QC_DATA_DIR": str(data_dir)})


def labels(data_dir: Path):
    with Warehouse.from_url(f"sqlite:///{(data_dir / 'callqc.db').resolve()}") as wh:
        return wh.labels_frame()


def test_labels_import_rejects_unknown_ids_and_imports_nothing(data_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("call_id,label,value\ncall-0,mood,happy\ncall-1,mood,sad\nnot-a-call,mood,sad\n")
    res = invoke(data_dir, "labels", "import", str(bad))
    assert res.exit_code == 1
    assert "unknown call ids: not-a-call" in res.output and "nothing imported" in res.output
    assert labels(data_dir).empty  # nothing half-imported

    good = tmp_path / "good.csv"
    good.write_text("call_id,label,value\ncall-0,mood,happy\ncall-1,mood,sad\ncall-2,size,big\n")
    res = invoke(data_dir, "labels", "import", str(good), "--who", "ann")
    assert res.exit_code == 0, res.output
    assert "imported 3 labels" in res.output
    frame = labels(data_dir)
    assert sorted(zip(frame["external_id"], frame["label"], frame["value"])) == [
        ("call-0", "mood", "happy"), ("call-1", "mood", "sad"), ("call-2", "size", "big")]
    assert invoke(data_dir, "labels", "import", str(good)).output.strip() == "imported 0 labels (3 unchanged)"


def test_labels_import_needs_the_columns(data_dir, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,label\na,b\n")
    res = invoke(data_dir, "labels", "import", str(f))
    assert res.exit_code != 0 and "call_id,label,value" in res.output


def test_labels_import_spans_with_start_and_end(data_dir, tmp_path):
    f = tmp_path / "spans.csv"
    f.write_text("call_id,label,value,start,end\ncall-0,mood,angry,1.5,4\ncall-0,mood,calm,6,9.25\n"
                 "call-1,mood,sad,,\n")
    res = invoke(data_dir, "labels", "import", str(f))
    assert res.exit_code == 0 and "imported 3 labels" in res.output, res.output
    with Warehouse.from_url(f"sqlite:///{(data_dir / 'callqc.db').resolve()}") as wh:
        spans = wh.turn_labels_frame()
        calls = wh.labels_frame()
        data = labels_from_warehouse(wh)  # what training and cross-validation read
    c0 = spans.call_id.iloc[0]
    assert sorted(data.rows) == sorted([(span_id(c0, 1.5, 4.0), "mood", "angry"), (span_id(c0, 6, 9.25), "mood", "calm"),
                                        (calls.call_id.iloc[0], "mood", "sad")])
    assert list(zip(spans.external_id, spans.start_s, spans.end_s, spans.value)) == [
        ("call-0", 1.5, 4.0, "angry"), ("call-0", 6.0, 9.25, "calm")]
    assert list(zip(calls.external_id, calls.value)) == [("call-1", "sad")]  # no span: the whole call
    half = tmp_path / "half.csv"
    half.write_text("call_id,label,value,start\ncall-0,mood,angry,1.5\n")
    res = invoke(data_dir, "labels", "import", str(half))
    assert res.exit_code != 0 and "both the columns start and end" in res.output


def test_models_list_promote_rollback(data_dir):
    with Warehouse.from_url(f"sqlite:///{(data_dir / 'callqc.db').resolve()}") as wh:
        for v in ("v1", "v2"):
            wh.register_model_version(v, f"/nowhere/{v}", {"mood": {"values": ["happy", "sad"]}},
                                      {"mean_macro_f1": 0.5}, ["x"], None)
    assert "v1" in invoke(data_dir, "models", "list").output
    assert invoke(data_dir, "models", "promote", "v1").exit_code == 0
    assert invoke(data_dir, "models", "promote", "v2").exit_code == 0
    out = invoke(data_dir, "models", "list").output
    assert "* v2" in out and "  v1" in out
    res = invoke(data_dir, "models", "rollback")
    assert res.exit_code == 0 and "v1 is promoted" in res.output
    assert invoke(data_dir, "models", "promote", "nope").exit_code != 0
