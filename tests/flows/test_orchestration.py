"""Schedules, backfill, retries and the run report (no shipped models: the analysis is stubbed with
plausible call results where the flow needs one)."""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from qc.call_features import CallFeatures
from qc.config import Settings
from qc.inbox import call_date, in_date_range, scan_inbox
from qc.prosody import N_PROSODY
from qc.records import BadRecording, CallMeta
from qc.retry import retry, transient_os_error
from tests.conftest import tone, write_audio
from warehouse.testing import dummy_call_result


# --- schedules ---------------------------------------------------------------------------------------------

def test_serve_builds_scheduled_deployments(tmp_path):
    from flows.cli_orchestrate import deployments

    cfg = Settings(data_dir=tmp_path, nightly_cron="30 1 * * 1-5", timezone="Europe/Berlin",
                   nightly_inbox=tmp_path / "inbox")
    deps = {d.flow_name: d for d in deployments(cfg)}
    nightly = deps["nightly_qc"]
    assert nightly.name == "nightly"
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("30 1 * * 1-5", "Europe/Berlin")]
    assert nightly.parameters == {"inbox": str((tmp_path / "inbox").resolve())}  # no settings (secrets) stored
    assert nightly.entrypoint.endswith("flows/nightly.py:nightly_qc") or nightly.entrypoint == "flows.nightly.nightly_qc"
    try:
        import flows.retrain  # noqa: F401
    except ImportError:
        assert set(deps) == {"nightly_qc"}
    else:
        retrain = deps["retrain_qc"]
        assert [(s.schedule.cron, s.schedule.timezone) for s in retrain.schedules] == [("0 4 * * 0", "Europe/Berlin")]


def test_serve_defaults_and_missing_retrain(tmp_path, monkeypatch, caplog):
    from flows.cli_orchestrate import deployments

    monkeypatch.setitem(sys.modules, "flows.retrain", None)  # as if the classifier area were not installed
    deps = deployments(Settings(data_dir=tmp_path), inbox=tmp_path)
    assert [d.flow_name for d in deps] == ["nightly_qc"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in deps[0].schedules] == [("0 2 * * *", "UTC")]
    assert "retrain_qc not scheduled" in caplog.text
    with pytest.raises(ValueError, match="QC_NIGHTLY_INBOX"):
        deployments(Settings(data_dir=tmp_path))


