"""The inbox contract: a directory of audio files with an optional ``calls.csv`` sidecar.

``calls.csv`` columns: ``call_id, file, agent_id, queue, started_at, layout`` (only ``file`` is
required). ``file`` is relative to the inbox. ``layout`` is ``mono``, ``stereo`` (agent on the
configured channel, 0 by default), ``stereo:agent=0`` / ``stereo:agent=1`` (or ``agent_left`` /
``agent_right``). Without ``calls.csv`` (or for files it does not list) the call id is the file stem
and the layout is decided from the channel count.

Nothing outside the inbox is ever read: rows pointing outside it, and links leading outside it, are
rejected with their reason.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from qc.audio import AUDIO_EXTENSIONS
from qc.records import CallMeta, Layout, Rejection

SIDECAR = "calls.csv"
COLUMNS = ("call_id", "file", "agent_id", "queue", "started_at", "layout")


@dataclass
class InboxScan:
    calls: list[CallMeta] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def parse_layout(value: str) -> tuple[Layout | None, int | None]:
    """``calls.csv`` layout cell -> (layout, agent channel). Raises ValueError for unknown values."""
    v = value.strip().lower().replace(" ", "")
    if v in ("", "auto"):
        return None, None
    if v == "mono":
        return "mono", None
    if v == "stereo":
        return "stereo", None
    aliases = {"agent_left": 0, "agent_right": 1, "stereo:agent=0": 0, "stereo:agent=1": 1,
               "stereo:agent=left": 0, "stereo:agent=right": 1}
    if v in aliases:
        return "stereo", aliases[v]
    raise ValueError(f"unknown layout {value!r} (use mono, stereo, stereo:agent=0 or stereo:agent=1)")


def parse_started_at(value: str) -> datetime | None:
    v = value.strip()
    if not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"started_at {value!r} is not an ISO-8601 date-time") from None


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _relative(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def list_audio_files(root: Path) -> list[Path]:
    """Audio files under the inbox (recursively, hidden folders skipped), sorted for a stable order."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS and (path.is_file() or path.is_symlink() or path.is_dir()):
            found.append(path)
    return found


def scan_inbox(inbox: Path) -> InboxScan:
    """The calls an inbox holds, and the rejections its sidecar or its links earn."""
    root = inbox.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a directory")
    scan = InboxScan()
    listed: dict[Path, CallMeta] = {}
    excluded: set[Path] = set()  # files whose calls.csv row was rejected: not processed with guesses
    sidecar = root / SIDECAR
    if sidecar.exists():
        listed, excluded = _read_sidecar(root, sidecar, scan)
    seen_ids = {meta.external_id for meta in listed.values()}
    for path in list_audio_files(root):
        if not _inside(root, path):
            scan.rejections.append(Rejection(file=_relative(root, path), reason="link points outside the inbox"))
            continue
        key = path.resolve()
        if key in excluded:
            continue
        if key in listed:
            scan.calls.append(listed.pop(key))
            continue
        external_id = path.stem
        if external_id in seen_ids:  # another file already uses this id (e.g. a.wav and a.flac)
            external_id = _relative(root, path)
        seen_ids.add(external_id)
        scan.calls.append(CallMeta(external_id=external_id, path=path))
    for meta in listed.values():  # listed rows whose file is not a regular audio file in the inbox
        scan.calls.append(meta)
    return scan


