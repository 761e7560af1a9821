"""``callqc bench``: the whole nightly pipeline on a fixed synthetic corpus, its speed per stage, the
transcription stage side by side with plain faster-whisper and WhisperX, and quality numbers.

    callqc bench [--minutes 30] [--seed 2026] [--device cpu|cuda] [--no-whisperx] [--out bench/results]

What it does, in order (corpus and the WhisperX environment are cached; everything else is rerun):

1. Generates the corpus once (``QC_BENCH_CACHE``): about ``--minutes`` of synthetic calls, half mono
   and half stereo, with their truth (RTTM, transcripts, labels).
2. Runs ``nightly_qc`` (the real Prefect flow, one worker) over the mono half into a fresh warehouse,
   imports the mono calls' labels, trains a classifier on them and promotes it, then runs ``nightly_qc``
   over the stereo half, which the promoted model scores. Per stage: seconds and real-time factor
   (processing seconds / audio seconds); per run: wall time, calls and audio hours per hour; peak RSS.
3. On the stereo calls' channels (the audio the pipeline transcribes), one after the other in this
   run: callqc's transcription stage (``qc.transcribe``), plain ``WhisperModel.transcribe`` with
   default settings, and WhisperX 3.8.6's batched transcription (its own VAD), all on the same local
   Whisper tiny.en CT2 weights and compute type. WhisperX pins torch 2.8, so it runs in a bench-only
   virtual environment the bench makes itself (``bench/.venv-whisperx``, from the package registry).
4. Quality: WER of the stored (redacted) transcripts against the generator's references (stereo and
   mono), DER of the stored mono diarization (collar 0.25 s, overlap scored), and the classifier's
   macro-F1 per label, fused and per modality, trained on the mono half and tested on the stereo half
   (a small split: ``python -m bench.classifier`` measures it on 300 + 100 calls).

Writes ``bench/results/<date>-<host>-<device>.json`` and ``bench/results/latest.md``, and puts the same
table between the ``bench:start``/``bench:end`` markers of the README.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401  (telemetry off first)
from bench._corpus import DEFAULT_CACHE, corpus  # noqa: E402
from qc.config import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
WHISPERX_VENV = HERE / ".venv-whisperx"
WHISPERX_REQUIREMENT = "whisperx==3.8.6"
STAGES = ("decode", "diarize", "transcribe", "quality", "features", "speech_features", "pii", "rules", "redact", "spectrogram",
          "classify")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pipeline_run(inbox: Path, cfg: Settings) -> dict[str, Any]:
    """``nightly_qc`` over ``inbox``: per-stage seconds (summed over calls), wall time, throughput."""
    from flows.nightly import run_nightly

    t0 = time.perf_counter()
    summary = run_nightly(inbox, cfg)
    wall = time.perf_counter() - t0
    done = [o for o in summary.outcomes if o.status == "processed"]
    stages: dict[str, float] = {}
    for o in done:
        for k, v in o.timings.items():
            stages[k] = stages.get(k, 0.0) + v
    audio = sum(o.audio_seconds for o in done)
    per_call = sum(o.seconds for o in done)
    return {
        "calls": len(done), "rejected": summary.count("rejected"), "audio_seconds": audio, "wall_seconds": wall,
        "per_call_seconds": per_call, "stage_seconds": stages,
        "rtf": wall / audio, "audio_hours_per_hour": audio / wall, "calls_per_hour": len(done) * 3600 / wall,
        "scored_by": sorted({o.scored_by for o in done if o.scored_by}),
        "qa_mean": summary.mean_qa_score,
    }


def train_on(cfg: Settings, labels_csv: Path, log=print) -> tuple[str, float, dict[str, Any]]:
    """Import the labels, train (the default variants), promote; returns version, seconds, the evaluation's metrics."""
    from models.corpus import read_labels
    from flows.training import retrain
    from models.train import TrainConfig
    from warehouse import Warehouse

    rows = read_labels(labels_csv.parent)
    with Warehouse.open(cfg) as wh:
        report = wh.import_labels(rows, who="bench", source="bench")
        if not report.ok:
            raise RuntimeError(report.describe())
        tcfg = TrainConfig.from_settings(cfg, max_epochs=40, patience=8, progress=False, val_frac=0.2,
                                         test_frac=0.2)
        t0 = time.perf_counter()
        out = retrain(cfg, wh, tcfg)
        seconds = time.perf_counter() - t0
        if not out.promoted:
            wh.promote(out.version)
    log(f"trained {out.version} in {seconds:.0f} s")
    return out.version, seconds, out


