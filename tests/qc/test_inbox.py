from __future__ import annotations

import os
from datetime import datetime

import pytest

from qc.inbox import parse_layout, scan_inbox
from tests.conftest import tone, write_audio


def _ids(scan):
    return sorted(m.external_id for m in scan.calls)


def test_without_sidecar_ids_are_file_stems(tmp_path):
    write_audio(tmp_path / "b call.wav", tone(1))
    write_audio(tmp_path / "sub" / "Ünïcode café.flac", tone(1))
    (tmp_path / "readme.txt").write_text("not audio")
    scan = scan_inbox(tmp_path)
    assert _ids(scan) == ["b call", "Ünïcode café"]
    assert all(m.layout is None and m.agent_id is None for m in scan.calls)
    assert scan.rejections == []


def test_sidecar_fields_parsed(tmp_path):
    write_audio(tmp_path / "x.wav", tone(1))
    write_audio(tmp_path / "y.wav", tone(1))
    (tmp_path / "calls.csv").write_text(
        "call_id,file,agent_id,queue,started_at,layout\n"
        "C-1,x.wav,agent7,billing,2026-11-20T09:30:00,stereo:agent=1\n"
    )
    scan = scan_inbox(tmp_path)
    by_id = {m.external_id: m for m in scan.calls}
    assert set(by_id) == {"C-1", "y"}
    c1 = by_id["C-1"]
    assert (c1.agent_id, c1.queue, c1.layout, c1.agent_channel) == ("agent7", "billing", "stereo", 1)
    assert c1.started_at == datetime(2026, 11, 20, 9, 30)


def test_hostile_sidecar_rows_rejected_and_nothing_outside_read(tmp_path):
    inbox = tmp_path / "inbox"
    write_audio(inbox / "a.wav", tone(1))
    write_audio(inbox / "b.wav", tone(1, seed=1))
    write_audio(inbox / "c.wav", tone(1, seed=2))
    write_audio(tmp_path / "secret.wav", tone(1))
    os.symlink(tmp_path / "secret.wav", inbox / "link.wav")
    (inbox / "calls.csv").write_text(
        "call_id,file,agent_id,queue,started_at,layout\n"
        "P,../../etc/passwd,,,,\n"
        "Q,/etc/passwd,,,,\n"
        "A,a.wav,,,,\n"
        "A,b.wav,,,,\n"
        "M,missing.wav,,,,\n"
        "D,c.wav,,,not a date,\n"
        "L,a.wav,,,,sideways\n"
    )
    scan = scan_inbox(inbox)
    reasons = " | ".join(r.reason for r in scan.rejections)
    assert "outside the inbox" in reasons
    assert reasons.count("outside the inbox") == 3  # two rows and the link
    assert "duplicate call_id 'A'" in reasons
    assert "not in the inbox" in reasons
    assert "not an ISO-8601" in reasons
    assert _ids(scan) == ["A"]  # b.wav belongs to a rejected row; c.wav's row is rejected too
    assert all(str(m.path.resolve()).startswith(str(inbox.resolve())) for m in scan.calls)


def test_malformed_sidecar_is_rejected_and_files_still_processed(tmp_path):
    write_audio(tmp_path / "a.wav", tone(1))
    (tmp_path / "calls.csv").write_text("id;path\n1;a.wav\n")
    scan = scan_inbox(tmp_path)
    assert _ids(scan) == ["a"]
    assert len(scan.rejections) == 1 and "no 'file' column" in scan.rejections[0].reason


@pytest.mark.parametrize("cell,expected", [("", (None, None)), ("mono", ("mono", None)), ("stereo", ("stereo", None)),
                                           ("stereo:agent=1", ("stereo", 1)), ("agent_left", ("stereo", 0))])
def test_parse_layout(cell, expected):
    assert parse_layout(cell) == expected


def test_parse_layout_rejects_unknown():
    with pytest.raises(ValueError, match="unknown layout"):
        parse_layout("quad")
