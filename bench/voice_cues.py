"""Which measurements carry the synthetic generator's voice cues (issue 5's analysis, not a product path).

    python -m bench.voice_cues --data DIR     # DIR as given to bench.classifier (corpus-train, corpus-test)

The generator puts a call's customer emotion and agent politeness in the words, in the voice, in both
or (neutral emotion) in neither; the voice cue is a speaking style (``qc.synth.voices.STYLES``: speed,
pitch and its range, loudness, pauses before the turns). Per role this measures, from the generator's
truth turns and the call audio, speaking rate (words per second of speech), the mean and median gap
before the role's turns, the active level (dB, and the agent - customer difference) and pitch (median,
spread, in semitones), fits a logistic regression on the training corpus and prints, on the test
corpus, macro-F1 per label for each group of measurements and the accuracy per kind of cue.

When DIR also holds bench.classifier's feature store (``DIR/data/features``, the frozen MiniLM turn
vectors), it then fits the same kind of model on the text (each role's mean and max turn vector) and
on text and measurements concatenated, and stacks the two: each modality's class probabilities,
out-of-fold (5-fold) on the training calls, into a second logistic regression (late fusion). Where
the concatenation lets the 1536 text numbers drown the 15 voice numbers, the stack keeps both.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

ROLES = ("agent", "customer")
NAMES = ("rate", "gap_mean", "gap_median", "level_db", "pitch_median", "pitch_range", "pitch_std")
GROUPS = {"timing (rate, gaps)": (0, 1, 2), "level": (3,), "pitch": (4, 5, 6),
          "all": tuple(range(len(NAMES)))}
LABELS = {"customer_emotion": ("customer", "emotion_cue"), "agent_politeness": ("agent", "politeness_cue")}


def measure(corpus: Path, external_id: str) -> tuple[np.ndarray, dict]:
    """(2 roles x len(NAMES) + 1 level difference) measurements of one call, and its scenario."""
    import librosa
    import soundfile as sf

    truth = json.loads((corpus / "transcripts" / f"{external_id}.json").read_text())
    audio, rate = sf.read(corpus / "audio" / f"{external_id}.wav", dtype="float32", always_2d=True)
    turns = truth["turns"]
    out: list[float] = []
    levels = {}
    for role in ROLES:
        mine = [t for t in turns if t["role"] == role]
        speech = sum(t["end"] - t["start"] for t in mine) or 1e-3
        words = sum(len(t["text"].split()) for t in mine)
        gaps = [t["start"] - turns[k - 1]["end"] for k, t in enumerate(turns)
                if k and t["role"] == role and turns[k - 1]["role"] != role] or [0.5]
        channel = min(mine[0]["channel"], audio.shape[1] - 1) if mine else 0
        pieces = [audio[int(t["start"] * rate):int(t["end"] * rate), channel] for t in mine]
        samples = np.concatenate(pieces) if pieces else np.zeros(rate, np.float32)
        rms = librosa.feature.rms(y=samples, frame_length=256, hop_length=128)[0]
        active = rms[rms > rms.max() * 10 ** (-30 / 20)] if rms.max() > 0 else np.ones(1)
        levels[role] = 20 * np.log10(np.sqrt(np.mean(active ** 2)) + 1e-9)
        f0 = librosa.yin(samples[: rate * 60], fmin=60, fmax=400, sr=rate, frame_length=512)
        voiced = f0[(f0 > 65) & (f0 < 390)]
        semis = 12 * np.log2(voiced / 100.0) if voiced.size > 4 else np.zeros(5)
        out += [words / speech, float(np.mean(gaps)), float(np.median(gaps)), levels[role],
                float(np.median(semis)), float(np.percentile(semis, 90) - np.percentile(semis, 10)),
                float(np.std(semis))]
    out.append(levels["agent"] - levels["customer"])
    return np.array(out), truth["scenario"]


def load(corpus: Path) -> tuple[list[str], np.ndarray, list[dict], list[dict]]:
    labels: dict[str, dict[str, str]] = {}
    with open(corpus / "labels.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            labels.setdefault(r["call_id"], {})[r["label"]] = r["value"]
    ids = sorted(labels)
    rows = [measure(corpus, e) for e in ids]
    return ids, np.stack([x for x, _ in rows]), [s for _, s in rows], [labels[e] for e in ids]


def by_cue(pred, truth, cues: list[str]) -> str:
    hits = {c: [pred[i] == truth[i] for i, x in enumerate(cues) if x == c]
            for c in ("voice", "both", "text", "none") if c in cues}
    return "accuracy by cue: " + ", ".join(f"{c} {np.mean(h):.2f} (n={len(h)})" for c, h in hits.items())


def text_vectors(data: Path, corpus: Path, external_ids: list[str]) -> np.ndarray | None:
    """Each call's frozen MiniLM turn vectors (bench.classifier's cache), pooled per role (mean, max)."""
    from qc.audio import content_hash

    caches = sorted((data / "data" / "features" / "text").glob("minilm-*"))
    if not caches:
        return None
    rows = []
    for e in external_ids:
        path = caches[0] / f"{content_hash(corpus / 'audio' / f'{e}.wav')}.npz"
        if not path.exists():
            return None
        with np.load(path) as z:
            pooled, roles = z["pooled"], z["roles"]
        parts = []
        for role in range(len(ROLES)):
            mine = pooled[roles == role]
            parts += [mine.mean(0), mine.max(0)] if len(mine) else [np.zeros(pooled.shape[1])] * 2
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="holds corpus-train/ and corpus-test/")
    args = ap.parse_args(argv)
    idtr, xtr, _, ltr = load(args.data / "corpus-train")
    idte, xte, ste, lte = load(args.data / "corpus-test")
    print(f"{len(ltr)} training calls, {len(lte)} test calls; logistic regression on the role's measurements")
    for label, (role, cue_key) in LABELS.items():
        ytr, yte = [r[label] for r in ltr], [r[label] for r in lte]
        for group, cols in GROUPS.items():
            idx = [ROLES.index(role) * len(NAMES) + c for c in cols] + ([2 * len(NAMES)] if 3 in cols else [])
            scale = StandardScaler().fit(xtr[:, idx])
            clf = LogisticRegression(max_iter=2000, class_weight="balanced")
            clf.fit(scale.transform(xtr[:, idx]), ytr)
            pred = clf.predict(scale.transform(xte[:, idx]))
            line = f"  {label:<17} {group:<20} macro-F1 {f1_score(yte, pred, average='macro'):.3f}"
            if group == "all":
                line += "  " + by_cue(pred, yte, [s[cue_key] for s in ste])
            print(line)
    ttr = text_vectors(args.data, args.data / "corpus-train", idtr)
    tte = text_vectors(args.data, args.data / "corpus-test", idte)
    if ttr is None or tte is None:
        print("(no stored MiniLM vectors under DIR/data/features: run bench.classifier --data DIR first)")
        return 0
    from sklearn.model_selection import cross_val_predict

    def fitted(a: np.ndarray, y: list[str], c: float):
        scale = StandardScaler().fit(a)
        model = LogisticRegression(max_iter=5000, C=c, class_weight="balanced")
        return scale, model.fit(scale.transform(a), y)

    for label, (role, cue_key) in LABELS.items():
        ytr, yte = [r[label] for r in ltr], [r[label] for r in lte]
        cues = [s[cue_key] for s in ste]
        voice = [ROLES.index(role) * len(NAMES) + c for c in range(len(NAMES))] + [2 * len(NAMES)]
        both_tr, both_te = np.hstack([ttr, xtr[:, voice]]), np.hstack([tte, xte[:, voice]])
        for name, a, b in (("text", ttr, tte), ("text + measurements", both_tr, both_te)):
            scale, clf = fitted(a, ytr, 0.1)
            pred = clf.predict(scale.transform(b))
            f1 = f1_score(yte, pred, average="macro")
            print(f"  {label:<17} {name:<20} macro-F1 {f1:.3f}  " + by_cue(pred, yte, cues))
        stack_tr, stack_te = [], []
        for a, b in ((ttr, tte), (xtr[:, voice], xte[:, voice])):
            scale, clf = fitted(a, ytr, 0.1)
            fold = LogisticRegression(max_iter=5000, C=0.1, class_weight="balanced")
            stack_tr.append(cross_val_predict(fold, scale.transform(a), ytr, cv=5, method="predict_proba"))
            stack_te.append(clf.predict_proba(scale.transform(b)))
        top = LogisticRegression(max_iter=5000, class_weight="balanced")
        top.fit(np.log(np.hstack(stack_tr) + 1e-6), ytr)
        pred = top.predict(np.log(np.hstack(stack_te) + 1e-6))
        f1 = f1_score(yte, pred, average="macro")
        print(f"  {label:<17} {'stacked (late)':<20} macro-F1 {f1:.3f}  " + by_cue(pred, yte, cues))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
