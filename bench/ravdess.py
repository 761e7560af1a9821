"""The classifier on real speech: RAVDESS imported as calls, cross-validated with speakers kept apart.

    python -m bench.ravdess [--work DIR] [--actors N] [--folds 6] [--skip-import] [--train]

Every clip of ``../shared/data/ravdess`` (1,440 clips, 24 actors, 8 emotions; CC BY-NC-SA, used here
and never shipped) becomes a one-speaker mono call in an inbox, with its actor as ``agent_id``; the
inbox goes through ``callqc run`` (the nightly flow: VAD, ASR, the per-turn speech features), the
emotions through ``callqc labels import``, and ``callqc eval classifier --folds K --group-by agent_id``
prints callqc's model beside the built-in baseline on the same speaker-grouped folds. The words are the
same two sentences in every clip, so everything the model gets right it hears in the voice.

``--actors N`` takes the first N actors (the slow test uses a few). The import is kept in ``--work``
and reused: a second run only evaluates.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
LABEL = "emotion"


def corpus_dir() -> Path:
    """Where the RAVDESS copy lies (``QC_RAVDESS_DIR`` or ``../shared/data/ravdess``)."""
    return Path(os.environ.get("QC_RAVDESS_DIR", DATA))


def clips(actors: int | None = None, per_actor: int | None = None) -> list[dict[str, str]]:
    """The clips' rows of ``labels.csv`` (``file``, ``speaker``, ``label``, ...): the first ``actors``
    actors' and, where given, ``per_actor`` clips of each, evenly spaced in file order (which is by
    emotion, so every emotion keeps its share)."""
    with open(corpus_dir() / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    speakers = sorted({r["speaker"] for r in rows})[:actors] if actors else sorted({r["speaker"] for r in rows})
    out = []
    for speaker in speakers:
        own = [r for r in rows if r["speaker"] == speaker]
        if per_actor is not None and per_actor < len(own):
            own = [own[int(k)] for k in np.linspace(0, len(own) - 1, per_actor).round()]
        out += own
    return out


def distinct(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The clips without byte-identical copies of an earlier one (the corpus holds one such pair: the
    pipeline stores a recording once, by its content, so a copy's labels would name no call)."""
    import hashlib

    seen: dict[str, str] = {}
    out = []
    for r in rows:
        digest = hashlib.sha256((corpus_dir() / r["file"]).read_bytes()).hexdigest()
        if digest in seen:
            print(f"{r['file']} is a byte-identical copy of {seen[digest]}: left out")
            continue
        seen[digest] = r["file"]
        out.append(r)
    return out


