"""Profile one pipeline stage with pyinstrument on cached bench calls.

    python -m bench.profile_stage [--stage transcribe|diarize] [--calls 3] [--layout stereo]
                                  [--html out.html]

Decodes and diarizes the calls first (not profiled unless ``--stage diarize``), then profiles the stage
over all of them and prints pyinstrument's call tree (time per function, slowest first). Used to find
what to speed up; the speed-up itself is measured by ``bench.suite`` / ``bench.frontend``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import DEFAULT_CACHE  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from pyinstrument import Profiler

    from bench._corpus import corpus
    from qc.assets import load_whisper
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.records import CallMeta
    from qc.transcribe import transcribe

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", choices=("transcribe", "diarize"), default="transcribe")
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--layout", choices=("mono", "stereo"), default="stereo")
    ap.add_argument("--minutes", type=float, default=30.0, help="Which bench corpus (callqc bench --minutes).")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--html", type=Path)
    args = ap.parse_args(argv)

    cfg = Settings()
    inbox = corpus(DEFAULT_CACHE, args.minutes, args.seed)[args.layout]
    files = sorted((inbox / "audio").glob("*.wav"))[: args.calls]
    model = load_whisper(cfg)
    recs = [load_recording(CallMeta(external_id=p.stem, path=p), cfg, call_id=p.stem) for p in files]
    turns = [diarize(r, cfg).turns for r in recs]  # also warms the VAD
    transcribe(recs[0], turns[0][:2], cfg, model)  # warm-up
    profiler = Profiler(interval=0.002)
    profiler.start()
    for rec, ts in zip(recs, turns):
        if args.stage == "transcribe":
            transcribe(rec, ts, cfg, model)
        else:
            diarize(rec, cfg)
    profiler.stop()
    for rec in recs:
        rec.close()
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
