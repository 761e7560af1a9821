"""Before/after, in one run: the stereo diarizer's VAD hearing all of each channel, one channel after
the other, or skipping the stretches where a channel stays at its noise floor (``qc.vad.quiet_runs``),
and with the two channels' VAD at once.

    python -m bench.stereo_vad [--calls 11] [--minutes 30] [--seed 2026] [--corpus DIR] [--repeat 2]

In the stage table of ``callqc bench`` the stereo diarization was the largest stage after
transcription, and pyinstrument put 96% of it in the Silero VAD's ONNX session (both channels of every
call, start to end). A stereo channel sits at its noise floor through most of the other party's turns;
``qc.diarize.channels.diarize_channels`` now leaves those stretches (a second or more, 0.32 s away from
any sound) out of the VAD, and runs the two channels' VAD at once (the ONNX session is single-threaded
and the nightly run does one call at a time: the second core sat idle). Each call is diarized every
way, the order rotating; prints the time of each, the share of frames skipped, and every call whose
turns differ from the first way's.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import add_stereo_corpus_args, stereo_inbox  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from qc.audio import load_recording
    from qc.diarize.channels import diarize_channels
    from qc.records import CallMeta
    from qc.vad import frame_energy_db, quiet_runs

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stereo_corpus_args(ap)
    ap.add_argument("--repeat", type=int, default=2, help="Times each call is diarized each way.")
    args = ap.parse_args(argv)

    cfg = Settings()
    inbox = stereo_inbox(args)
    files = sorted((inbox / "audio").glob("*.wav"))[: args.calls]
    recs = [load_recording(CallMeta(external_id=p.stem, path=p), cfg, call_id=p.stem) for p in files]
    try:
        diarize_channels(recs[0], cfg)  # warm-up: the VAD session
        ways = {"VAD hears everything, one channel after the other (before)":
                dict(skip_quiet=False, parallel=False),
                "quiet stretches skipped": dict(skip_quiet=True, parallel=False),
                "quiet stretches skipped, both channels at once": dict(skip_quiet=True, parallel=True)}
        names = list(ways)
        seconds = dict.fromkeys(names, 0.0)
        turns: dict[str, list] = {n: [] for n in names}
        skipped = []
        for k, rec in enumerate(recs):
            skipped += [float(quiet_runs(frame_energy_db(rec, c)).mean()) for c in (0, 1)]
            for rep in range(args.repeat):
                shift = (k + rep) % len(names)
                for name in names[shift:] + names[:shift]:
                    t0 = time.perf_counter()
                    d = diarize_channels(rec, cfg, **ways[name])
                    seconds[name] += time.perf_counter() - t0
                    if rep == 0:
                        turns[name].append([(t.start, t.end, t.channel) for t in d.turns])
        audio = sum(r.duration for r in recs)
        print(f"{len(recs)} stereo calls, {audio / 60:.1f} min, each diarized {args.repeat}x every way; "
              f"{np.mean(skipped):.0%} of channel frames are quiet stretches")
        for name in names:
            print(f"  {name:<62} {seconds[name]:6.2f} s  {seconds[names[0]] / seconds[name]:.2f}x")
        for name in names[1:]:
            changed = 0
            for rec, a, b in zip(recs, turns[names[0]], turns[name]):
                if a != b:
                    changed += 1
                    talk = [sum(e - s for s, e, c in t if c == ch) for t in (a, b) for ch in (0, 1)]
                    print(f"  {name}: {rec.call_id}: turns differ; talk time per channel "
                          f"{talk[0]:.2f}/{talk[1]:.2f} s -> {talk[2]:.2f}/{talk[3]:.2f} s")
            print(f"  {name}: calls with the same turns as before: {len(recs) - changed}/{len(recs)}")
    finally:
        for rec in recs:
            rec.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
