"""Speech front-end speed (and quality) on synthetic calls: real-time factor per stage, and our
transcription side by side with plain faster-whisper on the same model and audio.

    python -m bench.frontend [--corpus DIR | --calls 8 --seed 7 --layout mono] [--model tiny.en]

RTF = processing seconds / audio seconds (lower is faster). Stages: ``decode`` (file -> 16 kHz
Recording), ``vad`` (Silero over the call: the mix for mono, each channel for stereo), ``diarize`` (the
whole backend, its own VAD included), ``transcribe`` (qc.transcribe: VAD-selected speech, word
timestamps, speaker attribution). ``plain`` is ``WhisperModel.transcribe(audio)`` with faster-whisper's
default settings on the call's mono mix, run right after ours on each call, so the ratio of the two is
fair even on a machine busy with other work. WER (Whisper normalization) is shown for both when the
corpus has reference transcripts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401  (telemetry off first)
from qc.config import Settings, get_settings  # noqa: E402


@dataclass
class Totals:
    audio: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)  # per call: ours / plain transcription time
    ours_text: list[tuple[str, str, str]] = field(default_factory=list)
    plain_text: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def run(audio_files: list[Path], cfg: Settings, refs: dict[str, str], plain: bool = True, log=print) -> Totals:
    from qc.assets import load_whisper
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.evaluate import hypothesis_text
    from qc.records import CallMeta
    from qc.transcribe import transcribe
    from qc.vad import speech_probabilities

    import numpy as np

    model = load_whisper(cfg)
    # warm-up: first calls load models and compile kernels; not what a batch pays per call
    warm = audio_files[0]
    rec = load_recording(CallMeta(external_id=warm.stem, path=warm), cfg, call_id=warm.stem)
    turns = diarize(rec, cfg).turns
    transcribe(rec, turns[:2], cfg, model)
    list(model.transcribe(np.zeros(16000, np.float32))[0])
    rec.close()

    totals = Totals()
    for path in audio_files:
        t0 = time.perf_counter()
        rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
        totals.add("decode", time.perf_counter() - t0)
        try:
            t0 = time.perf_counter()
            for channel in (range(rec.channels) if rec.layout == "stereo" else [None]):
                speech_probabilities(rec, channel, name=cfg.vad_model)
            totals.add("vad", time.perf_counter() - t0)
            t0 = time.perf_counter()
            turns = diarize(rec, cfg).turns
            totals.add("diarize", time.perf_counter() - t0)
            t0 = time.perf_counter()
            words = transcribe(rec, turns, cfg, model)
            ours = time.perf_counter() - t0
            totals.add("transcribe", ours)
            if plain:
                t0 = time.perf_counter()
                segments, _ = model.transcribe(rec.mono())
                plain_text = " ".join(s.text for s in segments)  # the generator does the work
                theirs = time.perf_counter() - t0
                totals.add("plain", theirs)
                totals.ratios.append(ours / theirs)
            totals.audio += rec.duration
            if path.stem in refs:
                totals.ours_text.append((path.stem, refs[path.stem], hypothesis_text(turns, words)))
                if plain:
                    totals.plain_text.append((path.stem, refs[path.stem], plain_text))
            log(f"  {path.stem}: {rec.layout} {rec.duration:.1f} s, {len(turns)} turns, {len(words)} words")
        finally:
            rec.close()
    return totals


def table(totals: Totals, plain: bool) -> str:
    from qc.evaluate import _format_table, wer_report

    rows = [("stage", "seconds", "audio s", "RTF")]
    for stage in ("decode", "vad", "diarize", "transcribe", "plain"):
        if stage in totals.seconds:
            s = totals.seconds[stage]
            name = "plain faster-whisper" if stage == "plain" else stage
            rows.append((name, f"{s:.2f}", f"{totals.audio:.1f}", f"{s / totals.audio:.4f}"))
    lines = [_format_table(rows)]
    if plain and totals.ratios:
        overall = totals.seconds["transcribe"] / totals.seconds["plain"]
        lines.append(f"transcription / plain faster-whisper: {overall:.3f} overall, "
                     f"{statistics.median(totals.ratios):.3f} median per call")
    if totals.ours_text:
        ours = wer_report(totals.ours_text)
        line = f"WER ours {ours.wer:.4f}"
        if totals.plain_text:
            line += f", plain {wer_report(totals.plain_text).wer:.4f}"
        lines.append(line + f" ({len(totals.ours_text)} calls)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a `callqc synth` directory (default: generate one)")
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layout", default="mono", help="mono | stereo | mixed (when generating)")
    parser.add_argument("--model", help="ASR model (default: the settings')")
    parser.add_argument("--no-plain", action="store_true", help="skip plain faster-whisper")
    args = parser.parse_args(argv)

    from qc.evaluate import audio_files, read_reference_texts

    cfg = get_settings(**({"asr_model": args.model} if args.model else {}))
    corpus = args.corpus
    if corpus is None:
        from qc.synth import generate_corpus

        corpus = Path(tempfile.mkdtemp(prefix="bench-frontend-"))
        generate_corpus(corpus, calls=args.calls, seed=args.seed, layout=args.layout, snr_db=None)
    audio_dir = corpus / "audio" if (corpus / "audio").is_dir() else corpus
    try:
        refs = read_reference_texts(corpus)
    except FileNotFoundError:
        refs = {}
    files = audio_files(audio_dir)
    if not files:
        print(f"no audio in {audio_dir}", file=sys.stderr)
        return 2
    print(f"{len(files)} calls from {corpus}; model {cfg.asr_model}, beam {cfg.asr_beam_size}, "
          f"{os.cpu_count()} CPU cores")
    totals = run(files, cfg, refs, plain=not args.no_plain)
    print(table(totals, plain=not args.no_plain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
