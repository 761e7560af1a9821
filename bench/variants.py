"""Which fusions earn their place: each training variant cross-validated alone, side by side with the
default training and the built-in baseline, on the same grouped folds of a warehouse's labelled calls.

    QC_DATA_DIR=DIR python -m bench.variants [--folds 4] [--group-by agent_id] [--variants a,b,...]
                                             [--ngram-buckets N]

``DIR`` is a data directory that ``callqc run`` and ``callqc labels import`` filled (e.g. the one
``python -m bench.ravdess --work W`` leaves at ``W/data``). Every variant goes through
:func:`models.crossval.cross_validate` exactly as ``callqc eval classifier`` runs the default, so the
folds, the agents' speech baselines and the baseline's predictions are the same for all of them.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qc  # noqa: E402,F401  (telemetry off first)

DEFAULT = "default"


def main(argv: list[str] | None = None) -> None:
    from flows.cli_eval import GROUP_BY, call_groups
    from models.crossval import BASELINE, MODEL, cross_validate
    from qc.call_features import FeatureStore
    from flows.training import labels_from_warehouse
    from models.train import TrainConfig
    from qc.config import get_settings
    from warehouse import Warehouse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--group-by", default="agent_id", choices=GROUP_BY)
    ap.add_argument("--variants", default=f"{DEFAULT},fused_concat,fused_concat-images",
                    help=f"Comma-separated; {DEFAULT!r} is the default training (its variants, its choice).")
    ap.add_argument("--ngram-buckets", type=int, default=None,
                    help="The text branch's lexical channel's buckets (default: the model's; 0: off).")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    cfg = get_settings()
    base = TrainConfig.from_settings(cfg, seed=args.seed, progress=False, ngram_buckets=args.ngram_buckets)
    with Warehouse.open(cfg) as wh:
        data = labels_from_warehouse(wh)
        agents = call_groups(wh, "agent_id")
        groups = None if args.group_by == "none" else (
            agents if args.group_by == "agent_id" else call_groups(wh, args.group_by))
    if not data.rows:
        raise SystemExit(f"no labels in {cfg.data_dir}: fill it with callqc run and callqc labels import")
    store = FeatureStore.for_settings(cfg)
    results = {}
    for variant in args.variants.split(","):
        tcfg = base if variant == DEFAULT else replace(base, variants=(variant,))
        t0 = time.perf_counter()
        try:
            report = cross_validate(data, store, tcfg, groups, folds=args.folds, group_by=args.group_by,
                                    agents=agents)
        except ValueError as exc:  # a variant name training does not know: the others still compare
            print(f"{variant}: {exc}", flush=True)
            continue
        results[variant] = (report, time.perf_counter() - t0)
        print(f"{variant}: mean macro-F1 {report.mean_f1():.3f}, kept {', '.join(sorted(set(report.kept)))} "
              f"({results[variant][1] / 60:.1f} min)", flush=True)

    if not results:
        raise SystemExit("no variant trained")
    first = next(iter(results.values()))[0]
    labels = list(first.systems[MODEL])
    print(f"\n## Each variant alone: {args.folds}-fold cross-validation grouped by {args.group_by} "
          f"({first.calls} labelled calls, {first.groups} groups)\n")
    print("| variant | " + " | ".join(f"{lab} macro-F1 (95% interval)" for lab in labels) + " | minutes |")
    print("| --- |" + " --- |" * len(labels) + " ---: |")
    for variant, (report, seconds) in results.items():
        cells = [f"{r.metrics.macro_f1:.3f} ({r.interval[0]:.3f}..{r.interval[1]:.3f})"
                 for r in (report.systems[MODEL][lab] for lab in labels)]
        print(f"| {variant} | " + " | ".join(cells) + f" | {seconds / 60:.1f} |")
    cells = [f"{r.metrics.macro_f1:.3f} ({r.interval[0]:.3f}..{r.interval[1]:.3f})"
             for r in (first.systems[BASELINE][lab] for lab in labels)]
    print("| baseline (logistic regression, MFCC + eGeMAPS) | " + " | ".join(cells) + " | |")


if __name__ == "__main__":
    main()
