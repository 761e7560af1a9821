"""How close the stereo diarizer's turns come to the generator's truth: conversation metrics per call
and every turn's start and end error.

    python -m bench.turn_edges [--seed 2468] [--calls 24] [--out DIR] [--show-turns 0.06]

Generates a stereo corpus (seed 2468 was the tuning seed of ``qc.diarize.channels.refine_edges``; the
QA target tests use 97531), diarizes each call with the ``channels`` backend, gives each channel its
true role and prints, for talk time per role, the longest silence and overtalk, how many calls come
within 0.3 s of the truth (``qc.conversation`` on the generator's own turns, whose edges are where each
voice stands above the line noise: ``qc.synth.render.audible_span``), and the distribution of
turn-boundary errors (each truth turn against the nearest hypothesis edge on its channel).
``--show-turns S`` also lists, per call, the metric errors and every truth turn whose start or end is
off by more than S seconds (with the hypothesis turns around it and the turn's text).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import numpy as np  # noqa: E402

import qc  # noqa: E402,F401

METRICS = ("talk_time_agent", "talk_time_customer", "silence_longest", "overtalk_time")
TOLERANCE = 0.3


def truth_metrics(truth: dict) -> dict:
    from qc.conversation import measure
    from qc.records import Turn

    turns = [Turn(truth["call_id"], t["start"], t["end"], t["channel"], t["speaker"], t["role"], t["text"])
             for t in truth["turns"]]
    return dataclasses.asdict(measure(truth["call_id"], truth["duration"], turns, []))


def main(argv: list[str] | None = None) -> int:
    from qc.audio import load_recording
    from qc.config import Settings
    from qc.conversation import measure
    from qc.diarize import diarize
    from qc.records import CallMeta
    from qc.synth import generate_corpus

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2468)
    ap.add_argument("--calls", type=int, default=24)
    ap.add_argument("--out", type=Path, help="corpus directory (default: a temporary one)")
    ap.add_argument("--show-turns", type=float, metavar="S", help="list turns with an edge off by more than S s")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "corpus"
        if not (out / "audio").exists():
            generate_corpus(out, calls=args.calls, seed=args.seed, layout="stereo")
        cfg = Settings(data_dir=Path(tmp) / "data")
        errors: dict[str, list[float]] = {k: [] for k in METRICS}
        starts, ends = [], []
        for path in sorted((out / "audio").glob("*.wav")):
            truth = json.loads((out / "transcripts" / f"{path.stem}.json").read_text())
            rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
            try:
                turns = diarize(rec, cfg, backend="channels").turns
            finally:
                rec.close()
            role = {t["channel"]: t["role"] for t in truth["turns"]}
            turns = [dataclasses.replace(t, role=role.get(t.channel, "unknown")) for t in turns]
            ours, true = dataclasses.asdict(measure(path.stem, truth["duration"], turns, [])), truth_metrics(truth)
            for k in METRICS:
                errors[k].append(ours[k] - true[k])
            if args.show_turns is not None:
                print(path.stem, "  ".join(f"{k} {ours[k] - true[k]:+.2f}" for k in METRICS))
            for t in truth["turns"]:
                own = [h for h in turns if h.channel == t["channel"]]
                if own:
                    starts.append(min((h.start - t["start"] for h in own), key=abs))
                    ends.append(min((h.end - t["end"] for h in own), key=abs))
                    if args.show_turns is not None and max(abs(starts[-1]), abs(ends[-1])) > args.show_turns:
                        near = [(h.start, h.end) for h in own if h.end > t["start"] - 0.3 and h.start < t["end"] + 0.3]
                        print(f"    {t['role']:8s} {t['start']:7.2f}-{t['end']:7.2f}  start {starts[-1]:+.3f}  "
                              f"end {ends[-1]:+.3f}  hyp {near}  {t['text'][:50]!r}")
    print(f"{len(errors[METRICS[0]])} stereo calls, seed {args.seed}")
    for k, v in errors.items():
        e = np.abs(v)
        print(f"  {k:20s} within {TOLERANCE} s: {int((e <= TOLERANCE).sum())}/{len(e)}  median |error| "
              f"{np.median(e):.3f} s  max {e.max():.3f} s")
    for name, v in (("turn starts", starts), ("turn ends", ends)):
        v = np.array(v)
        v = v[np.abs(v) < 1.5]  # a turn the hypothesis split or merged differently is not an edge error
        print(f"  {name:12s} error p10 {np.percentile(v, 10):+.3f} s  median {np.median(v):+.3f} s  "
              f"p90 {np.percentile(v, 90):+.3f} s  ({len(v)} edges)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
