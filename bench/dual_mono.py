"""Dual-mono recordings: the same synthetic calls analysed as a mono mix and as the dual-mono file a
recorder writes (the mix on channel 0, on channel 1 the mix through an 8 kHz MP3 round trip, delayed
and attenuated), side by side in one run.

    python -m bench.dual_mono [--seed 31] [--calls 10]

Printed per call and overall: the layout decided and its reason, WER of each version against the
generator's truth, words stored, and seconds per stage of the new per-call work (channel analysis,
quality guard, hold finder) against the whole analysis. Targets (issue 24): WER within 0.01 of the mono
mix, no call empty.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qc  # noqa: E402,F401  (telemetry off first)

RATE = 16000


def lossy(x, delay_s: float, gain_db: float):
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, RATE, format="WAV")
    mp3 = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "-", "-ar", "8000", "-b:a", "32k",
                          "-f", "mp3", "-"], input=buf.getvalue(), capture_output=True, check=True).stdout
    wav = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", "-", "-ar", str(RATE), "-ac", "1", "-f", "wav",
                          "-"], input=mp3, capture_output=True, check=True).stdout
    y, _ = sf.read(io.BytesIO(wav), dtype="float32")
    y = np.concatenate([np.zeros(int(delay_s * RATE), np.float32), y]) * 10 ** (gain_db / 20)
    return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args(argv)

    import numpy as np
    import soundfile as sf
    import soxr

    from qc.config import Settings
    from qc.evaluate import word_errors
    from qc.pipeline import analyze_call
    from qc.records import CallMeta
    from qc.synth import make_call

    work = Path(tempfile.mkdtemp(prefix="bench-dual-"))
    cfg = Settings(data_dir=work / "data")
    rng = np.random.default_rng(args.seed)
    rows = []
    stage_totals: dict[str, float] = {}
    for index in range(args.calls):
        truth, wav = make_call(args.seed, index, "stereo", None)
        x, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        mix = soxr.resample(x, sr, RATE).mean(axis=1)
        delay, gain = float(rng.uniform(0.0, 0.05)), float(rng.uniform(-3.0, 3.0))
        sf.write(work / f"{index}-mono.wav", mix, RATE)
        sf.write(work / f"{index}-dual.wav", np.stack([mix, lossy(mix, delay, gain)]).T, RATE)
        reference = " ".join(t.text for t in sorted(truth.turns, key=lambda t: t.start))
        out = {}
        for version in ("mono", "dual"):
            result = analyze_call(CallMeta(external_id=f"{index}-{version}", path=work / f"{index}-{version}.wav"), cfg)
            out[version] = (result, word_errors(reference, " ".join(w.text for w in result.words)).wer)
            for stage, sec in result.timings.items():
                stage_totals[stage] = stage_totals.get(stage, 0.0) + sec
        (mono, wer_mono), (dual, wer_dual) = out["mono"], out["dual"]
        rows.append((index, delay, gain, dual.call.layout, dual.call.layout_reason, wer_mono, wer_dual,
                     len(mono.words), len(dual.words), dual.call.quality_flags))
        print(f"call {index}: {dual.call.layout}, WER mono {wer_mono:.3f} dual {wer_dual:.3f}", flush=True)

    print("\n| call | delay ms | gain dB | layout | WER mono mix | WER dual mono | words mono / dual | quality flags |")
    print("| ---: | ---: | ---: | --- | ---: | ---: | --- | --- |")
    for i, d, g, layout, reason, wm, wd, nm, nd, flags in rows:
        print(f"| {i} | {d * 1000:.0f} | {g:+.1f} | {layout} | {wm:.3f} | {wd:.3f} | {nm} / {nd} | {'; '.join(flags) or '-'} |")
    wm, wd = np.mean([r[5] for r in rows]), np.mean([r[6] for r in rows])
    empty = sum(1 for r in rows if r[8] == 0)
    print(f"\nmean WER: mono mix {wm:.4f}, dual mono {wd:.4f} (difference {wd - wm:+.4f}; target within 0.01); "
          f"dual-mono calls read as mono: {sum(r[3] == 'mono' for r in rows)}/{len(rows)}; empty: {empty}")
    total = sum(stage_totals.values())
    new = {k: v for k, v in stage_totals.items() if k in ("quality", "voiceprint")}
    print("seconds per stage over all analyses: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(stage_totals.items()))
          + f"; the guard's share of the analysis: {sum(new.values()) / total:.2%}")


if __name__ == "__main__":
    main()
