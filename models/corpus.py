"""A labeled corpus (the synthetic generator's layout: ``audio/``, ``calls.csv``, ``labels.csv``) ->
stored features and labels keyed by call id, for training runs, benchmarks and tests.

Each call goes through the real front end (:func:`qc.pipeline.analyze_call`: diarization, ASR, roles,
redaction) and its features are stored once; a call whose features are already stored is skipped, so
an interrupted preparation resumes where it stopped.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qc.call_features import FeatureStore
from qc.pipeline import analyze_with_features
from qc.audio import content_hash
from qc.config import Settings
from qc.inbox import scan_inbox
from qc.records import CallResult

log = logging.getLogger("callqc.models")


@dataclass(frozen=True)
class PreparedCorpus:
    ids: dict[str, str]  # external id -> call id (hash of the audio)
    rows: tuple[tuple[str, str, str], ...]  # (call id, label, value)
    rejected: tuple[str, ...]  # external ids the pipeline rejected
    seconds_per_call: float  # mean analysis + feature time of the calls analysed now (0: all cached)


def read_labels(corpus: Path) -> list[tuple[str, str, str]]:
    """``labels.csv`` rows ``(external id, label, value)``."""
    with open(Path(corpus) / "labels.csv", newline="") as fh:
        return [(r["call_id"], r["label"], r["value"]) for r in csv.DictReader(fh)]


def prepare_corpus(corpus: Path, cfg: Settings, store: FeatureStore | None = None,
                   on_result: Callable[[CallResult], None] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> PreparedCorpus:
    """Analyse every call of ``corpus`` not yet in ``store`` and store its features.

    ``on_result`` receives each newly analysed call (e.g. to save it in a warehouse)."""
    import time

    from qc.records import BadRecording

    store = store or FeatureStore.for_settings(cfg)
    scan = scan_inbox(Path(corpus))
    ids: dict[str, str] = {}
    rejected: list[str] = []
    spent, analysed = 0.0, 0
    for k, meta in enumerate(scan.calls):
        cid = content_hash(meta.path)
        if not store.has(cid) or on_result is not None:
            t0 = time.perf_counter()
            try:
                result, feats = analyze_with_features(meta, cfg, call_id=cid)
            except BadRecording as exc:
                log.warning("call %s rejected: %s", meta.external_id, exc.reason)
                rejected.append(meta.external_id)
                continue
            store.save(feats)
            if on_result is not None:
                on_result(result)
            spent += time.perf_counter() - t0
            analysed += 1
        ids[meta.external_id] = cid
        if progress:
            progress(k + 1, len(scan.calls))
    rows = tuple((ids[e], lab, val) for e, lab, val in read_labels(corpus) if e in ids)
    return PreparedCorpus(ids, rows, tuple(rejected), spent / analysed if analysed else 0.0)


def truth_features(corpus: Path, cfg: Settings, store: FeatureStore) -> PreparedCorpus:
    """Store features drawn from the generator's *truth* turns (speaker, role, text) instead of the
    pipeline's diarization and ASR: seconds per call instead of the front end's cost. For fast tests of
    the classifier's machinery only; anything that measures the product uses :func:`prepare_corpus`."""
    import json

    from qc.call_features import call_features
    from qc.audio import load_recording
    from qc.records import CallRecord, CallResult, ConversationMetrics, Turn

    scan = scan_inbox(Path(corpus))
    ids: dict[str, str] = {}
    for meta in scan.calls:
        cid = content_hash(meta.path)
        ids[meta.external_id] = cid
        if store.has(cid):
            continue
        truth = json.loads((Path(corpus) / "transcripts" / f"{meta.external_id}.json").read_text())
        turns = tuple(Turn(cid, t["start"], t["end"], t["channel"], t["speaker"], t["role"], t["text"])
                      for t in truth["turns"])
        rec = load_recording(meta, cfg, call_id=cid)
        try:
            call = CallRecord(cid, meta.external_id, str(meta.path), rec.duration, rec.layout, rec.source_channels,
                              rec.source_sample_rate)
            result = CallResult(call, turns, (), ConversationMetrics(cid, rec.duration))
            store.save(call_features(result, rec))
        finally:
            rec.close()
    rows = tuple((ids[e], lab, val) for e, lab, val in read_labels(corpus) if e in ids)
    return PreparedCorpus(ids, rows, (), 0.0)
