"""Before/after, in one run: lone Whisper windows decoded the sequential way or batched.

    python -m bench.batch_lone_windows [--layout stereo|mono|both] [--calls 11]

The profile of the transcription stage (``python -m bench.profile_stage``) showed 38% of its time in
``_one_window``: a channel or batch with a single window of speech is decoded by
``WhisperModel.transcribe`` (timestamp tokens, temperature fallback, seeking on inside the window)
instead of the batched pipeline. ``qc.transcribe.BATCH_MIN_CLIPS`` 2 (the default: lone windows
sequential) against 1 (everything batched): each call is transcribed both ways, alternating which goes
first, on the same turns and model, with the WER of both against the generator's references and the
time ratio. Measured 2026-11-21: stereo 1.10x faster batched, mono no change, same WER on these
corpora; rejected all the same, as a lone window decoded batched can stop early and drop its last
words (see the comment at ``BATCH_MIN_CLIPS``).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import DEFAULT_CACHE  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import json

    import qc.transcribe as T
    from bench.suite import corpus
    from qc.assets import load_whisper
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.evaluate import hypothesis_text, transcript_text, wer_report
    from qc.records import CallMeta

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", choices=("mono", "stereo", "both"), default="both")
    ap.add_argument("--calls", type=int, default=11)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)

    cfg = Settings()
    model = load_whisper(cfg)
    inboxes = corpus(DEFAULT_CACHE, args.minutes, args.seed)
    layouts = ("mono", "stereo") if args.layout == "both" else (args.layout,)
    variants = {"lone windows sequential (default)": 2, "all batched (rejected)": 1}
    for layout in layouts:
        seconds = {v: 0.0 for v in variants}
        pairs: dict[str, list] = {v: [] for v in variants}
        audio = 0.0
        files = sorted((inboxes[layout] / "audio").glob("*.wav"))[: args.calls]
        for k, path in enumerate(files):
            rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
            turns = diarize(rec, cfg).turns
            if k == 0:
                T.transcribe(rec, turns[:2], cfg, model)  # warm-up
            truth = json.loads((inboxes[layout] / "transcripts" / f"{path.stem}.json").read_text())
            order = list(variants) if k % 2 == 0 else list(reversed(variants))
            for v in order:
                T.BATCH_MIN_CLIPS = variants[v]
                t0 = time.perf_counter()
                words = T.transcribe(rec, turns, cfg, model)
                seconds[v] += time.perf_counter() - t0
                pairs[v].append((path.stem, transcript_text(truth), hypothesis_text(turns, words)))
            audio += rec.duration
            rec.close()
        T.BATCH_MIN_CLIPS = 2
        before, after = (seconds[v] for v in variants)
        print(f"\n{layout}: {len(files)} calls, {audio / 60:.1f} audio min")
        for v in variants:
            print(f"  {v:34s} {seconds[v]:7.2f} s  RTF {seconds[v] / audio:.4f}  WER {wer_report(pairs[v]).wer:.4f}")
        print(f"  all batched / sequential lone windows, time: {after / before:.3f} (speed-up {before / after:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