def make_inbox(rows: list[dict[str, str]], inbox: Path) -> Path:
    """An inbox of the clips (copied: an inbox reads nothing outside itself) with ``calls.csv``, and
    ``labels.csv`` (``call_id,label,value``) beside it; returns the labels file."""
    (inbox / "audio").mkdir(parents=True, exist_ok=True)
    src = corpus_dir()
    calls, labels = [], []
    for r in rows:
        call_id = Path(r["file"]).stem
        dest = inbox / "audio" / Path(r["file"]).name
        if not dest.exists():
            shutil.copyfile(src / r["file"], dest)
        calls.append({"call_id": call_id, "file": f"audio/{dest.name}", "agent_id": r["speaker"],
                      "queue": "ravdess", "layout": "mono"})
        labels.append({"call_id": call_id, "label": LABEL, "value": r["label"]})
    _write_csv(inbox / "calls.csv", calls)
    labels_file = inbox.parent / f"{inbox.name}-labels.csv"
    _write_csv(labels_file, labels)
    return labels_file


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def environment(work: Path) -> dict[str, str]:
    """The settings of the import: the defaults (a mono recording of one voice is diarized as one
    speaker), data under ``work``, greedy decoding (every clip says one of two known sentences; the
    encoder states the classifier reads are the same whatever the beam)."""
    return {**os.environ, "QC_DATA_DIR": str(work / "data"), "QC_ASR_BEAM_SIZE": "1",
            "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}


def callqc(work: Path, *args: str) -> str:
    """Run the ``callqc`` command line of this interpreter's environment; its output, echoed."""
    exe = Path(sys.executable).with_name("callqc")
    proc = subprocess.run([str(exe), *args], env=environment(work), text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"callqc {' '.join(args)} failed ({proc.returncode})")
    return proc.stdout


def import_corpus(work: Path, actors: int | None = None, per_actor: int | None = None, nights: int = 120) -> None:
    """The clips as calls in the warehouse under ``work``, with their emotion labels: ``callqc run``
    over inboxes of ``nights`` clips each (a day's queue; a rerun skips what is stored)."""
    rows = distinct(clips(actors, per_actor))
    t0 = time.perf_counter()
    labels = []
    for k in range(0, len(rows), nights):
        part = work / f"inbox-{k // nights:02d}"
        labels.append(make_inbox(rows[k:k + nights], part))
        callqc(work, "run", str(part))
    print(f"imported {len(rows)} clips of {len({r['speaker'] for r in rows})} actors in "
          f"{time.perf_counter() - t0:.0f} s")
    for path in labels:
        callqc(work, "labels", "import", str(path), "--who", "ravdess")


FEATURE_SETS = {
    "MFCC-40 mean + std": ("mfcc",),
    "eGeMAPS v02": ("egemaps",),
    "Whisper encoder states, mean + std": ("whisper",),
    "Whisper states + eGeMAPS": ("whisper", "egemaps"),
}


def feature_table(work: Path, folds: int) -> str:
    """Markdown: a logistic regression on each stored feature set (each clip's one turn), as read plain
    and against each actor's own mean and spread, on the folds ``callqc eval classifier`` uses."""
    import sqlite3

    from models.crossval import fit_baseline
    from models.resampling import grouped_folds, macro_f1
    from qc.call_features import FeatureStore

    db = sqlite3.connect(work / "data" / "callqc.db")
    label = dict(db.execute("SELECT call_id, value FROM labels WHERE label = ?", (LABEL,)).fetchall())
    agent = dict(db.execute("SELECT call_id, agent_id FROM calls").fetchall())
    store = FeatureStore(work / "data" / "features")
    ids = store.available(sorted(label))
    values = sorted(set(label.values()))
    y = np.array([values.index(label[c]) for c in ids])
    groups = np.array([agent[c] for c in ids])
    held = grouped_folds(groups.tolist(), y, folds, 0)
    speech = [store.load(c).speech for c in ids]
    warnings.simplefilter("ignore", RuntimeWarning)  # a clip with no turn: NaN, imputed by the regression
    lines = ["| features (logistic regression) | plain | against the actor's own baseline |", "| --- | ---: | ---: |"]
    for name, parts in FEATURE_SETS.items():
        x = np.stack([np.concatenate([np.asarray(getattr(s, p), np.float64).mean(0) for p in parts]) for s in speech])
        z = x.copy()
        for g in np.unique(groups):
            m = groups == g
            z[m] = (x[m] - np.nanmean(x[m], 0)) / (np.nanstd(x[m], 0) + 1e-6)
        cells = []
        for inputs in (x, z):
            pred = np.zeros_like(y)
            for fold in held:
                train = np.setdiff1d(np.arange(len(y)), fold)
                pred[fold] = fit_baseline(inputs[train], y[train], inputs[fold])
            cells.append(f"{macro_f1(y, pred):.3f}")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(os.environ.get(
        "QC_BENCH_CACHE", Path.home() / ".cache" / "callqc-bench")) / "ravdess")
    ap.add_argument("--actors", type=int, default=None, help="The first N actors (default: all 24).")
    ap.add_argument("--per-actor", type=int, default=None, help="The first N clips of each actor.")
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--skip-import", action="store_true", help="Evaluate what --work holds.")
    ap.add_argument("--train", action="store_true", help="Then time `callqc train` on all the clips.")
    ap.add_argument("--out", type=Path, default=None, help="Report directory (markdown + PNG).")
    args = ap.parse_args(argv)
    if not (corpus_dir() / "labels.csv").exists():
        raise SystemExit(f"no RAVDESS copy at {corpus_dir()} (set QC_RAVDESS_DIR)")
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.skip_import:
        import_corpus(args.work, args.actors, args.per_actor)
    out = args.out or args.work / "report"
    t0 = time.perf_counter()
    callqc(args.work, "eval", "classifier", "--folds", str(args.folds), "--group-by", "agent_id",
           "--out", str(out))
    print(f"callqc eval classifier: {(time.perf_counter() - t0) / 60:.1f} min")
    if args.train:
        t0 = time.perf_counter()
        callqc(args.work, "train")
        print(f"callqc train on the {len(distinct(clips(args.actors, args.per_actor)))} distinct clips: "
              f"{(time.perf_counter() - t0) / 60:.1f} min")
    print()
    print(f"Each feature set alone, on the same {args.folds} folds grouped by actor (macro-F1):")
    print()
    print(feature_table(args.work, args.folds))


if __name__ == "__main__":
    main()
