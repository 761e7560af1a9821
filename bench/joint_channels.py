"""Before/after, in one run: a stereo call's channels transcribed one after the other, or their Whisper
windows batched together.

    python -m bench.joint_channels [--calls 11] [--minutes 30] [--seed 2026] [--corpus DIR]

The profile of the transcription stage (``python -m bench.profile_stage``) put 40% of its time in
``_one_window``: in most stereo calls one party (usually the customer) has under ``CHUNK_SECONDS`` of
speech, a single Whisper window, and a lone window is decoded the sequential way (beam search with
timestamp tokens and temperature fallback, see ``qc.transcribe.BATCH_MIN_CLIPS``). Since
``qc.transcribe.transcribe_channels`` the windows of both channels (each still one channel's audio) go
through the batched pipeline together. Each call is transcribed both ways, alternating which goes
first, on the same turns and model; prints the time ratio and the WER of both against the generator's
references.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import DEFAULT_CACHE  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import qc.transcribe as T
    from bench.suite import corpus
    from qc.assets import load_whisper
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.evaluate import hypothesis_text, transcript_text, wer_report
    from qc.records import CallMeta

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=11)
    ap.add_argument("--minutes", type=float, default=30.0, help="Which bench corpus (callqc bench --minutes).")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--corpus", type=Path, help="A stereo corpus from `callqc synth` instead of the bench's.")
    args = ap.parse_args(argv)

    cfg = Settings()
    model = load_whisper(cfg)
    inbox = args.corpus or corpus(DEFAULT_CACHE, args.minutes, args.seed)["stereo"]
    joint = T.transcribe_channels

    def one_at_a_time(rec, regions, cfg, model=None):
        return {c: joint(rec, {c: spans}, cfg, model)[c] for c, spans in regions.items()}

    variants = {"channels one after the other (before)": one_at_a_time, "channels batched together": joint}
    seconds = {v: 0.0 for v in variants}
    pairs: dict[str, list] = {v: [] for v in variants}
    audio = 0.0
    files = sorted((inbox / "audio").glob("*.wav"))[: args.calls]
    try:
        for k, path in enumerate(files):
            rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
            turns = diarize(rec, cfg).turns
            if k == 0:
                T.transcribe(rec, turns[:2], cfg, model)  # warm-up
            truth = json.loads((inbox / "transcripts" / f"{path.stem}.json").read_text())
            for v in (list(variants) if k % 2 == 0 else list(reversed(variants))):
                T.transcribe_channels = variants[v]
                t0 = time.perf_counter()
                words = T.transcribe(rec, turns, cfg, model)
                seconds[v] += time.perf_counter() - t0
                pairs[v].append((path.stem, transcript_text(truth), hypothesis_text(turns, words)))
            audio += rec.duration
            rec.close()
    finally:
        T.transcribe_channels = joint
    before, after = (seconds[v] for v in variants)
    print(f"stereo: {len(files)} calls, {audio / 60:.1f} audio min ({inbox})")
    for v in variants:
        print(f"  {v:40s} {seconds[v]:7.2f} s  RTF {seconds[v] / audio:.4f}  WER {wer_report(pairs[v]).wer:.4f}")
    print(f"  batched together / one after the other, time: {after / before:.3f} (speed-up {before / after:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
