"""Agent voiceprints through the nightly flow with the shipped speaker encoder: an agent is enrolled
from their two-party stereo calls, and their mono calls in which the customer speaks first get the
roles right by the agent's voice. Audio: synthetic calls of one agent (one TTS voice per agent id)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa

from qc.config import Settings
from qc.synth import make_call

pytestmark = pytest.mark.slow
SEED, AGENT = 77, "agent-05"
STEREO, MONO = (0, 2), (4, 6)  # indices of SEED whose agent is AGENT


def customer_first(index: int):
    """A mono call of AGENT cut so that it starts just before the customer's first turn, and its truth
    turns (times shifted)."""
    truth, wav = make_call(SEED, index, "mono", None)
    assert truth.scenario["agent_id"] == AGENT
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    cut = min(t.start for t in truth.turns if t.role == "customer") - 0.3
    turns = [(t.start - cut, t.end - cut, t.role) for t in truth.turns if t.end > cut]
    return x[int(cut * sr):], sr, turns


def right_share(stored_turns, truth_turns) -> float:
    """Share of the stored talk time whose role agrees with the truth at the turn's middle."""
    right = total = 0.0
    for start, end, role in stored_turns:
        mid = (start + end) / 2
        truth = [r for a, b, r in truth_turns if a <= mid <= b]
        total += end - start
        right += (end - start) * bool(truth and truth[0] == role)
    return right / total


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    from flows.nightly import run_nightly

    inbox = tmp_path_factory.mktemp("voices")
    rows, truths = [], {}
    for i in STEREO:
        truth, wav = make_call(SEED, i, "stereo", None)
        (inbox / f"s{i}.wav").write_bytes(wav)
        rows.append([f"s{i}", f"s{i}.wav", AGENT, f"2026-12-0{i + 1}T09:00:00Z", f"stereo:agent={truth.agent_channel}"])
    for i in MONO:
        x, sr, turns = customer_first(i)
        sf.write(inbox / f"m{i}.wav", x, sr)
        truths[f"m{i}"] = turns
        rows.append([f"m{i}", f"m{i}.wav", AGENT, f"2026-12-0{i + 1}T09:00:00Z", "mono"])
    with open(inbox / "calls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "file", "agent_id", "started_at", "layout"])
        w.writerows(rows)
    data = tmp_path_factory.mktemp("voices-data")
    # stereo first (one run), then the mono calls (a later night), as a deployment meets them
    stereo_inbox = tmp_path_factory.mktemp("voices-stereo")
    for r in rows[:2]:
        (stereo_inbox / r[1]).write_bytes((inbox / r[1]).read_bytes())
    with open(stereo_inbox / "calls.csv", "w", newline="") as f:
        csv.writer(f).writerows([["call_id", "file", "agent_id", "started_at", "layout"], *rows[:2]])
    cfg = Settings(data_dir=data / "data", task_runner="sequential")
    first = run_nightly(stereo_inbox, cfg)
    second = run_nightly(inbox, cfg)
    return cfg, first, second, truths


def _turns(cfg, external_id):
    engine = sa.create_engine(cfg.db_url)
    with engine.connect() as con:
        strategy, confidence = con.execute(sa.text(
            "SELECT role_strategy, role_confidence FROM calls WHERE external_id = :e"), {"e": external_id}).one()
        turns = con.execute(sa.text(
            "SELECT t.start_s, t.end_s, t.role FROM turns t JOIN calls c ON c.call_id = t.call_id "
            "WHERE c.external_id = :e ORDER BY t.start_s"), {"e": external_id}).all()
    return strategy, confidence, [tuple(t) for t in turns]


def test_stereo_calls_enrol_the_agent_once(night):
    from warehouse import Warehouse

    cfg, first, second, _ = night
    assert first.count("processed") == 2 and second.count("skipped") == 2
    with Warehouse.open(cfg) as wh:
        prints = wh.voiceprints()
        voice, calls = wh.voiceprint(AGENT)
    assert prints["agent_id"].tolist() == [AGENT] and calls == 2  # the rerun enrolled nothing twice
    assert voice.shape == (256,) and abs(float(np.linalg.norm(voice)) - 1) < 1e-3


def test_mono_calls_where_the_customer_speaks_first_get_roles_by_voice(night):
    cfg, _, second, truths = night
    for name, truth in truths.items():
        strategy, confidence, turns = _turns(cfg, name)
        assert strategy == "voiceprint" and confidence >= 0.8, (name, strategy, confidence)
        assert right_share(turns, truth) >= 0.95, (name, turns)


def test_forgetting_an_agent_deletes_the_voiceprint(night, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app
    from warehouse import Warehouse

    cfg, *_ = night
    monkeypatch.setenv("QC_DATA_DIR", str(cfg.data_dir))
    listed = CliRunner().invoke(app, ["agents", "list"])
    assert listed.exit_code == 0 and AGENT in listed.output and "2 calls" in listed.output
    gone = CliRunner().invoke(app, ["agents", "forget", AGENT])
    assert gone.exit_code == 0, gone.output
    with Warehouse.open(cfg) as wh:
        assert wh.voiceprint(AGENT) is None and wh.voiceprints().empty
    again = CliRunner().invoke(app, ["agents", "forget", AGENT])
    assert again.exit_code != 0 and "no voiceprint" in again.output


def test_roles_an_analyst_corrects_feed_the_voiceprint(night):
    from flows.corrections import swap_roles
    from warehouse import Warehouse

    cfg, *_ = night
    with Warehouse.open(cfg) as wh:
        wh.forget_voice(AGENT)
        with wh.engine.connect() as con:
            call_id = con.execute(sa.text("SELECT call_id FROM calls WHERE external_id = 'm4'")).scalar_one()
    swapped = swap_roles(cfg, call_id, "ann")
    with Warehouse.open(cfg) as wh:
        voice, calls = wh.voiceprint(AGENT)
        with wh.engine.connect() as con:
            report = con.execute(sa.text("SELECT r.report_markdown FROM pipeline_runs r JOIN calls c "
                                         "ON c.run_id = r.run_id WHERE c.call_id = :c"), {"c": call_id}).scalar_one()
    assert calls == 1 and "voiceprint enrolled" in report
    assert swapped.call.role_strategy == "corrected by hand"
    swap_roles(cfg, call_id, "ann")  # back again: the call is enrolled once
    with Warehouse.open(cfg) as wh:
        assert wh.voiceprint(AGENT)[1] == 1


def test_reprocessing_keeps_the_roles_an_analyst_set(night):
    from flows.corrections import swap_roles
    from flows.nightly import handle_call
    from qc.records import CallMeta
    from warehouse import Warehouse

    cfg, _, _, truths = night
    with Warehouse.open(cfg) as wh:
        with wh.engine.connect() as con:
            call_id, path = con.execute(sa.text("SELECT call_id, source_path FROM calls WHERE external_id = 'm4'")).one()
    swap_roles(cfg, call_id, "ann")  # the analyst has the last word, even against the truth of the synthesis
    with Warehouse.open(cfg) as wh:
        wh.forget_voice(AGENT)  # enrolled from the corrections: the new analysis decides from the call alone
        run_id = wh.start_run({}, "test")
    meta = CallMeta(external_id="m4", path=Path(path), agent_id=AGENT, layout="mono")
    outcome = handle_call(meta, call_id, cfg, run_id)
    assert outcome.status == "processed", outcome.reason
    strategy, confidence, turns = _turns(cfg, "m4")
    assert (strategy, confidence) == ("corrected by hand", 1.0)
    assert right_share(turns, truths["m4"]) <= 0.05  # the analyst's roles, not the analysis's
    swap_roles(cfg, call_id, "ann")
    assert handle_call(meta, call_id, cfg, run_id).status == "processed"
    strategy, _, turns = _turns(cfg, "m4")
    assert strategy == "corrected by hand" and right_share(turns, truths["m4"]) >= 0.95
