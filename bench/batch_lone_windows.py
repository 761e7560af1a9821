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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import DEFAULT_CACHE  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import qc.transcribe as T
    from bench._ab import transcribe_both_ways
    from bench.suite import corpus
    from qc.assets import load_whisper

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

    def use(n):
        return lambda: setattr(T, "BATCH_MIN_CLIPS", n)

    try:
        for layout in layouts:
            transcribe_both_ways(inboxes[layout], args.calls, cfg, model, {
                "lone windows sequential (default)": use(2), "all batched (rejected)": use(1)}, layout)
    finally:
        T.BATCH_MIN_CLIPS = 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
