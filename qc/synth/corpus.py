"""A labeled corpus of synthetic calls on disk: audio, calls.csv, labels.csv, RTTM and truth JSON.

Each call depends only on (seed, index), so calls are made in parallel processes and the corpus is
byte-identical whatever the number of workers. Every file is written to a temporary name and renamed,
and files of an earlier corpus in the same folders that this one does not have are removed, so a
rerun leaves exactly this corpus behind.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from qc._children import die_with_parent
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from qc.synth.render import RATE, render_call
from qc.synth.scenario import call_id, sample_scenario
from qc.synth.script import phrase_book, write_script
from qc.synth.truth import CallTruth, build_truth

CALLS_HEADER = ("call_id", "file", "agent_id", "queue", "started_at", "layout")
LABELS_HEADER = ("call_id", "label", "value")
LABELS = ("customer_emotion", "agent_politeness", "resolution")
_OUR_FILE = re.compile(r"^call-\d+-\d{4,}\.(wav|rttm|json)$")


@dataclass(frozen=True)
class CallRow:
    """What the corpus-level files need from one call."""

    call_id: str
    agent_id: str
    queue: str
    started_at: str
    layout: str  # mono | stereo:agent=0 | stereo:agent=1
    labels: dict[str, str]
    cues: dict[str, str]
    duration: float

    @property
    def file(self) -> str:
        return f"audio/{self.call_id}.wav"


@dataclass(frozen=True)
class CorpusSummary:
    out_dir: Path
    seed: int
    calls: tuple[CallRow, ...]
    layouts: dict[str, int] = field(default_factory=dict)

    @property
    def audio_seconds(self) -> float:
        return sum(c.duration for c in self.calls)

    def counts(self, label: str) -> dict[str, int]:
        return dict(sorted(Counter(c.labels[label] for c in self.calls).items()))

    def describe(self) -> str:
        lines = [f"{len(self.calls)} synthetic calls (seed {self.seed}) in {self.out_dir}",
                 "  audio/*.wav, calls.csv, labels.csv, rttm/*.rttm, transcripts/*.json",
                 "  layout: " + ", ".join(f"{k} {v}" for k, v in sorted(self.layouts.items()))]
        for label in LABELS:
            lines.append(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in self.counts(label).items()))
        minutes = self.audio_seconds / 60
        mean = self.audio_seconds / len(self.calls) if self.calls else 0.0
        lines.append(f"  audio: {minutes:.1f} min in all, {mean:.1f} s per call")
        return "\n".join(lines)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _wav_bytes(audio) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def make_call(seed: int, index: int, layout: str, snr_db: float | None, tts: str = "flite"
              ) -> tuple[CallTruth, bytes]:
    """One call: its truth and its WAV file's bytes."""
    book = phrase_book()
    scenario = sample_scenario(seed, index, layout, snr_db, book, tts=tts)
    script = write_script(scenario, book)
    rendered = render_call(scenario, script)
    return build_truth(scenario, script, rendered), _wav_bytes(rendered.audio)


def _make_and_write(out_dir: str, seed: int, index: int, layout: str, snr_db: float | None,
                    tts: str = "flite") -> CallRow:
    truth, wav = make_call(seed, index, layout, snr_db, tts)
    out = Path(out_dir)
    _write_atomic(out / "audio" / f"{truth.call_id}.wav", wav)
    _write_atomic(out / "rttm" / f"{truth.call_id}.rttm", truth.rttm().encode())
    doc = json.dumps(truth.to_json(), indent=1, ensure_ascii=False) + "\n"
    _write_atomic(out / "transcripts" / f"{truth.call_id}.json", doc.encode())
    s = truth.scenario
    layout_col = "mono" if truth.layout == "mono" else f"stereo:agent={truth.agent_channel}"
    return CallRow(truth.call_id, s["agent_id"], s["queue"], s["started_at"], layout_col, truth.labels(),
                   {"emotion": s["emotion_cue"], "politeness": s["politeness_cue"]}, truth.duration)


def _csv_bytes(header: tuple[str, ...], rows: list[tuple]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def generate_corpus(out_dir: Path, calls: int, seed: int, layout: str = "stereo", snr_db: float | None = None,
                    workers: int | None = None, progress: Callable[[int, int], None] | None = None,
                    tts: str = "flite") -> CorpusSummary:
    """Write ``calls`` synthetic calls made with ``seed`` under ``out_dir``; same arguments, same bytes.

    ``layout``: ``stereo``, ``mono`` or ``mixed`` (about half each). ``snr_db`` fixes the background
    noise (default: 20-35 dB, varied per call). ``workers`` processes make the calls (default: one per
    CPU); ``progress(done, total)`` is called as calls finish. ``tts`` picks the speech engine:
    ``flite`` (default) or ``espeak`` (espeak-ng, harder for speech recognition). Raises ValueError on
    bad arguments and :class:`qc.synth.voices.SynthesisError` when the engine is missing or fails.
    """
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if layout not in ("stereo", "mono", "mixed"):
        raise ValueError(f"layout must be stereo, mono or mixed, got {layout!r}")
    from qc.synth.voices import check_engine

    check_engine(tts)  # fail early and clearly on an unknown or missing engine
    out = Path(out_dir)
    for sub in ("audio", "rttm", "transcripts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, calls))
    rows: list[CallRow] = []
    if workers == 1:
        for k in range(calls):
            rows.append(_make_and_write(str(out), seed, k, layout, snr_db, tts))
            if progress:
                progress(k + 1, calls)
    else:
        # spawn: the caller may hold threads (torch, a test runner) that a forked child would inherit
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent) as pool:
            futures = [pool.submit(_make_and_write, str(out), seed, k, layout, snr_db, tts) for k in range(calls)]
            for k, future in enumerate(futures):
                rows.append(future.result())
                if progress:
                    progress(k + 1, calls)
    keep = {r.call_id for r in rows}
    for sub in ("audio", "rttm", "transcripts"):
        for path in (out / sub).iterdir():
            if _OUR_FILE.match(path.name) and path.name.rsplit(".", 1)[0] not in keep:
                path.unlink()
    _write_atomic(out / "calls.csv", _csv_bytes(CALLS_HEADER, [(r.call_id, r.file, r.agent_id, r.queue,
                                                                 r.started_at, r.layout) for r in rows]))
    _write_atomic(out / "labels.csv", _csv_bytes(LABELS_HEADER, [(r.call_id, label, r.labels[label])
                                                                  for r in rows for label in LABELS]))
    layouts = Counter("mono" if r.layout == "mono" else "stereo" for r in rows)
    return CorpusSummary(out, seed, tuple(rows), dict(sorted(layouts.items())))


__all__ = ["CorpusSummary", "CallRow", "generate_corpus", "make_call", "call_id"]