def classifier_quality(outcome: Any, test_cfg: Settings, test_inbox: Path) -> dict[str, dict[str, float]]:
    """Macro-F1 per label of every trained variant on the stereo calls (never seen in training)."""
    from models.data import prepare
    from models.evaluate import evaluate_predictions
    from qc.call_features import FeatureStore
    from models.train import predict
    from qc.audio import content_hash
    from qc.inbox import scan_inbox
    from models.corpus import read_labels

    ids = {m.external_id: content_hash(m.path) for m in scan_inbox(test_inbox).calls}
    rows = [(ids[c], lab, v) for c, lab, v in read_labels(test_inbox) if c in ids]
    store = FeatureStore.for_settings(test_cfg)
    calls = store.available(sorted(set(ids.values())))
    schema = outcome.result.schema
    targets = schema.encode(calls, rows)
    out = {}
    for variant, model in outcome.result.models.items():
        probs = predict(model, prepare(store, calls, model.cfg))
        metrics = evaluate_predictions(schema, targets, {lab: probs[lab].argmax(1) for lab in schema.names})
        out[variant] = {lab: float(m.macro_f1) for lab, m in metrics.items()}
    return out


def transcription_alone(inbox: Path, cfg: Settings) -> dict[str, float]:
    """What transcription costs on its own, the way WhisperX or faster-whisper's ``vad_filter`` run it:
    decode, VAD on each channel, Whisper on the speech regions (callqc's transcription stage), nothing
    else. The baseline for what diarization, QA features and scoring add on top."""
    from qc.assets import load_whisper
    from qc.audio import load_recording
    from qc.inbox import scan_inbox
    from qc.records import Turn
    from qc.transcribe import transcribe
    from qc.vad import segments, speech_probabilities

    model = load_whisper(cfg)
    seconds = audio = 0.0
    for meta in scan_inbox(inbox).calls:
        t0 = time.perf_counter()
        rec = load_recording(meta, cfg, call_id=meta.external_id)
        try:
            channels = range(rec.channels) if rec.layout == "stereo" else [None]
            turns = [Turn(rec.call_id, a, b, ch or 0, f"SPEAKER_{ch or 0:02d}")
                     for ch in channels for a, b in segments(speech_probabilities(rec, ch, name=cfg.vad_model),
                                                            duration=rec.duration)]
            transcribe(rec, turns, cfg, model)
            audio += rec.duration
        finally:
            rec.close()
        seconds += time.perf_counter() - t0
    return {"seconds": seconds, "audio_seconds": audio}


def channel_files(inbox: Path, work: Path, limit: int) -> list[tuple[Path, float]]:
    """Each channel of the first ``limit`` stereo calls as a 16 kHz mono WAV (what every side reads)."""
    import librosa
    import soundfile as sf

    out = []
    for path in sorted((inbox / "audio").glob("*.wav"))[:limit]:
        audio, _ = librosa.load(path, sr=16000, mono=False)
        for ch in range(audio.shape[0]):
            dest = work / f"{path.stem}-ch{ch}.wav"
            sf.write(dest, audio[ch], 16000, subtype="PCM_16")
            out.append((dest, audio.shape[1] / 16000))
    return out


def ensure_whisperx(log=print) -> Path:
    """The bench-only WhisperX environment (made once, from the package registry); its python."""
    python = WHISPERX_VENV / "bin" / "python"
    marker = WHISPERX_VENV / ".installed"
    if marker.exists() and marker.read_text().strip() == WHISPERX_REQUIREMENT:
        return python
    log(f"making {WHISPERX_VENV} with {WHISPERX_REQUIREMENT} (torch 2.8; several GB, once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(WHISPERX_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", WHISPERX_REQUIREMENT], check=True)
    marker.write_text(WHISPERX_REQUIREMENT + "\n")
    return python


