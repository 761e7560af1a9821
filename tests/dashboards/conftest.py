"""Fixtures for the dashboard suite: warehouses filled with :mod:`warehouse.testing` calls, the
environment the app reads its settings from, and Streamlit's AppTest over ``dashboards/app.py``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qc.config import Settings
from qc.records import Rejection
from warehouse import Warehouse
from warehouse.testing import dummy_call_result

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
HTML_SUFFIX = " <script>alert(1)</script> <b>x</b>"
AGENTS = ("agent-1", "agent-2", "agent-3")
QUEUES = ("billing", "cards")
N_CALLS = 9


@dataclass(frozen=True)
class DashData:
    """What the filled warehouse holds, for the assertions."""

    settings: Settings
    call_ids: tuple[str, ...]  # seed order; call_ids[0] has HTML in its turn texts
    unscored_id: str  # the call without a QA score

    @property
    def html_call_id(self) -> str:
        return self.call_ids[0]

    def warehouse(self) -> Warehouse:
        return Warehouse.open(self.settings)


def call_results():
    """Nine calls: three agents, two queues, 0-2 failed rules, one without a QA score, one with HTML in
    its transcript, dated 1-9 June 2024."""
    for i in range(N_CALLS):
        yield dummy_call_result(
            i,
            agent_id=AGENTS[i % 3],
            queue=QUEUES[i % 2],
            failed_rules=i % 3,
            qa_passed=None if i == N_CALLS - 1 else i % 4 != 0,
            started_at=datetime(2024, 6, 1 + i, 9, 30, tzinfo=UTC),
            text_suffix=HTML_SUFFIX if i == 0 else "",
            n_turns=12,
            n_words=60,
        )


def fill(wh: Warehouse) -> tuple[str, ...]:
    run_id = wh.start_run({}, "test")
    ids = []
    for result in call_results():
        wh.save_call(result, run_id)
        ids.append(result.call_id)
    wh.save_rejection(Rejection(file="/inbox/audio/broken.wav", reason="not a readable audio file"), run_id)
    wh.finish_run(run_id, processed=len(ids), rejected=1, skipped=0, audio_seconds=600.0,
                  processing_seconds=10.0, mean_qa_score=70.0, flagged=5)
    wh.register_model_version(
        "m1", "file:///models/m1", {"resolution": ["resolved", "unresolved"],
                                    "sentiment": ["negative", "neutral", "positive"]},
        {"macro_f1": 0.8, "per_label": {"resolution": {"f1": 0.9}}}, list(ids[:2]),
        "# Evaluation of m1\n\nmacro F1 0.80",
    )
    wh.promote("m1")
    wh.set_label(ids[1], "resolution", "resolved", who="ann", source="import")
    return tuple(ids)


@pytest.fixture(scope="session")
def filled_template(tmp_path_factory) -> tuple[Path, tuple[str, ...]]:
    """A filled SQLite file, made once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("dash-template")
    with Warehouse.from_url(f"sqlite:///{root / 'callqc.db'}") as wh:
        ids = fill(wh)
        with wh.engine.connect() as conn:  # fold the WAL into the file before it is copied
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return root / "callqc.db", ids


def _clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> Settings:
    """Point the app's settings (read from QC_* by the app itself) at ``data_dir``."""
    for key in list(os.environ):
        if key.startswith("QC_") and not key.startswith("QC_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QC_DATA_DIR", str(data_dir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _clear_streamlit_caches()
    return Settings()


@pytest.fixture
def dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filled_template) -> DashData:
    template, ids = filled_template
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(template, data_dir / "callqc.db")
    settings = use_data_dir(monkeypatch, data_dir)
    yield DashData(settings=settings, call_ids=ids, unscored_id=ids[N_CALLS - 1])
    _clear_streamlit_caches()


@pytest.fixture
def empty_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = use_data_dir(monkeypatch, tmp_path / "empty")
    yield settings
    _clear_streamlit_caches()


def app_test(timeout: float = 60):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=timeout)


def open_page(page: str, **query: str):
    """An AppTest that ran the app once, then ran ``dashboards/views/<page>.py`` with ``query``."""
    at = app_test().run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}: {[m.label for m in at.metric]}"
    return values[0]
