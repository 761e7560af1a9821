"""Measuring the speech front-end: diarization error rate (DER, JER) and word error rate (WER).

DER and JER come from ``pyannote.metrics``. ``collar`` here is seconds *each side* of every reference
boundary (the NIST md-eval convention: ``collar=0.25`` forgives 0.25 s before and after), which is
``2 * collar`` in pyannote's own (total-width) convention. Overlapped speech is always scored.

WER is computed with ``jiwer`` after Whisper's English normalization (:mod:`qc.text`); the overall
value is corpus-level (all errors / all reference words), not a mean of per-file rates.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qc.records import Turn

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")


# --- RTTM -----------------------------------------------------------------------------------------

def read_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """``uri -> [(start, end, speaker), ...]`` from an RTTM file (SPEAKER lines only)."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 8 or parts[0] != "SPEAKER":
            continue
        uri, start, duration, speaker = parts[1], float(parts[3]), float(parts[4]), parts[7]
        out.setdefault(uri, []).append((start, start + duration, speaker))
    return out


def write_rttm(path: Path, uri: str, turns: Sequence[Turn]) -> None:
    with open(path, "w") as fh:
        for t in turns:
            fh.write(f"SPEAKER {uri} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n")


def to_annotation(spans: Iterable[tuple[float, float, str]], uri: str = "call"):
    """A ``pyannote.core.Annotation`` from (start, end, speaker) spans."""
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for k, (start, end, speaker) in enumerate(spans):
        if end > start:
            ann[Segment(start, end), k] = speaker
    return ann


def turns_to_annotation(turns: Sequence[Turn], uri: str = "call"):
    return to_annotation(((t.start, t.end, t.speaker) for t in turns), uri)


# --- DER / JER ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DerRow:
    """One file's diarization scores; times in seconds of reference speech."""

    file: str
    der: float
    jer: float
    missed: float
    false_alarm: float
    confusion: float
    total: float
    ref_speakers: int
    hyp_speakers: int


@dataclass(frozen=True)
class DerReport:
    rows: tuple[DerRow, ...]
    der: float  # overall: summed errors / summed reference speech
    jer: float  # overall: pyannote's accumulated JER
    collar: float  # seconds each side

    def table(self) -> str:
        head = ("file", "DER", "JER", "miss s", "FA s", "conf s", "speech s", "spk ref/hyp")
        rows = [head] + [(r.file, f"{r.der:.4f}", f"{r.jer:.4f}", f"{r.missed:.2f}", f"{r.false_alarm:.2f}",
                          f"{r.confusion:.2f}", f"{r.total:.2f}", f"{r.ref_speakers}/{r.hyp_speakers}")
                         for r in self.rows]
        return _format_table(rows)

    def summary(self) -> str:
        return (f"{len(self.rows)} files; collar {self.collar:g} s each side of reference boundaries; "
                f"overlapped speech scored (pyannote.metrics)\nJER {self.jer:.4f}\nDER {self.der:.4f}")


def diarization_report(pairs: Iterable[tuple[str, object, object]], collar: float = 0.25) -> DerReport:
    """DER/JER of ``(file, reference Annotation, hypothesis Annotation)`` pairs."""
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    der_metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    jer_metric = JaccardErrorRate(collar=2 * collar, skip_overlap=False)
    rows = []
    for name, ref, hyp in pairs:
        parts = der_metric(ref, hyp, detailed=True)
        jer = jer_metric(ref, hyp)
        total = parts["total"]
        rows.append(DerRow(
            file=name, der=parts["diarization error rate"], jer=float(jer), missed=parts["missed detection"],
            false_alarm=parts["false alarm"], confusion=parts["confusion"], total=total,
            ref_speakers=len(ref.labels()), hyp_speakers=len(hyp.labels())))
    der = abs(der_metric) if rows else float("nan")
    jer = abs(jer_metric) if rows else float("nan")
    return DerReport(rows=tuple(rows), der=float(der), jer=float(jer), collar=collar)


# --- WER --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WerRow:
    file: str
    wer: float
    errors: int  # substitutions + deletions + insertions
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int


