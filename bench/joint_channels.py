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
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from bench._corpus import add_stereo_corpus_args, stereo_inbox  # noqa: E402
from qc.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import qc.transcribe as T
    from bench._ab import transcribe_both_ways
    from qc.assets import load_whisper

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stereo_corpus_args(ap)
    args = ap.parse_args(argv)

    cfg = Settings()
    model = load_whisper(cfg)
    inbox = stereo_inbox(args)
    joint = T.transcribe_channels

    def one_at_a_time(rec, regions, cfg, model=None):
        return {c: joint(rec, {c: spans}, cfg, model)[c] for c, spans in regions.items()}

    def use(way):
        return lambda: setattr(T, "transcribe_channels", way)

    try:
        transcribe_both_ways(inbox, args.calls, cfg, model, {
            "channels one after the other (before)": use(one_at_a_time),
            "channels batched together": use(joint)}, "stereo")
    finally:
        T.transcribe_channels = joint
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
