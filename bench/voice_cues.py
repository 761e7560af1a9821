"""Which measurements carry the synthetic generator's voice cues (issue 5's analysis, not a product path).

    python -m bench.voice_cues --data DIR     # DIR as given to bench.classifier (corpus-train, corpus-test)

The generator puts a call's customer emotion and agent politeness in the words, in the voice, in both
or (neutral emotion) in neither; the voice cue is a speaking style (``qc.synth.voices.STYLES``: speed,
pitch and its range, loudness, pauses before the turns). Per role this measures, from the generator's
truth turns and the call audio, speaking rate (words per second of speech), the mean and median gap
before the role's turns, the active level (dB, and the agent - customer difference) and pitch (median,
spread, in semitones), fits a logistic regression on the training corpus and prints, on the test
corpus, macro-F1 per label for each group of measurements and the accuracy per kind of cue. It shows
what the classifier's audio branch needs to see, beside log-mel images.
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


def load(corpus: Path) -> tuple[np.ndarray, list[dict], list[dict]]:
    labels: dict[str, dict[str, str]] = {}
    with open(corpus / "labels.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            labels.setdefault(r["call_id"], {})[r["label"]] = r["value"]
    ids = sorted(labels)
    rows = [measure(corpus, e) for e in ids]
    return np.stack([x for x, _ in rows]), [s for _, s in rows], [labels[e] for e in ids]


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="holds corpus-train/ and corpus-test/")
    args = ap.parse_args(argv)
    xtr, _, ltr = load(args.data / "corpus-train")
    xte, ste, lte = load(args.data / "corpus-test")
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
                cues = [s[cue_key] for s in ste]
                hits = {c: [pred[i] == yte[i] for i, x in enumerate(cues) if x == c]
                        for c in ("voice", "both", "text", "none") if c in cues}
                line += "  accuracy by cue: " + ", ".join(f"{c} {np.mean(h):.2f} (n={len(h)})"
                                                          for c, h in hits.items())
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