@dataclass(frozen=True)
class WerReport:
    rows: tuple[WerRow, ...]
    wer: float

    def table(self) -> str:
        head = ("file", "WER", "ref words", "sub", "del", "ins")
        rows = [head] + [(r.file, f"{r.wer:.4f}", str(r.ref_words), str(r.substitutions), str(r.deletions),
                          str(r.insertions)) for r in self.rows]
        return _format_table(rows)

    def summary(self) -> str:
        from qc import text

        return (f"{len(self.rows)} files; {sum(r.ref_words for r in self.rows)} reference words; "
                f"Whisper English normalization (spelling map: {text.SPELLING_SOURCE})\nWER {self.wer:.4f}")


def word_errors(reference: str, hypothesis: str, model_dir: str | None = None) -> WerRow:
    """Errors of one hypothesis against one reference, after normalization."""
    import jiwer

    from qc.text import normalize

    ref, hyp = normalize(reference, model_dir), normalize(hypothesis, model_dir)
    if not ref:
        n = len(hyp.split())
        return WerRow(file="", wer=float(n > 0), errors=n, ref_words=0, substitutions=0, deletions=0,
                      insertions=n)
    out = jiwer.process_words(ref, hyp if hyp else "")
    errors = out.substitutions + out.deletions + out.insertions
    return WerRow(file="", wer=errors / len(ref.split()), errors=errors, ref_words=len(ref.split()),
                  substitutions=out.substitutions, deletions=out.deletions, insertions=out.insertions)


def wer_report(pairs: Iterable[tuple[str, str, str]], model_dir: str | None = None) -> WerReport:
    """WER of ``(file, reference text, hypothesis text)`` triples; overall = all errors / all words."""
    import dataclasses

    rows = [dataclasses.replace(word_errors(ref, hyp, model_dir), file=name) for name, ref, hyp in pairs]
    words = sum(r.ref_words for r in rows)
    wer = sum(r.errors for r in rows) / words if words else float("nan")
    return WerReport(rows=tuple(rows), wer=wer)


