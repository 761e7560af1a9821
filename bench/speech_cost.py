"""What the per-turn speech features cost: the front end with and without them, side by side.

    python -m bench.speech_cost [--calls 4] [--seed 7] [--data DIR]

Synthetic mono and stereo calls go through :func:`qc.pipeline.analyze_call` twice each, with
``speech_features`` off and on, alternating call by call in one process (after a warm-up call), so both
see the same machine. Prints seconds per call for each layout and the ratio (on / off); the Whisper
encoder states come from transcription's own pass, so the difference is the capture, eGeMAPS and MFCC.
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


if __name__ == "__main__":
    main()
