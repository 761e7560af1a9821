"""Two ways of running the transcription stage, timed on the same calls in one run (alternating which
goes first), each with its WER against the generator's references."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path


def transcribe_both_ways(inbox: Path, calls: int, cfg, model, variants: dict[str, Callable[[], None]],
                         title: str) -> None:
    """``variants``: name -> a function that switches ``qc.transcribe`` to that way (called before each
    transcription). Prints seconds, RTF and WER per variant and the time ratio of the second to the first."""
    import qc.transcribe as T
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.evaluate import hypothesis_text, transcript_text, wer_report
    from qc.records import CallMeta

    seconds = {v: 0.0 for v in variants}
    pairs: dict[str, list] = {v: [] for v in variants}
    audio = 0.0
    files = sorted((inbox / "audio").glob("*.wav"))[:calls]
    for k, path in enumerate(files):
        rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
        turns = diarize(rec, cfg).turns
        if k == 0:
            T.transcribe(rec, turns[:2], cfg, model)  # warm-up
        truth = json.loads((inbox / "transcripts" / f"{path.stem}.json").read_text())
        for v in (list(variants) if k % 2 == 0 else list(reversed(variants))):
            variants[v]()
            t0 = time.perf_counter()
            words = T.transcribe(rec, turns, cfg, model)
            seconds[v] += time.perf_counter() - t0
            pairs[v].append((path.stem, transcript_text(truth), hypothesis_text(turns, words)))
        audio += rec.duration
        rec.close()
    before, after = (seconds[v] for v in variants)
    print(f"\n{title}: {len(files)} calls, {audio / 60:.1f} audio min ({inbox})")
    width = max(len(v) for v in variants) + 2
    for v in variants:
        print(f"  {v:{width}s} {seconds[v]:7.2f} s  RTF {seconds[v] / audio:.4f}  WER {wer_report(pairs[v]).wer:.4f}")
    second, first = list(variants)[1], list(variants)[0]
    print(f"  {second} / {first}, time: {after / before:.3f} (speed-up {before / after:.2f}x)")
