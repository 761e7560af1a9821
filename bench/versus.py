"""The whole nightly run at this checkout against another commit, side by side in one run.

    python -m bench.versus --base COMMIT [--calls 4] [--seed 7] [--runs 2]

The base commit is checked out in a temporary git worktree and run with this environment's packages.
Synthetic stereo and mono inboxes of the same calls go through ``callqc run`` into a fresh data
directory each time, base and head alternating (base first in even runs), ``--runs`` times each.
Printed per layout: mean wall seconds of each and the ratio head / base (the cost of what changed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]


def run(checkout: Path, inbox: Path, data: Path) -> float:
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {**os.environ, "QC_DATA_DIR": str(data / "data"), "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(inbox)], cwd=checkout, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"callqc run failed in {checkout}:\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args(argv)

    from qc.synth import generate_corpus

    work = Path(tempfile.mkdtemp(prefix="bench-versus-"))
    base = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                   capture_output=True)
    try:
        print(f"base {args.base} against head {subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}"
              f" (uncommitted changes count as head); {args.calls} calls per layout, {args.runs} runs each")
        print(f"{'layout':<8} {'base s':>8} {'head s':>8} {'head/base':>10}")
        for layout in ("stereo", "mono"):
            inbox = work / f"inbox-{layout}"
            generate_corpus(inbox, calls=args.calls, seed=args.seed, layout=layout)
            wall = {"base": [], "head": []}
            for k in range(args.runs):
                for name in (("base", "head") if k % 2 == 0 else ("head", "base")):
                    checkout = base if name == "base" else ROOT
                    wall[name].append(run(checkout, inbox, work / f"data-{layout}-{name}-{k}"))
            a, b = sum(wall["base"]) / args.runs, sum(wall["head"]) / args.runs
            print(f"{layout:<8} {a:>8.1f} {b:>8.1f} {b / a:>10.3f}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
