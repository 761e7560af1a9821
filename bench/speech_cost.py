"""What the per-turn speech features cost: the front end with and without them, side by side.

    python -m bench.speech_cost [--calls 4] [--seed 7] [--data DIR] [--nightly N]

Synthetic mono and stereo calls go through :func:`qc.pipeline.analyze_call` twice each, with
``speech_features`` off and on, alternating call by call in one process (after a warm-up call), so both
see the same machine. Prints seconds per call for each layout and the ratio (on / off); the Whisper
encoder states come from transcription's own pass, so the difference is the capture, eGeMAPS and MFCC.

``--nightly N``: then the whole nightly run (``callqc run`` on an inbox of the same calls, into a fresh
data directory each time: decoding, the front end, spectrograms, storage, orchestration), with the
features off and on, alternating, N times each; prints each layout's mean wall seconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qc  # noqa: E402,F401  (telemetry off first)


def main(argv: list[str] | None = None) -> None:
    from qc.config import Settings
    from qc.inbox import scan_inbox
    from qc.pipeline import analyze_call
    from qc.synth import generate_corpus

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=4, help="Calls per layout.")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=Path("/tmp/callqc-speech-cost"))
    ap.add_argument("--nightly", type=int, default=0, help="Whole nightly runs per setting and layout.")
    args = ap.parse_args(argv)
    rows = []
    for layout in ("stereo", "mono"):
        corpus = args.data / f"{layout}-{args.calls}-{args.seed}"
        if not (corpus / "calls.csv").exists():
            generate_corpus(corpus, calls=args.calls, seed=args.seed, layout=layout)
        metas = scan_inbox(corpus).calls
        off = Settings(data_dir=args.data / "data", speech_features=False)
        on = Settings(data_dir=args.data / "data", speech_features=True)
        analyze_call(metas[0], on)  # warm-up: models and compiled code loaded
        seconds = {"off": 0.0, "on": 0.0}
        stage = 0.0
        for meta in metas:
            for name, cfg in (("off", off), ("on", on)):
                t0 = time.perf_counter()
                result = analyze_call(meta, cfg)
                seconds[name] += time.perf_counter() - t0
                stage += result.timings.get("speech_features", 0.0)
        n = len(metas)
        rows.append((layout, n, seconds["off"] / n, seconds["on"] / n, stage / n))
    print(f"{'layout':<8} {'calls':>5} {'off s/call':>11} {'on s/call':>10} {'stage s':>8} {'on/off':>7}")
    for layout, n, a, b, s in rows:
        print(f"{layout:<8} {n:>5} {a:>11.2f} {b:>10.2f} {s:>8.2f} {b / a:>7.3f}")
    if args.nightly:
        print()
        print(f"{'whole nightly run':<18} {'calls':>5} {'off s':>7} {'on s':>7} {'on/off':>7}")
        for layout in ("stereo", "mono"):
            corpus = args.data / f"{layout}-{args.calls}-{args.seed}"
            wall = {"off": [], "on": []}
            for k in range(args.nightly):
                for name in (("off", "on") if k % 2 == 0 else ("on", "off")):
                    wall[name].append(nightly(corpus, args.data / "nightly" / f"{layout}-{name}-{k}", name == "on"))
            a, b = sum(wall["off"]) / args.nightly, sum(wall["on"]) / args.nightly
            print(f"{layout:<18} {args.calls:>5} {a:>7.1f} {b:>7.1f} {b / a:>7.3f}")


def nightly(corpus: Path, data: Path, speech: bool) -> float:
    """Wall seconds of ``callqc run`` over ``corpus`` into the fresh data directory ``data``."""
    import shutil
    import subprocess
    import sys

    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    inbox = data / "inbox"
    shutil.copytree(corpus, inbox)
    env = {**os.environ, "QC_DATA_DIR": str(data / "data"), "QC_SPEECH_FEATURES": str(speech).lower()}
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("callqc")), "run", str(inbox)], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