def side_by_side(inbox: Path, cfg: Settings, whisperx: bool, limit: int, log=print) -> dict[str, Any]:
    """Transcription of the same channel files by callqc, plain faster-whisper and WhisperX."""
    import numpy as np
    import soundfile as sf

    from qc.assets import load_whisper, resolve_device, whisper_compute_type, whisper_path
    from qc.audio import load_recording
    from qc.records import CallMeta, Turn
    from qc.transcribe import transcribe
    from qc.vad import load_vad, speech_probabilities
    from qc.vad import segments as vad_segments

    model = load_whisper(cfg)
    device = resolve_device(cfg.asr_device)
    compute = whisper_compute_type(cfg, device)
    threads = cfg.asr_cpu_threads or os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="callqc-bench-"))
    try:
        files = channel_files(inbox, work, limit)
        audio = sum(a for _, a in files)
        # warm-up for both in-process sides
        warm = sf.read(files[0][0], dtype="float32")[0][: 16000 * 20]
        list(model.transcribe(warm)[0])
        load_vad(cfg.vad_model)
        ours = plain = 0.0
        ours_words = plain_words = 0
        for path, _ in files:
            meta = CallMeta(external_id=path.stem, path=path)
            rec = load_recording(meta, cfg, call_id=path.stem)
            try:
                # timed with its VAD, as WhisperX's transcription is with its own
                t0 = time.perf_counter()
                probs = speech_probabilities(rec, 0, name=cfg.vad_model)
                turns = [Turn(rec.call_id, a, b, 0, "SPEAKER_00")
                         for a, b in vad_segments(probs, duration=rec.duration)]
                ours_words += len(transcribe(rec, turns, cfg, model))
                ours += time.perf_counter() - t0
            finally:
                rec.close()
            samples = sf.read(path, dtype="float32")[0]
            t0 = time.perf_counter()
            segments, _ = model.transcribe(np.ascontiguousarray(samples))
            plain_words += sum(len(s.text.split()) for s in segments)
            plain += time.perf_counter() - t0
        out: dict[str, Any] = {"files": len(files), "audio_seconds": audio, "compute_type": compute,
                               "threads": threads, "callqc_seconds": ours, "plain_seconds": plain,
                               "callqc_words": ours_words, "plain_words": plain_words}
        if whisperx:
            python = ensure_whisperx(log)
            job = work / "job.json"
            job.write_text(json.dumps({"model": whisper_path(cfg.asr_model, cfg.cache_dir), "device": device,
                                       "compute_type": compute, "threads": threads, "batch_size": 8,
                                       "files": [str(p) for p, _ in files]}))
            result = work / "whisperx.json"
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
            subprocess.run([str(python), str(HERE / "_whisperx_run.py"), str(job), str(result)], check=True, env=env)
            wx = json.loads(result.read_text())
            out.update(whisperx_seconds=sum(f["seconds"] for f in wx["files"]),
                       whisperx_words=sum(len(f["text"].split()) for f in wx["files"]),
                       whisperx_load_seconds=wx["load_seconds"])
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quality(inboxes: dict[str, Path], cfgs: dict[str, Settings]) -> dict[str, float]:
    """WER of the stored transcripts (both layouts) and DER of the stored mono diarization."""
    from qc.evaluate import (diarization_report, hypothesis_text, read_rttm, redacted_transcript_text,
                             to_annotation, turns_to_annotation, wer_report)
    from warehouse import Warehouse

    out: dict[str, float] = {}
    for layout, inbox in inboxes.items():
        with Warehouse.open(cfgs[layout]) as wh:
            pairs, der_pairs = [], []
            for cid in wh.call_ids():
                r = wh.load_call(cid)
                truth = json.loads((inbox / "transcripts" / f"{r.call.external_id}.json").read_text())
                pairs.append((cid, redacted_transcript_text(truth), hypothesis_text(r.turns, r.words)))
                if layout == "mono":
                    ref = read_rttm(inbox / "rttm" / f"{r.call.external_id}.rttm")
                    spans = [s for v in ref.values() for s in v]
                    der_pairs.append((cid, to_annotation(spans, cid), turns_to_annotation(r.turns, cid)))
        out[f"wer_{layout}"] = wer_report(pairs).wer
        if der_pairs:
            rep = diarization_report(der_pairs)
            out["der_mono"], out["jer_mono"] = rep.der, rep.jer
    return out


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, {gpu}"


