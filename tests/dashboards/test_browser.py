"""The dashboard in a real browser: synthetic calls through the real nightly flow into a warehouse, the
server started as `callqc dashboard` does, headless Chromium driving it. Screenshots are left in
``<test output>/dashboard/``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qc.config import Settings
from tests.dashboards.conftest import HTML_SUFFIX
from warehouse import Warehouse, queries
from warehouse.testing import dummy_call_result

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1700",
)
SEED = 12  # with layout="mixed": stereo, mono, stereo


@dataclass(frozen=True)
class Filled:
    settings: Settings
    real_ids: tuple[str, ...]  # processed by the pipeline
    html_id: str  # a synthetic call whose turns hold HTML


@pytest.fixture(scope="module")
def filled(tmp_path_factory, prefect_harness) -> Filled:
    from flows.nightly import run_nightly
    from qc.synth import generate_corpus

    root = tmp_path_factory.mktemp("browser")
    inbox = root / "inbox"
    corpus = generate_corpus(inbox, calls=3, seed=SEED, layout="mixed")
    assert {c.layout.split(":")[0] for c in corpus.calls} == {"stereo", "mono"}
    (inbox / "audio" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not audio at all")
    cfg = Settings(data_dir=root / "data", redact_audio=True)
    summary = run_nightly(inbox, cfg)
    assert summary.count("processed") == 3 and summary.count("rejected") == 1, summary.outcomes
    ids = tuple(o.call_id for o in summary.outcomes if o.status == "processed")
    with Warehouse.open(cfg) as wh:
        started = wh.load_call(ids[0]).call.started_at  # same day: in the overview's default dates
        html = dummy_call_result("html", external_id="HTML-1", text_suffix=HTML_SUFFIX, n_turns=6, n_words=30,
                                 started_at=started)
        wh.save_call(html, summary.run_id)
    return Filled(cfg, ids, html.call_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(filled: Filled, tmp_path_factory) -> Iterator[str]:
    """`callqc dashboard --port N --host 127.0.0.1` on a free loopback port; its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_") or k.startswith("QC_TEST_")}
    env["QC_DATA_DIR"] = str(filled.settings.data_dir)
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    root = Path(__file__).resolve().parents[2]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli_dashboard", "dashboard", "--port", str(port),
             "--host", "127.0.0.1"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        msg = "Debian chromium + chromium-driver are not installed (scripts/setup.sh installs them)"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no Selenium Manager
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(test_output: Path) -> Path:
    out = test_output / "dashboard"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


# --- helpers -------------------------------------------------------------------------------------------
def squash(text: str) -> str:
    return " ".join(text.split())


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return squash(driver.find_element(By.TAG_NAME, "body").text)


def wait_for(driver, *needles: str, timeout: float = 90) -> str:
    """Wait until the page shows every needle and Streamlit has finished running; the page's text."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        text = page_text(driver)
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        if all(squash(n) in text for n in needles) and not running:
            time.sleep(1.0)  # charts and images draw after the script run ends
            return page_text(driver)
        if time.monotonic() > deadline:
            missing = [n for n in needles if squash(n) not in text]
            pytest.fail(f"{driver.current_url}: missing {missing}; page says: {text[:2000]}")
        time.sleep(0.5)


def metrics(driver) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    out = {}
    for el in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        label = el.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
        out[label] = el.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return out


def screenshot(driver, path: Path) -> None:
    """The whole page, not only the window: the window is stretched to the page's height first."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(document.body.scrollHeight, m ? m.scrollHeight : 0);"
    )
    driver.set_window_size(1400, min(max(int(height) + 80, 900), 6000))
    time.sleep(0.5)
    assert driver.save_screenshot(str(path)), path
    driver.set_window_size(1400, 1700)


# --- the test -------------------------------------------------------------------------------------------
def test_overview_and_call_pages_in_chromium(filled: Filled, server: str, browser, shots: Path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with Warehouse.open(filled.settings) as wh:
        calls = queries.call_list(wh)
        scores = queries.qa_scores(wh)
        worst_real = next(cid for cid in calls["call_id"] if cid in filled.real_ids)
        result = wh.load_call(worst_real)
    assert len(calls) == 4 and result.qa is not None and result.turns

    # overview: the call count, the mean QA score, the rejected file
    browser.get(f"{server}/")
    wait_for(browser, "Overview", "Mean QA score", "Rejected files")
    shown = metrics(browser)
    assert shown["Calls"] == str(len(calls))
    assert shown["Mean QA score"] == f"{scores['score'].mean():.1f}"
    screenshot(browser, shots / "overview.png")

    # a call processed by the pipeline: id, a transcript line, the QA score, the audio player
    line = max((t.text for t in result.turns), key=len)
    browser.get(f"{server}/call?call_id={worst_real}")
    text = wait_for(browser, worst_real, line, "QA score")
    assert metrics(browser)["QA score"] == f"{result.qa.score:.1f}"
    assert result.call.external_id in text
    assert browser.find_elements(By.CSS_SELECTOR, "audio"), "no audio player"
    assert "Redacted copy" in text  # the pipeline wrote data_dir/redacted/<call_id>.wav
    screenshot(browser, shots / "call.png")

    # its spectrogram tab (linked by the URL)
    browser.get(f"{server}/call?call_id={worst_real}&call_tab=Spectrogram")
    wait_for(browser, "Log-mel spectrogram")
    loaded = browser.execute_script(
        "return [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
        ".some(i => i.naturalWidth > 400)"
    )
    assert loaded, "the spectrogram image did not load"
    screenshot(browser, shots / "call-spectrogram.png")

    # HTML in a transcript shows as text: no element is made from it, no script runs
    browser.get(f"{server}/call?call_id={filled.html_id}")
    text = wait_for(browser, "<script>alert(1)</script> <b>x</b>")
    assert "HTML-1" in text
    main = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]')
    assert not main.find_elements(By.XPATH, ".//b[normalize-space()='x']")
    assert not browser.execute_script(
        "return [...document.scripts].some(s => s.textContent.includes('alert(1)'))"
    )
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    screenshot(browser, shots / "call-html-as-text.png")
