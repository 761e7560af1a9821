"""Scale-out: the same synthetic batch through ``nightly_qc`` with 1 and with 2 workers.

    python -m bench.scale [--minutes 30] [--workers 1 2] [--runner dask|threads] [--seed 11]

The batch is synthetic stereo calls (flite TTS, ~75-90 s each) adding up to about ``--minutes`` of
audio (default 30 minutes, ~22 calls), generated once and cached under ``QC_BENCH_CACHE``. Each worker
count runs the whole flow (inbox scan, hashing, per-call analysis on the task runner, SQLite + Parquet,
compaction) into a fresh data directory, with the CPU threads of ASR and torch split between the
workers so that two workers do not oversubscribe the cores. Printed per run: wall time, audio hours
processed per wall hour, and the speed-up over the first (smallest) worker count. Warm-up (model
loading) is part of the wall time, as it is in a nightly run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import DEFAULT_CACHE  # noqa: E402
from qc.config import Settings  # noqa: E402

MEAN_CALL_SECONDS = 82.0  # flite stereo calls of the synthetic generator, measured


def batch(cache: Path, minutes: float, seed: int) -> tuple[Path, float]:
    """The cached synthetic inbox for about ``minutes`` of audio, and its exact audio seconds."""
    import soundfile as sf

    from qc.synth import generate_corpus

    calls = max(1, round(minutes * 60 / MEAN_CALL_SECONDS))
    inbox = cache / f"scale-seed{seed}-n{calls}"
    if not (inbox / ".generated").exists():
        t0 = time.perf_counter()
        generate_corpus(inbox, calls=calls, seed=seed, layout="stereo")
        (inbox / ".generated").write_text("ok\n")
        print(f"generated {calls} calls in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    seconds = sum(sf.info(str(p)).duration for p in sorted((inbox / "audio").glob("*.wav")))
    return inbox, seconds


def run_once(inbox: Path, workers: int, runner: str, root: Path) -> dict[str, float]:
    from flows.nightly import run_nightly

    threads = max(1, (os.cpu_count() or 1) // workers)
    cfg = Settings(data_dir=root / f"w{workers}", task_runner=runner, max_workers=workers,
                   asr_cpu_threads=threads, torch_threads=threads)
    t0 = time.perf_counter()
    summary = run_nightly(inbox, cfg)
    wall = time.perf_counter() - t0
    if summary.count("processed") != len(summary.outcomes):
        raise RuntimeError(f"{workers} workers: not every call was processed: {summary.outcomes}")
    return {"workers": workers, "calls": summary.count("processed"), "audio_s": summary.audio_seconds,
            "wall_s": wall, "audio_h_per_h": summary.audio_seconds / wall, "threads_per_worker": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="Audio in the batch (default 30).")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Worker counts to run (default 1 2).")
    ap.add_argument("--runner", choices=("dask", "threads"), default="dask", help="Task runner (default dask).")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args(argv)

    inbox, audio_s = batch(args.cache, args.minutes, args.seed)
    root = Path(tempfile.mkdtemp(prefix="callqc-scale-"))
    rows = []
    try:
        for workers in args.workers:
            rows.append(run_once(inbox, workers, args.runner, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0]["wall_s"]
    print(f"\nbatch: {rows[0]['calls']} calls, {audio_s / 60:.1f} audio minutes; runner {args.runner}; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'workers':>7}  {'threads/worker':>14}  {'wall s':>8}  {'audio h/h':>9}  {'speed-up':>8}")
    for r in rows:
        print(f"{r['workers']:>7}  {r['threads_per_worker']:>14}  {r['wall_s']:>8.1f}  {r['audio_h_per_h']:>9.1f}  "
              f"{base / r['wall_s']:>7.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