def read_reference_texts(source: Path) -> dict[str, str]:
    """``file stem -> reference text``.

    ``source`` is a TSV file (``file<TAB>text``, an optional header line ``file<TAB>text``), or a corpus
    directory written by ``callqc synth`` (its ``ref.tsv`` if present, else ``transcripts/*.json``,
    whose turns are read in time order, both parties of a stereo call together).
    """
    source = Path(source)
    if source.is_dir():
        if (source / "ref.tsv").is_file():
            return read_reference_texts(source / "ref.tsv")
        folder = source / "transcripts" if (source / "transcripts").is_dir() else source
        files = sorted(folder.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no ref.tsv or transcripts/*.json in {source}")
        return {f.stem: transcript_text(json.loads(f.read_text())) for f in files}
    out: dict[str, str] = {}
    with open(source, newline="") as fh:
        for k, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if not row or (k == 0 and [c.strip().lower() for c in row[:2]] == ["file", "text"]):
                continue
            if len(row) < 2:
                raise ValueError(f"{source}: line {k + 1} is not file<TAB>text")
            out[Path(row[0].strip()).stem] = "\t".join(row[1:]).strip()
    return out


def transcript_text(doc: object) -> str:
    """All turns' text in time order from a generator transcript (``{"turns": [...]}`` or a list)."""
    turns = doc.get("turns", []) if isinstance(doc, dict) else doc
    if not isinstance(turns, list):
        raise ValueError("transcript has no list of turns")
    ordered = sorted(turns, key=lambda t: (float(t.get("start", 0.0)), float(t.get("end", 0.0))))
    return " ".join(str(t.get("text", "")).strip() for t in ordered if str(t.get("text", "")).strip())


def redacted_transcript_text(doc: dict) -> str:
    """:func:`transcript_text` with the PII the generator spoke (``doc["pii"]``) cut out: the reference
    for stored text, which holds placeholders there (redaction is on by default) that the Whisper
    normalizer drops."""
    turns = [dict(t) for t in doc["turns"]]
    for item in doc.get("pii", []):
        turn = turns[item["turn"]]
        if item["spoken"] not in turn["text"]:
            raise ValueError(f"PII {item['spoken']!r} not in turn {item['turn']}")
        turn["text"] = turn["text"].replace(item["spoken"], " ")
    return transcript_text(turns)


def reference_turns(doc: object) -> list[tuple[float, float, str]]:
    """(start, end, speaker) of a generator transcript's turns."""
    turns = doc.get("turns", []) if isinstance(doc, dict) else doc
    return [(float(t["start"]), float(t["end"]), str(t.get("speaker") or t.get("role"))) for t in turns]


def _format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# --- running the front-end over a directory -------------------------------------------------------

def audio_files(audio_dir: Path, stems: Iterable[str] | None = None) -> list[Path]:
    """Audio files in ``audio_dir`` (sorted), only those whose stem is in ``stems`` when given."""
    from qc.audio import AUDIO_EXTENSIONS

    wanted = set(stems) if stems is not None else None
    files = sorted(p for p in Path(audio_dir).iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    return [p for p in files if wanted is None or p.stem in wanted]


def evaluate_diarization(audio_dir: Path, rttm_dir: Path, cfg, collar: float = 0.25, backend: str | None = None,
                         progress=None) -> DerReport:
    """DER/JER of ``qc.diarize`` over the audio files whose stems match RTTM files in ``rttm_dir``.

    ``progress(file, seconds)`` is called after each file. Raises FileNotFoundError when nothing matches.
    """
    import time

    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.records import CallMeta

    refs: dict[str, list[tuple[float, float, str]]] = {}
    for rttm in sorted(Path(rttm_dir).glob("*.rttm")):
        by_uri = read_rttm(rttm)
        for uri, spans in by_uri.items():
            # one file per call is named after the audio; a combined RTTM names calls by URI
            refs.setdefault(rttm.stem if len(by_uri) == 1 else uri, []).extend(spans)
    files = audio_files(audio_dir, refs)
    if not files:
        raise FileNotFoundError(f"no audio in {audio_dir} matches an RTTM file in {rttm_dir}")
    pairs = []
    for path in files:
        t0 = time.perf_counter()
        rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
        try:
            result = diarize(rec, cfg, backend)
        finally:
            rec.close()
        pairs.append((path.stem, to_annotation(refs[path.stem], path.stem),
                      turns_to_annotation(result.turns, path.stem)))
        if progress:
            progress(path.stem, time.perf_counter() - t0)
    return diarization_report(pairs, collar)


def hypothesis_text(turns: Sequence[Turn], words) -> str:
    """The call's words read turn by turn in order of turn start (how references are written)."""
    from qc.transcribe import attach_text

    return " ".join(t.text for t in sorted(attach_text(turns, words), key=lambda t: (t.start, t.channel))
                    if t.text)


def evaluate_asr(audio_dir: Path, reference: Path, cfg, progress=None, limit: int | None = None) -> WerReport:
    """WER of the front-end (diarize + transcribe) over the files listed in ``reference`` (the first
    ``limit`` of them, in name order, when given)."""
    import time

    from qc.assets import load_whisper, whisper_path
    from qc.audio import load_recording
    from qc.diarize import diarize
    from qc.records import CallMeta
    from qc.transcribe import transcribe

    refs = read_reference_texts(reference)
    files = audio_files(audio_dir, refs)[:limit]
    if not files:
        raise FileNotFoundError(f"no audio in {audio_dir} matches a reference in {reference}")
    model = load_whisper(cfg)
    triples = []
    for path in files:
        t0 = time.perf_counter()
        rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg, call_id=path.stem)
        try:
            turns = diarize(rec, cfg).turns
            words = transcribe(rec, turns, cfg, model)
        finally:
            rec.close()
        triples.append((path.stem, refs[path.stem], hypothesis_text(turns, words)))
        if progress:
            progress(path.stem, time.perf_counter() - t0)
    model_dir = whisper_path(cfg.asr_model, cfg.cache_dir)
    return wer_report(triples, model_dir if Path(model_dir).is_dir() else None)