def test_serve_cli_rejects_bad_settings(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("QC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--timezone", "Mars/Olympus"])
    assert result.exit_code == 2 and "unknown time zone" in result.output
    monkeypatch.delenv("QC_NIGHTLY_INBOX", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "QC_NIGHTLY_INBOX" in result.output


def test_serve_cli_serves_the_deployments(tmp_path, monkeypatch):
    import prefect
    from typer.testing import CliRunner

    from flows.cli import app

    served = []
    monkeypatch.setattr(prefect, "serve", lambda *deps, **kw: served.extend(deps))
    monkeypatch.setenv("QC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QC_NIGHTLY_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("QC_TIMEZONE", "America/New_York")
    result = CliRunner().invoke(app, ["serve", "--nightly-cron", "15 3 * * *"])
    assert result.exit_code == 0, result.output
    nightly = next(d for d in served if d.flow_name == "nightly_qc")
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("15 3 * * *", "America/New_York")]
    assert nightly.parameters == {"inbox": str((tmp_path / "inbox").resolve())}
    assert "nightly_qc/nightly: 15 3 * * * (America/New_York)" in result.output


# --- call dates and backfill selection ---------------------------------------------------------------------

def test_call_date_from_sidecar_else_file_time(tmp_path):
    a = write_audio(tmp_path / "a.wav", tone(1))
    b = write_audio(tmp_path / "b.wav", tone(1, seed=1))
    c = write_audio(tmp_path / "c.wav", tone(1, seed=2))
    os.utime(b, (datetime(2026, 3, 2, 23, 30, tzinfo=UTC).timestamp(),) * 2)
    os.utime(c, (datetime(2026, 3, 9, 12, tzinfo=UTC).timestamp(),) * 2)
    (tmp_path / "calls.csv").write_text("call_id,file,started_at\nA,a.wav,2026-03-04T23:30:00-05:00\n")
    scan = scan_inbox(tmp_path)
    days = {m.external_id: call_date(m) for m in scan.calls}
    assert days == {"A": date(2026, 3, 5), "b": date(2026, 3, 2), "c": date(2026, 3, 9)}  # UTC days
    picked = in_date_range(scan, date(2026, 3, 2), date(2026, 3, 5))
    assert sorted(m.external_id for m in picked.calls) == ["A", "b"]
    assert [m.external_id for m in in_date_range(scan, date(2026, 3, 6), None).calls] == ["c"]
    assert in_date_range(scan, None, None) is scan
    with pytest.raises(ValueError, match="empty"):
        in_date_range(scan, date(2026, 3, 6), date(2026, 3, 1))
    a.unlink()
    gone = CallMeta(external_id="gone", path=a)
    assert call_date(gone) is None


# --- retries -----------------------------------------------------------------------------------------------

def test_retry_backs_off_on_transient_errors_only():
    waits: list[float] = []
    calls = iter([OSError(errno.EIO, "I/O error"), OSError(errno.ESTALE, "stale"), "ok"])

    def flaky():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry(flaky, transient_os_error, attempts=4, delay=0.5, factor=4, sleep=waits.append) == "ok"
    assert waits == [0.5, 2.0]
    with pytest.raises(PermissionError):  # not transient: no retry
        retry(lambda: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied")), transient_os_error,
              sleep=waits.append)
    assert waits == [0.5, 2.0]
    with pytest.raises(OSError, match="I/O"):  # transient, but every attempt fails
        retry(lambda: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")), transient_os_error, attempts=3,
              delay=1, sleep=waits.append)
    assert waits == [0.5, 2.0, 1, 4]


def test_file_briefly_unavailable_is_read_on_retry(tmp_path, monkeypatch):
    import soundfile as sf

    from qc.audio import load_recording

    path = write_audio(tmp_path / "a.wav", tone(2))
    real_info, failures = sf.info, [OSError(errno.EIO, "Input/output error")]

    def flaky_info(file, *args, **kwargs):
        if failures:
            raise failures.pop()
        return real_info(file, *args, **kwargs)

    monkeypatch.setattr(sf, "info", flaky_info)
    cfg = Settings(data_dir=tmp_path / "data", retry_delay=0.01)
    rec = load_recording(CallMeta(external_id="a", path=path), cfg)
    assert rec.duration == pytest.approx(2.0, abs=1e-3) and failures == []
    # a file that stays unavailable is rejected with the reason once the tries are spent
    failures[:] = [OSError(errno.EIO, "Input/output error")] * 4
    with pytest.raises(BadRecording, match="Input/output error"):
        load_recording(CallMeta(external_id="a", path=path), cfg)
    assert failures == []


def _stub_analysis(monkeypatch, started_at: datetime | None = None):
    """``analyze_with_features`` -> a plausible stored result for the file, tiny features (no models run)."""
    import flows.nightly

    def fake(meta, cfg, call_id=None, hook=None, recording=None, voiceprint=None, enrol_voice=True):
        from qc.audio import probe

        probe(meta.path)  # a broken file is still rejected for its real reason
        result = dummy_call_result(meta.external_id, call_id=call_id, external_id=meta.external_id,
                                   started_at=meta.started_at or started_at, qa_passed=meta.external_id != "b")
        result = dataclasses.replace(result, call=dataclasses.replace(result.call, source_path=str(meta.path),
                                                                      duration=60.0))
        features = CallFeatures(result.call_id, np.zeros((2, 1, 8, 8), np.float16), np.array([True, True]),
                                np.zeros(0, np.int8), (), np.full((2, N_PROSODY), np.nan, np.float32))
        return result, features

    monkeypatch.setattr(flows.nightly, "analyze_with_features", fake)
    monkeypatch.setattr(flows.nightly, "warm_up", lambda cfg: {"models": 0.5})  # no model is loaded


def test_transient_warehouse_failure_is_retried(tmp_path, monkeypatch):
    from flows.nightly import handle_call, open_warehouse
    from qc.audio import content_hash
    from warehouse import Warehouse, parquet

    _stub_analysis(monkeypatch)
    path = write_audio(tmp_path / "a.wav", tone(2))
    cfg = Settings(data_dir=tmp_path / "data", retry_delay=0.01)
    wh = open_warehouse(cfg)
    run_id = wh.start_run({}, "test")
    real_save, attempts = Warehouse.save_call, []

    def flaky_save(self, result, run_id):
        attempts.append(result.call_id)
        if len(attempts) == 1:  # the server drops the connection once
            raise sa.exc.OperationalError("INSERT INTO calls", {}, Exception("server closed the connection"))
        return real_save(self, result, run_id)

    monkeypatch.setattr(Warehouse, "save_call", flaky_save)
    digest = content_hash(path)
    outcome = handle_call(CallMeta(external_id="a", path=path), digest, cfg, run_id)
    assert outcome.status == "processed" and attempts == [digest, digest]
    assert wh.known_call_ids([digest]) == {digest} and parquet.known_call_ids(cfg.parquet_dir, [digest]) == {digest}

    # a real SQL error is not retried, and the call is not marked done
    def broken_save(self, result, run_id):
        attempts.append("broken")
        raise sa.exc.IntegrityError("INSERT INTO calls", {}, Exception("constraint failed"))

    monkeypatch.setattr(Warehouse, "save_call", broken_save)
    other = write_audio(tmp_path / "b.wav", tone(2, seed=4))
    with pytest.raises(sa.exc.IntegrityError):
        handle_call(CallMeta(external_id="b", path=other), content_hash(other), cfg, run_id)
    assert attempts.count("broken") == 1 and wh.known_call_ids([content_hash(other)]) == set()


# --- backfill and the run report through the flow ----------------------------------------------------------

def test_backfill_processes_the_date_range_and_reports_the_run(tmp_path, monkeypatch, prefect_harness):
    from typer.testing import CliRunner

    from flows.cli import app

    _stub_analysis(monkeypatch)
    inbox = tmp_path / "inbox"
    for i, name in enumerate(("a", "b", "c", "d")):
        write_audio(inbox / f"{name}.wav", tone(2, seed=i))
    (inbox / "bad.wav").write_text("not audio")
    os.utime(inbox / "d.wav", (datetime(2026, 5, 2, 12, tzinfo=UTC).timestamp(),) * 2)
    os.utime(inbox / "bad.wav", (datetime(2026, 5, 2, 12, tzinfo=UTC).timestamp(),) * 2)
    (inbox / "calls.csv").write_text("call_id,file,started_at\na,a.wav,2026-05-01T09:00:00\n"
                                     "b,b.wav,2026-05-02T10:00:00\nc,c.wav,2026-05-04T10:00:00\n")
    monkeypatch.setenv("QC_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["backfill", str(inbox), "--from", "2026-05-01", "--to", "2026-05-02"])
    assert result.exit_code == 0, result.output
    assert "3 processed, 1 rejected" in result.output  # a, b, d (file date) and bad.wav; not c

    engine = sa.create_engine(Settings(data_dir=tmp_path / "data").db_url)
    with engine.connect() as conn:
        ids = sorted(conn.execute(sa.text("SELECT external_id FROM calls")).scalars())
        run = conn.execute(sa.text("SELECT * FROM pipeline_runs")).one()
        reasons = conn.execute(sa.text("SELECT reason FROM rejections WHERE last_run_id = :r"),
                               {"r": run.run_id}).scalars().all()
    engine.dispose()
    assert ids == ["a", "b", "d"]
    assert (run.processed, run.rejected, run.skipped, run.flagged) == (3, 1, 0, 1)  # b fails QA
    assert run.audio_seconds == pytest.approx(180.0)
    assert run.real_time_factor == pytest.approx(run.processing_seconds / 180.0)
    assert run.mean_qa_score is not None and 0 <= run.mean_qa_score <= 100
    assert ["not a readable audio file" in r for r in reasons] == [True]
    report = run.report_markdown
    for needle in ("- processed: 3", "- rejected: 1", "real-time factor", f"{run.real_time_factor:.3f}",
                   f"- mean QA score: {run.mean_qa_score:.1f}", "- flagged (failed QA): 1", "## Flagged", "`b`",
                   "bad.wav", "not a readable audio file", "- loading models and compiled code: 0.5 s"):
        assert needle in report, needle

    bad = CliRunner().invoke(app, ["backfill", str(inbox), "--from", "2026-05-03", "--to", "2026-05-01"])
    assert bad.exit_code == 2 and "after" in bad.output
