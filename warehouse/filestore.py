"""Crash-safe multi-file changes to a directory tree: the machinery under :mod:`warehouse.parquet`.

A :class:`Transaction` writes every new file under a hidden temporary name next to its final name
(``.<name>.<tx>.tmp``), recording each temporary in an *intent* file first. :meth:`Transaction.commit`
then writes a *commit* record (atomically, by rename): from that point the change is decided, and the
temporaries are renamed over their final names and superseded files deleted. :func:`recover` finishes
committed changes and deletes the temporaries of uncommitted ones, so a process killed at any point
leaves either the old or the new state once the next writer or reader has looked. Writers serialise on
an ``flock`` (released by the kernel when its holder dies); readers take it shared.

Bookkeeping lives under ``<root>/_callqc/``: ``lock``, ``journal/`` and ``index/`` (:class:`CallIndex`,
call id -> the relative file holding its rows).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

META_DIR = "_callqc"


def _publish(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock(root: Path, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
    """flock on ``<root>/_callqc/lock``; yields False when non-blocking and busy. The kernel drops the
    lock when its holder dies, so a killed writer never leaves the store locked."""
    meta = root / META_DIR
    try:
        meta.mkdir(parents=True, exist_ok=True)
        fd = os.open(meta / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exclusive or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        yield True  # a read-only copy of the store: nobody can be writing it
        return
    try:
        flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


class Transaction:
    """One atomic change to the store: temporaries, then a commit record, then renames and deletes."""

    def __init__(self, root: Path, durable: bool):
        self.root = root
        self.durable = durable
        self.txid = uuid.uuid4().hex[:12]
        self.journal = root / META_DIR / "journal"
        self.journal.mkdir(parents=True, exist_ok=True)
        self._intent = open(self.journal / f"{self.txid}.intent", "a", encoding="utf-8")  # noqa: SIM115
        self.replace: list[tuple[str, str]] = []
        self.delete: list[str] = []

    def _temp_for(self, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{self.txid}.tmp")
        # Recorded before it exists, so a crash at any point leaves nothing the next writer cannot find.
        self._intent.write(str(tmp.relative_to(self.root)) + "\n")
        self._intent.flush()
        return tmp

    def _done(self, tmp: Path, final: Path) -> None:
        if self.durable:
            _fsync_path(tmp)
        self.replace.append((str(tmp.relative_to(self.root)), str(final.relative_to(self.root))))

    def write(self, final: Path, write: Callable[[Path], None]) -> None:
        """Stage ``final``: ``write(path)`` writes its content to the temporary ``path``."""
        tmp = self._temp_for(final)
        write(tmp)
        self._done(tmp, final)

    def write_json(self, final: Path, obj: Any) -> None:
        tmp = self._temp_for(final)
        tmp.write_text(json.dumps(obj, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        self._done(tmp, final)

    def remove(self, final: Path) -> None:
        self.delete.append(str(final.relative_to(self.root)))

    def commit(self) -> None:
        record = {"replace": self.replace, "delete": self.delete}
        tmp = self.journal / f"{self.txid}.commit.tmp"
        tmp.write_text(json.dumps(record), encoding="utf-8")
        if self.durable:
            _fsync_path(tmp)
        os.replace(tmp, self.journal / f"{self.txid}.commit")  # the commit point
        if self.durable:
            _fsync_path(self.journal, directory=True)
        _roll_forward(self.root, self.txid, record, self.durable)
        self._intent.close()
        (self.journal / f"{self.txid}.intent").unlink(missing_ok=True)

    def abort(self) -> None:
        self._intent.close()
        _roll_back(self.root, self.txid)


def _roll_forward(root: Path, txid: str, record: dict[str, Any], durable: bool) -> None:
    dirs: set[Path] = set()
    for tmp_rel, final_rel in record["replace"]:
        tmp, final = root / tmp_rel, root / final_rel
        if tmp.exists():  # else: published before the crash
            _publish(tmp, final)
        dirs.add(final.parent)
    for rel in record["delete"]:
        path = root / rel
        path.unlink(missing_ok=True)
        dirs.add(path.parent)
    if durable:
        for d in dirs:
            if d.exists():
                _fsync_path(d, directory=True)
    for d in dirs:  # drop hive partitions (key=value directories) left empty
        if "=" in d.name:
            with contextlib.suppress(OSError):
                d.rmdir()
    (root / META_DIR / "journal" / f"{txid}.commit").unlink(missing_ok=True)


def _roll_back(root: Path, txid: str) -> None:
    intent = root / META_DIR / "journal" / f"{txid}.intent"
    if intent.exists():
        for line in intent.read_text(encoding="utf-8").splitlines():
            if line.strip():
                (root / line.strip()).unlink(missing_ok=True)
    (root / META_DIR / "journal" / f"{txid}.commit.tmp").unlink(missing_ok=True)
    intent.unlink(missing_ok=True)


def recover_locked(root: Path) -> int:
    journal = root / META_DIR / "journal"
    if not journal.is_dir():
        return 0
    names = os.listdir(journal)
    if not names:
        return 0
    done = 0
    for name in sorted(n for n in names if n.endswith(".commit")):
        txid = name.removesuffix(".commit")
        record = json.loads((journal / name).read_text(encoding="utf-8"))
        _roll_forward(root, txid, record, durable=False)
        (journal / f"{txid}.intent").unlink(missing_ok=True)
        done += 1
    for name in os.listdir(journal):
        if name.endswith(".intent"):
            _roll_back(root, name.removesuffix(".intent"))
            done += 1
        elif name.endswith(".commit.tmp"):
            (journal / name).unlink(missing_ok=True)
    return done


def recover(root: Path | str, *, blocking: bool = True) -> int:
    """Finish or undo what a killed writer left: committed writes are rolled forward, uncommitted
    temporaries deleted. Returns the number of writes it dealt with (0 when another writer holds the
    store and ``blocking`` is False). Writers and :func:`read_table` call it; it is cheap when idle."""
    root = Path(root)
    journal = root / META_DIR / "journal"
    if not journal.is_dir() or not any(journal.iterdir()):
        return 0
    with lock(root, exclusive=True, blocking=blocking) as got:
        return recover_locked(root) if got else 0


def bucket_of(call_id: str) -> str:
    key = call_id[:2].lower()
    if len(key) == 2 and all(c in "0123456789abcdef" for c in key):
        return key
    return hashlib.sha256(call_id.encode()).hexdigest()[:2]


class CallIndex:
    def __init__(self, root: Path):
        self.dir = root / META_DIR / "index"
        self._buckets: dict[str, dict[str, str]] = {}
        self.dirty: set[str] = set()

    def _load(self, bucket: str) -> dict[str, str]:
        if bucket not in self._buckets:
            path = self.dir / f"{bucket}.json"
            self._buckets[bucket] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return self._buckets[bucket]

    def get(self, call_id: str) -> str | None:
        return self._load(bucket_of(call_id)).get(call_id)

    def set(self, call_id: str, relpath: str | None) -> None:
        bucket = bucket_of(call_id)
        entries = self._load(bucket)
        if relpath is None:
            entries.pop(call_id, None)
        else:
            entries[call_id] = relpath
        self.dirty.add(bucket)

    def stage(self, tx: Transaction) -> None:
        for bucket in sorted(self.dirty):
            tx.write_json(self.dir / f"{bucket}.json", self._buckets[bucket])