def render(res: dict[str, Any]) -> str:
    """The results as the README's markdown tables."""
    lines = [f"Measured {res['date']} on {res['machine']} (`callqc bench --minutes {res['minutes']:g}`, "
             f"device {res['device']}, Whisper {res['asr_model']}).", "",
             "| stage | mono s | mono RTF | stereo s | stereo RTF |", "| --- | ---: | ---: | ---: | ---: |"]
    mono, stereo = res["pipeline"]["mono"], res["pipeline"]["stereo"]
    for stage in STAGES:
        m, s = mono["stage_seconds"].get(stage), stereo["stage_seconds"].get(stage)
        if m is None and s is None:
            continue
        fmt = lambda v, run: ("-", "-") if v is None else (f"{v:.1f}", f"{v / run['audio_seconds']:.4f}")  # noqa: E731
        lines.append(f"| {stage} | {' | '.join(fmt(m, mono))} | {' | '.join(fmt(s, stereo))} |")
    for name, key in (("whole run (wall)", "wall_seconds"),):
        lines.append(f"| **{name}** | {mono[key]:.1f} | {mono['rtf']:.4f} | {stereo[key]:.1f} | {stereo['rtf']:.4f} |")
    lines += ["", "| run | calls | audio min | calls / h | audio h / h | peak RSS |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for layout, run in (("mono", mono), ("stereo", stereo)):
        lines.append(f"| {layout} | {run['calls']} | {run['audio_seconds'] / 60:.1f} | {run['calls_per_hour']:.0f} | "
                     f"{run['audio_hours_per_hour']:.1f} | {res['peak_rss_mb']:.0f} MB (whole bench) |")
    st = stereo["stage_seconds"]
    added = sum(v for k, v in st.items() if k not in ("decode", "transcribe"))
    lines += ["", f"Stereo: diarization, QA features, spectrograms and scoring take {added:.1f} s, "
              f"{res['stages_over_transcription']:.0%} on top of the transcription stage's {st.get('transcribe', 0):.1f} s; "
              f"with decoding, storage and orchestration (the whole run's wall time, {stereo['wall_seconds']:.1f} s) "
              f"{res['overhead_over_transcription']:.0%}.",
              f"Against transcription alone as WhisperX runs it (decode, VAD on each channel, Whisper: "
              f"{res['transcription_alone']['seconds']:.1f} s for the same calls), the pipeline's per-call work "
              f"(diarization, QA features, PII, rules, spectrograms, scoring, storage: {stereo['per_call_seconds']:.1f} s) "
              f"adds {res['per_call_over_alone']:.0%}; the whole run's wall time, with Prefect, hashing and "
              f"Parquet compaction, {res['wall_over_alone']:.0%}.", ""]
    sbs = res["side_by_side"]
    lines += [f"Transcription of the same {sbs['files']} channel files ({sbs['audio_seconds'] / 60:.1f} min, "
              f"{sbs['compute_type']}, {sbs['threads']} threads), in one run:", "",
              "| transcriber | seconds | RTF | words | time / callqc |", "| --- | ---: | ---: | ---: | ---: |"]
    rows = [("callqc (Silero VAD, then `qc.transcribe`: word timestamps)", "callqc"),
            ("plain faster-whisper (defaults)", "plain")]
    if "whisperx_seconds" in sbs:
        rows.append(("WhisperX 3.8.6 (batched, its VAD, no alignment)", "whisperx"))
    for name, key in rows:
        sec = sbs[f"{key}_seconds"]
        lines.append(f"| {name} | {sec:.1f} | {sec / sbs['audio_seconds']:.4f} | {sbs[f'{key}_words']} | "
                     f"{sec / sbs['callqc_seconds']:.2f} |")
    q = res["quality"]
    lines += ["", f"Quality: WER stereo {q['wer_stereo']:.3f}, mono {q['wer_mono']:.3f}; DER mono {q['der_mono']:.3f} "
              f"(JER {q['jer_mono']:.3f}, collar 0.25 s, overlap scored)."]
    clf = res.get("classifier")
    if clf:
        lines += ["", f"Classifier trained on the {mono['calls']} mono calls ({clf['train_seconds']:.0f} s), "
                  f"tested on the {stereo['calls']} stereo calls (macro-F1):", "",
                  "| variant | " + " | ".join(clf["labels"]) + " |", "| --- |" + " ---: |" * len(clf["labels"])]
        for variant, f1s in clf["macro_f1"].items():
            lines.append(f"| {variant} | " + " | ".join(f"{f1s.get(lab, float('nan')):.3f}" for lab in clf["labels"]) + " |")
    return "\n".join(lines)


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, table: str) -> bool:
    """Put ``table`` between the README's bench markers; False when the file or markers are missing."""
    if not readme.exists():
        return False
    text = readme.read_text()
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < a:
        return False
    readme.write_text(text[:a + len(README_START)] + "\n" + table + "\n" + text[b:])
    return True


