"""Processed synthetic corpora for the classifier bench and the model tests, cached by seed.

``prepare(cache, seed, calls, layout)`` generates a synthetic corpus, runs every call through the real
front-end (``flows.nightly.handle_call``: decode, diarize, Whisper, roles, rules, redaction, stored in
the warehouse with its features), and imports the corpus labels. The expensive part is the ASR, so the
result (corpus + warehouse + feature store) is kept under ``cache/seed<S>-n<N>-<layout>/`` and a
``.completed`` marker; a second call returns at once.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401
from qc.config import Settings  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("QC_BENCH_CACHE", Path.home() / ".cache" / "callqc-bench"))


@dataclass(frozen=True)
class Prepared:
    root: Path
    corpus: Path
    settings: Settings

    @property
    def labels_csv(self) -> Path:
        return self.corpus / "labels.csv"


def settings_for(root: Path, **overrides) -> Settings:
    return Settings(data_dir=root / "data", **overrides)


def prepare(cache: Path, seed: int, calls: int, layout: str = "stereo", log=print, **overrides) -> Prepared:
    """The processed corpus for (seed, calls, layout), made once and cached."""
    root = cache / f"seed{seed}-n{calls}-{layout}"
    corpus = root / "corpus"
    cfg = settings_for(root, **overrides)
    done = root / ".completed"
    if done.exists():
        return Prepared(root, corpus, cfg)
    from flows.nightly import handle_call
    from flows.version import code_version
    from qc.audio import content_hash
    from qc.inbox import scan_inbox
    from qc.synth import generate_corpus
    from warehouse import Warehouse

    if not (corpus / ".generated").exists():
        t0 = time.perf_counter()
        generate_corpus(corpus, calls=calls, seed=seed, layout=layout)
        (corpus / ".generated").write_text("ok\n")
        log(f"generated {calls} calls (seed {seed}, {layout}) in {time.perf_counter() - t0:.0f} s")
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    wh = Warehouse.open(cfg)
    run_id = wh.start_run(cfg.public_dict(), code_version())
    scan = scan_inbox(corpus)
    digests = [content_hash(m.path) for m in scan.calls]
    known = wh.known_call_ids(digests)
    t0 = time.perf_counter()
    for k, (meta, digest) in enumerate(zip(scan.calls, digests)):
        if digest in known:
            continue
        t1 = time.perf_counter()
        out = handle_call(meta, digest, cfg, run_id)
        log(f"[{k + 1}/{len(scan.calls)}] {meta.external_id} {out.status} {out.reason[:80]} "
            f"{out.audio_seconds:.0f} s audio in {time.perf_counter() - t1:.1f} s "
            f"(load {os.getloadavg()[0]:.1f})")
    with open(corpus / "labels.csv", newline="") as f:
        rows = [(r["call_id"], r["label"], r["value"]) for r in csv.DictReader(f)]
    report = wh.import_labels(rows, who="synth", source="bench")
    if not report.ok:
        raise RuntimeError(report.describe())
    log(f"processed {len(scan.calls)} calls in {time.perf_counter() - t0:.0f} s; {report.describe()}")
    done.write_text("ok\n")
    return Prepared(root, corpus, cfg)


if __name__ == "__main__":
    import sys

    seed, calls, layout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "stereo"
    prepare(DEFAULT_CACHE, seed, calls, layout, log=lambda m: print(m, flush=True))


def add_stereo_corpus_args(ap, calls: int = 11) -> None:
    """``--calls --minutes --seed --corpus``: which stereo calls a before/after bench runs on."""
    ap.add_argument("--calls", type=int, default=calls)
    ap.add_argument("--minutes", type=float, default=30.0, help="Which bench corpus (callqc bench --minutes).")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--corpus", type=Path, help="A stereo corpus from `callqc synth` instead of the bench's.")


def stereo_inbox(args) -> Path:
    """The stereo corpus :func:`add_stereo_corpus_args` chose (the bench's, generated once, by default)."""
    return args.corpus or corpus(DEFAULT_CACHE, args.minutes, args.seed)["stereo"]


MEAN_CALL_SECONDS = 82.0  # the synthetic generator's flite calls
MIN_CALLS = 5  # a half: the classifier is trained on the mono half (models.train.MIN_LABELED_CALLS)


def corpus(cache: Path, minutes: float, seed: int, log=print) -> dict[str, Path]:
    """The cached mono and stereo halves of the bench corpus."""
    from qc.synth import generate_corpus

    calls = max(MIN_CALLS, round(minutes * 60 / MEAN_CALL_SECONDS / 2))
    out = {}
    for k, layout in enumerate(("mono", "stereo")):
        root = cache / f"suite-seed{seed + k}-n{calls}-{layout}"
        if not (root / ".generated").exists():
            t0 = time.perf_counter()
            generate_corpus(root, calls=calls, seed=seed + k, layout=layout)
            (root / ".generated").write_text("ok\n")
            log(f"generated {calls} {layout} calls in {time.perf_counter() - t0:.0f} s")
        out[layout] = root
    return out