def _read_sidecar(root: Path, sidecar: Path, scan: InboxScan) -> tuple[dict[Path, CallMeta], set[Path]]:
    try:
        text = sidecar.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        scan.rejections.append(Rejection(file=SIDECAR, reason=f"calls.csv unreadable ({exc}); files processed "
                                                              "without it"))
        return {}, set()
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
        header = [h.strip() for h in (csv.DictReader(io.StringIO(text)).fieldnames or [])]
    except csv.Error as exc:
        scan.rejections.append(Rejection(file=SIDECAR, reason=f"calls.csv malformed ({exc}); files processed "
                                                              "without it"))
        return {}, set()
    if "file" not in header:
        scan.rejections.append(Rejection(file=SIDECAR, reason=f"calls.csv has no 'file' column (header: "
                                                              f"{', '.join(header) or 'empty'}); files "
                                                              "processed without it"))
        return {}, set()
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        scan.rejections.append(Rejection(file=SIDECAR, reason=f"calls.csv repeats columns {repeated}; files "
                                                              "processed without it"))
        return {}, set()
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        scan.rejections.append(Rejection(file=SIDECAR, reason=f"calls.csv has unknown columns {unknown}; "
                                                              "they were ignored"))
    listed: dict[Path, CallMeta] = {}
    excluded: set[Path] = set()
    first_line: dict[str, int] = {}
    for line_no, row in enumerate(rows, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        file_cell = row.get("file", "")
        external_id = row.get("call_id") or Path(file_cell).stem
        label = f"{SIDECAR}:{line_no}"
        if not file_cell:
            scan.rejections.append(Rejection(file=label, reason="calls.csv row has no file", external_id=external_id))
            continue
        bad_cells = [k for k, v in row.items() if any(ord(ch) < 32 for ch in v)]
        if bad_cells:  # a NUL byte, or newlines swallowed by an unclosed quote: no safe name or id to use
            scan.rejections.append(Rejection(file=label, reason=f"{label}: malformed row (control characters "
                                                                f"in {', '.join(bad_cells)}; unbalanced quote?)"))
            continue
        candidate = root / file_cell
        if Path(file_cell).is_absolute() or not _inside(root, candidate):
            scan.rejections.append(Rejection(file=file_cell, reason=f"{label}: path points outside the inbox",
                                             external_id=external_id))
            continue
        key = candidate.resolve()
        if external_id in first_line:
            scan.rejections.append(Rejection(
                file=file_cell, external_id=external_id,
                reason=f"{label}: duplicate call_id {external_id!r} (first listed on line {first_line[external_id]})"))
            if key not in listed:
                excluded.add(key)
            continue
        if key in listed:
            scan.rejections.append(Rejection(file=file_cell, external_id=external_id,
                                             reason=f"{label}: file already listed as call {listed[key].external_id!r}"))
            continue
        if not candidate.exists():
            scan.rejections.append(Rejection(file=file_cell, external_id=external_id,
                                             reason=f"{label}: listed in calls.csv but not in the inbox"))
            first_line[external_id] = line_no
            continue
        try:
            layout, agent_channel = parse_layout(row.get("layout", ""))
            started_at = parse_started_at(row.get("started_at", ""))
        except ValueError as exc:
            scan.rejections.append(Rejection(file=file_cell, external_id=external_id, reason=f"{label}: {exc}"))
            first_line[external_id] = line_no
            excluded.add(key)
            continue
        first_line[external_id] = line_no
        listed[key] = CallMeta(external_id=external_id, path=candidate, agent_id=row.get("agent_id") or None,
                               queue=row.get("queue") or None, started_at=started_at, layout=layout,
                               agent_channel=agent_channel)
    return listed, excluded


def call_date(meta: CallMeta) -> date | None:
    """The UTC date a call took place: ``started_at`` from calls.csv (naive times are taken as UTC),
    else the file's modification time; None when neither is known (the file cannot be stat'ed)."""
    if meta.started_at is not None:
        started = meta.started_at if meta.started_at.tzinfo else meta.started_at.replace(tzinfo=UTC)
        return started.astimezone(UTC).date()
    try:
        return datetime.fromtimestamp(meta.path.stat().st_mtime, UTC).date()
    except OSError:
        return None


def in_date_range(scan: InboxScan, start: date | None, end: date | None) -> InboxScan:
    """The calls whose :func:`call_date` lies in ``[start, end]`` (inclusive; None: open-ended). The
    sidecar's rejections are kept: they say why some rows are not calls at all."""
    if start is None and end is None:
        return scan
    if start is not None and end is not None and start > end:
        raise ValueError(f"date range is empty: {start} is after {end}")

    def keep(meta: CallMeta) -> bool:
        day = call_date(meta)
        return day is not None and (start is None or day >= start) and (end is None or day <= end)

    return InboxScan(calls=[m for m in scan.calls if keep(m)], rejections=list(scan.rejections))