def run(minutes: float = 30.0, seed: int = 2026, device: str = "auto", whisperx: bool = True,
        out_dir: Path = HERE / "results", cache: Path = DEFAULT_CACHE, side_calls: int = 4,
        readme: Path | None = HERE.parent / "README.md", log=print) -> dict[str, Any]:
    from qc.assets import resolve_device

    inboxes = corpus(cache, minutes, seed, log)
    work = Path(tempfile.mkdtemp(prefix="callqc-suite-"))
    try:
        cfgs = {layout: Settings(data_dir=work / layout, asr_device=device, task_runner="sequential")
                for layout in inboxes}
        log("nightly_qc over the mono half (no model promoted yet)")
        mono = pipeline_run(inboxes["mono"], cfgs["mono"])
        version, train_seconds, outcome = train_on(cfgs["mono"], inboxes["mono"] / "labels.csv", log)
        # the stereo run's warehouse gets the promoted model's registration
        from flows.scoring import register
        from warehouse import Warehouse

        with Warehouse.open(cfgs["stereo"]) as wh:
            register(wh, outcome.artifact)
            wh.promote(version)
        log("nightly_qc over the stereo half (scored by the promoted model)")
        stereo = pipeline_run(inboxes["stereo"], cfgs["stereo"])
        log("transcription alone (decode + VAD + Whisper) over the stereo half")
        alone = transcription_alone(inboxes["stereo"], cfgs["stereo"])
        log("transcription side by side")
        sbs = side_by_side(inboxes["stereo"], cfgs["stereo"], whisperx, side_calls, log)
        qual = quality(inboxes, cfgs)
        f1 = classifier_quality(outcome, cfgs["stereo"], inboxes["stereo"])
        transcribe_s = stereo["stage_seconds"].get("transcribe", 0.0)
        res = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(), "minutes": minutes, "seed": seed,
            "device": resolve_device(device), "asr_model": cfgs["stereo"].asr_model,
            "pipeline": {"mono": mono, "stereo": stereo}, "side_by_side": sbs, "quality": qual,
            "overhead_over_transcription": (stereo["wall_seconds"] - transcribe_s) / transcribe_s,
            "stages_over_transcription": sum(v for k, v in stereo["stage_seconds"].items()
                                             if k not in ("decode", "transcribe")) / transcribe_s,
            "transcription_alone": alone,
            "per_call_over_alone": stereo["per_call_seconds"] / alone["seconds"] - 1,
            "wall_over_alone": stereo["wall_seconds"] / alone["seconds"] - 1,
            "classifier": {"version": version, "train_seconds": train_seconds, "labels": sorted(next(iter(f1.values()))),
                           "macro_f1": f1},
            "peak_rss_mb": peak_rss_mb(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{res['date']}-{platform.node()}-{res['device']}.json"
    (out_dir / name).write_text(json.dumps(res, indent=2, default=str) + "\n")
    (out_dir / "latest.md").write_text(render(res) + "\n")
    if readme is not None and update_readme(readme, render(res)):
        log(f"updated the results table in {readme}")
    log(render(res))
    log(f"wrote {out_dir / name}")
    return res
