"""Classifier quality and speed on synthetic corpora: macro-F1 per label per variant, training minutes,
and scoring speed from stored features.

    python -m bench.classifier --data DIR [--train-calls 300 --train-seed 100 --test-calls 100 --test-seed 200]
                               [--image-encoders scratch,efficientnet-lite0] [--text-modes frozen,lora]

The training corpus and a test corpus made with a *different seed* are generated under DIR (once), and
every call goes through the real front end (:func:`models.corpus.prepare_corpus`: diarization,
Whisper ASR, roles, redaction), so the text branch reads the ASR words, not the generator's truth.
Features are stored once; a second run only trains. ``--limit-train``/``--limit-test`` use the first
calls of each corpus that have stored features (when preparing all of them does not fit the time).

Variants, all scored on the same test corpus: the default training's (``callqc train``: one fused model
with and without the spectrogram images, and each modality alone) or those ``--variants`` names, for
each image encoder (scratch CNN, frozen ImageNet EfficientNet-Lite0) and text mode. Targets (issue 5):
fused macro-F1 >= 0.90 on customer_emotion and agent_politeness; fused beats the better single
modality by >= 0.05 on each; a full training run within 15 min on 2 cores; scoring >= 20 calls/s
from stored features.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import qc  # noqa: E402,F401  (telemetry off first)

TARGET_LABELS = ("customer_emotion", "agent_politeness")


def prepare(data: Path, train_calls: int, train_seed: int, test_calls: int, test_seed: int, log=print):
    """(train corpus rows, test corpus rows, feature store), generating and analysing what is missing."""
    from models.corpus import prepare_corpus
    from qc.call_features import FeatureStore
    from qc.config import Settings
    from qc.synth import generate_corpus

    params = {"train": [train_calls, train_seed], "test": [test_calls, test_seed]}
    pfile = data / "params.json"
    if pfile.exists() and json.loads(pfile.read_text()) != params:
        raise SystemExit(f"{data} holds corpora made with {pfile.read_text()}; use another --data")
    data.mkdir(parents=True, exist_ok=True)
    pfile.write_text(json.dumps(params))
    cfg = Settings(data_dir=data / "data")
    store = FeatureStore.for_settings(cfg)
    out = {}
    for name, (n, seed) in params.items():
        corpus = data / f"corpus-{name}"
        if not (corpus / "labels.csv").exists():
            t0 = time.perf_counter()
            generate_corpus(corpus, calls=n, seed=seed, layout="stereo")
            log(f"generated {name}: {n} calls (seed {seed}) in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        p = prepare_corpus(corpus, cfg, store, progress=lambda k, tot: log(f"  {name} {k}/{tot}") if k % 25 == 0 else None)
        log(f"{name}: {len(p.ids)} calls with features, {len(p.rejected)} rejected; "
            f"front end {p.seconds_per_call:.1f} s/call for the calls analysed now ({time.perf_counter() - t0:.0f} s)")
        out[name] = p
    return out["train"], out["test"], store


def first_with_features(rows, store, limit: int | None):
    ids = sorted({c for c, _, _ in rows})
    ids = [c for c in ids if store.has(c)]
    keep = set(ids[:limit] if limit else ids)
    return tuple(r for r in rows if r[0] in keep), sorted(keep)


def main(argv: list[str] | None = None) -> None:
    from models.train import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("QC_BENCH_CACHE", Path.home() / ".cache" / "callqc-bench")) / "classifier")
    ap.add_argument("--train-calls", type=int, default=300)
    ap.add_argument("--train-seed", type=int, default=100)
    ap.add_argument("--test-calls", type=int, default=100)
    ap.add_argument("--test-seed", type=int, default=200)
    ap.add_argument("--no-prepare", action="store_true", help="Use only calls whose features are stored already.")
    ap.add_argument("--train-features", choices=("asr", "truth"), default="asr",
                    help="truth: draw the TRAINING calls' features from the generator's truth turns and text "
                         "(no ASR; when the front end cannot run over the whole training corpus in time). "
                         "The test corpus always goes through the real front end.")
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--limit-test", type=int, default=None)
    ap.add_argument("--image-encoders", default="scratch,efficientnet-lite0")
    ap.add_argument("--text-modes", default="frozen")
    ap.add_argument("--ngram-buckets", type=int, default=None,
                    help="The text branch's lexical channel's buckets (default: the model's; 0: off).")
    ap.add_argument("--variants", default=",".join(TrainConfig().variants),
                    help="Comma-separated variants to train.")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="Write the kept model's report (md + png) here.")
    args = ap.parse_args(argv)

    from models.corpus import read_labels
    from qc.call_features import FeatureStore
    from models.fusion import FusionConfig
    from models.image import ImageConfig
    from models.registry import LoadedModel
    from models.score import score_features
    from models.text import TextConfig
    from models.train import LabeledData, train_classifier

    if args.train_features == "truth":
        from models.corpus import prepare_corpus, truth_features
        from qc.config import Settings

        asr = Settings(data_dir=args.data / "data")
        asr_store = FeatureStore.for_settings(asr)
        test_rows = prepare_corpus(args.data / "corpus-test", asr).rows if not args.no_prepare else None
        store = FeatureStore(args.data / "data" / "features-truth-train")
        t0 = time.perf_counter()
        train_rows = truth_features(args.data / "corpus-train", asr, store).rows
        print(f"training features from the truth turns: {time.perf_counter() - t0:.0f} s", flush=True)
        if test_rows is None:
            from qc.audio import content_hash

            corpus = args.data / "corpus-test"
            ids = {p.stem: content_hash(p) for p in sorted((corpus / "audio").glob("*.wav"))}
            test_rows = tuple((ids[e], lab, v) for e, lab, v in read_labels(corpus) if e in ids)
        for cid in {c for c, _, _ in test_rows}:  # the test calls' ASR features, beside the training ones
            src, dst = asr_store._path(cid), store._path(cid)
            if src.exists() and not dst.exists():
                os.link(src, dst)
    elif args.no_prepare:
        from qc.audio import content_hash

        store = FeatureStore(args.data / "data" / "features")

        def rows_of(name: str):
            corpus = args.data / f"corpus-{name}"
            ids = {p.stem: content_hash(p) for p in sorted((corpus / "audio").glob("*.wav"))}
            return tuple((ids[e], lab, v) for e, lab, v in read_labels(corpus) if e in ids)

        train_rows, test_rows = rows_of("train"), rows_of("test")
    else:
        tr, te, store = prepare(args.data, args.train_calls, args.train_seed, args.test_calls, args.test_seed,
                                log=lambda m: print(m, flush=True))
        train_rows, test_rows = tr.rows, te.rows
    train_rows, train_ids = first_with_features(train_rows, store, args.limit_train)
    test_rows, test_ids = first_with_features(test_rows, store, args.limit_test)
    print(f"train corpus: {len(train_ids)} calls (seed {args.train_seed}); "
          f"test corpus: {len(test_ids)} calls (seed {args.test_seed})", flush=True)

    results = []
    for text_mode in args.text_modes.split(","):
        for image_encoder in args.image_encoders.split(","):
            text = TextConfig(mode=text_mode)  # type: ignore[arg-type]
            if args.ngram_buckets is not None:
                text = TextConfig(mode=text_mode, ngram_buckets=args.ngram_buckets)  # type: ignore[arg-type]
            model = FusionConfig(text=text, image=ImageConfig(encoder=image_encoder))
            cfg = TrainConfig(model=model, variants=tuple(args.variants.split(",")), max_epochs=args.epochs,
                              seed=args.seed, progress=False)
            t0 = time.perf_counter()
            res = train_classifier(LabeledData(train_rows + test_rows), store, cfg, test_call_ids=test_ids)
            minutes = (time.perf_counter() - t0) / 60
            loaded = LoadedModel("bench", res.model, res.schema, res.model_config, {})
            score_features(loaded, store, test_ids)  # encoder caches warm (they are after training)
            t1 = time.perf_counter()
            score_features(loaded, store, test_ids)
            rate = len(test_ids) / (time.perf_counter() - t1)
            results.append((text_mode, image_encoder, res, minutes, rate))
            print(f"\n== text {text_mode}, image {image_encoder}: full training run {minutes:.1f} min "
                  f"(prepare {sum(v for k, v in res.seconds.items() if k.startswith('prepare')) / 60:.1f} min), "
                  f"kept {res.report.variant}, scoring {rate:.0f} calls/s from stored features", flush=True)
            print(res.report.table(), flush=True)
            for v, sec in res.seconds.items():
                if v.startswith("train."):
                    h = res.histories[v.removeprefix("train.")]
                    how = (", ".join(f"{lab} from {v}" for lab, v in h["choice"].items()) if "choice" in h
                           else f"{h['epochs']} epochs (best {h['best_epoch']})")
                    print(f"  {v:<22} {sec / 60:5.1f} min, {how}, val macro-F1 {h['val_macro_f1']:.3f}")
            if args.out:
                from models.evaluate import draw_report

                args.out.mkdir(parents=True, exist_ok=True)
                stem = f"{text_mode}-{image_encoder}"
                (args.out / f"{stem}.md").write_text(res.report.markdown(f"bench {stem}"))
                draw_report(res.report, args.out / f"{stem}.png")

    print("\n## macro-F1 on the test corpus (separate seed)\n")
    labels = list(results[0][2].schema.names)
    print("| text | image | variant | " + " | ".join(labels) + " | train min | score calls/s |")
    print("| --- | --- | --- |" + " ---: |" * (len(labels) + 2))
    for text_mode, enc, res, minutes, rate in results:
        for variant, per_label in res.report.variants.items():
            kept = " (kept)" if variant == res.report.variant else ""
            print(f"| {text_mode} | {enc} | {variant}{kept} | " + " | ".join(f"{per_label[lab].macro_f1:.3f}" for lab in labels)
                  + f" | {res.seconds['train.' + variant] / 60:.1f} | {rate:.0f} |")
    print("\n## targets\n")
    for text_mode, enc, res, minutes, rate in results:
        v = res.report.variants
        for lab in TARGET_LABELS:
            if lab not in v[res.report.variant]:
                continue
            fused = v[res.report.variant][lab].macro_f1
            singles = [s[lab].macro_f1 for name, s in v.items() if not name.startswith("fused")]
            single = max(singles) if singles else float("nan")  # text only (with n-grams or not), audio only
            print(f"- {text_mode}/{enc} {lab}: fused {fused:.3f} (>= 0.90: {'yes' if fused >= 0.9 else 'NO'}), "
                  f"gain over best single {fused - single:+.3f} (>= 0.05: {'yes' if fused - single >= 0.05 else 'NO'})")
        print(f"- {text_mode}/{enc} full training run {minutes:.1f} min (<= 15: {'yes' if minutes <= 15 else 'NO'}); "
              f"scoring {rate:.0f} calls/s (>= 20: {'yes' if rate >= 20 else 'NO'})")


if __name__ == "__main__":
    main()
