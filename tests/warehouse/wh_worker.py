"""A second process for the warehouse tests: concurrent writers and writers killed mid-write.

    write URL PARQUET_ROOT SYNC_DIR NAME SEED...    wait for SYNC_DIR/go, then store the calls
    crash-sql URL SYNC_DIR SEED [SUFFIX]             store one call; stop inside its transaction, after
                                                     the turns and words are in, at the scores upsert
    crash-parquet ROOT SYNC_DIR PHASE SEED...        write a batch; stop after the 3rd temp file
                                                     (PHASE temp) or the 1st rename (PHASE publish)

"Stop" means: create SYNC_DIR/inside and sleep, so the test can SIGKILL us there.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from warehouse import Warehouse, filestore, parquet
from warehouse.testing import dummy_call_result


def _park(sync: Path) -> None:
    (sync / "inside").touch()
    time.sleep(600)


def write(url: str, root: str, sync: Path, name: str, seeds: list[str]) -> None:
    (sync / f"ready-{name}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)
    wh = Warehouse.from_url(url)  # may be the first open of a fresh database, racing the other writer
    run_id = wh.start_run({"worker": name}, "test")
    for seed in seeds:
        result = dummy_call_result(seed, n_words=100)
        if root != "-":
            parquet.write_call(result, root)
        wh.save_call(result, run_id)
    wh.finish_run(run_id, len(seeds), 0, 0, 0.0, 0.0, None, 0)
    wh.close()
    print(f"{name}: wrote {len(seeds)} calls")


def crash_sql(url: str, sync: Path, seed: str, suffix: str) -> None:
    import sqlalchemy as sa

    wh = Warehouse.from_url(url)
    run_id = wh.start_run({"worker": "crash"}, "test")

    @sa.event.listens_for(wh.engine, "before_cursor_execute")
    def _stop(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO SCORES"):
            _park(sync)

    wh.save_call(dummy_call_result(seed, text_suffix=suffix), run_id)
    raise SystemExit("not stopped: the scores INSERT was never reached")


def crash_parquet(root: str, sync: Path, phase: str, seeds: list[str]) -> None:
    import dataclasses
    from datetime import UTC, datetime

    count = {"n": 0}
    if phase == "temp":
        original = parquet._write_parquet

        def _write(table, path):  # type: ignore[no-untyped-def]
            count["n"] += 1
            if count["n"] == 3:
                path.write_bytes(b"PAR1 half a file")  # a torn temporary, as a crash would leave it
                _park(sync)
            original(table, path)

        parquet._write_parquet = _write
    else:
        original_publish = filestore._publish

        def _publish(tmp, final):  # type: ignore[no-untyped-def]
            original_publish(tmp, final)
            count["n"] += 1
            if count["n"] == 1:
                _park(sync)

        filestore._publish = _publish
    results = [dummy_call_result(s, n_words=50) for s in seeds]
    # the first call moves to another day: its old copy must go in the same atomic write
    first = results[0]
    results[0] = dataclasses.replace(
        first, call=dataclasses.replace(first.call, started_at=datetime(2024, 8, 1, tzinfo=UTC))
    )
    parquet.write_calls(results, root)
    raise SystemExit("not stopped")


def main(argv: list[str]) -> None:
    cmd, *rest = argv
    if cmd == "write":
        url, root, sync, name, *seeds = rest
        write(url, root, Path(sync), name, seeds)
    elif cmd == "crash-sql":
        url, sync, seed, *suffix = rest
        crash_sql(url, Path(sync), seed, suffix[0] if suffix else "")
    elif cmd == "crash-parquet":
        root, sync, phase, *seeds = rest
        crash_parquet(root, Path(sync), phase, seeds)
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
