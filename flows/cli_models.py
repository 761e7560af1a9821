"""``callqc train``, ``callqc models list|promote|rollback``, ``callqc labels import``: thin shells over
:mod:`models` and :mod:`warehouse`."""

from __future__ import annotations

import csv
from pathlib import Path

import typer


def _settings():  # type: ignore[no-untyped-def]
    from qc.config import get_settings

    return get_settings()


def read_label_csv(path: Path) -> list[tuple[str, ...]]:
    """``call_id,label,value`` rows, with ``start,end`` (seconds) where the file has those columns: a
    row with both labels that span of the call (an utterance), one with neither the whole call
    (header required; call_id as the inbox named the call)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"call_id", "label", "value"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise typer.BadParameter(f"{path}: need the columns call_id,label,value; found {reader.fieldnames}")
        spans = {"start", "end"} <= set(reader.fieldnames)
        if not spans and ({"start", "end"} & set(reader.fieldnames)):
            raise typer.BadParameter(f"{path}: a span needs both the columns start and end")
        if spans:
            return [(r["call_id"] or "", r["label"] or "", r["value"] or "", r["start"] or "", r["end"] or "")
                    for r in reader]
        return [(r["call_id"] or "", r["label"] or "", r["value"] or "") for r in reader]


def format_scores(frame, limit: int) -> str:  # type: ignore[no-untyped-def]
    """One line per call: its id, agent and, per label, ``value (confidence)`` and the human label."""
    lines = []
    for n, (call, rows) in enumerate(frame.groupby("external_id", sort=True)):
        if n == limit:
            lines.append(f"... {frame['external_id'].nunique() - limit} more calls")
            break
        cells = []
        for _, r in rows.iterrows():
            human = f", analyst: {r['human_value']}" if isinstance(r["human_value"], str) else ""
            cells.append(f"{r['label']}={r['value']} ({r['confidence']:.2f}{human})")
        lines.append(f"{call}  {rows['agent_id'].iloc[0] or '-'}  " + "  ".join(cells))
    lines.append(f"model {frame['model_version'].iloc[0]}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        text_mode: str = typer.Option("frozen", "--text-mode", help="frozen | finetune | lora"),
        train_layers: int = typer.Option(1, "--train-layers", min=1, help="MiniLM top layers trained or adapted."),
        image_encoder: str = typer.Option("", "--image-encoder",
                                          help="scratch | efficientnet-lite0 | a weights path (default: QC_IMAGE_ENCODER)"),
        ngram_buckets: int = typer.Option(None, "--ngram-buckets", min=0, show_default=False,
                                          help="Text branch's lexical channel (hashed word 1-2 grams per "
                                               "role): this many buckets (default 8192); 0 turns it off."),
        epochs: int = typer.Option(60, "--epochs", min=1, help="Most epochs (early stopping ends sooner)."),
        seed: int = typer.Option(0, "--seed"),
        promote: bool = typer.Option(True, "--promote/--no-promote", help="Promote if better than the promoted one."),
    ) -> None:
        """Train the classifier on the warehouse's labeled calls, evaluate it, register it, promote if better."""
        from flows.training import retrain
        from models.train import TrainConfig
        from warehouse import Warehouse

        cfg = _settings()
        if text_mode not in ("frozen", "finetune", "lora"):
            raise typer.BadParameter("--text-mode must be frozen, finetune or lora")
        tcfg = TrainConfig.from_settings(cfg, text_mode=text_mode, train_layers=train_layers,
                                         image_encoder=image_encoder, ngram_buckets=ngram_buckets, seed=seed,
                                         max_epochs=epochs)
        with Warehouse.open(cfg) as wh:
            try:
                out = retrain(cfg, wh, tcfg, promote=promote)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
        typer.echo(out.result.report.table())
        typer.echo(f"version {out.version} at {out.artifact}")
        if out.comparison is not None:
            typer.echo(("promoted: " if out.promoted else "not promoted: ") + out.comparison.reason)

    @app.command("rescore")
    def rescore_(
        date_from: str = typer.Option(None, "--from", help="First call date to rescore (YYYY-MM-DD, inclusive)."),
        date_to: str = typer.Option(None, "--to", help="Last call date to rescore (YYYY-MM-DD, inclusive)."),
        missing_only: bool = typer.Option(False, "--missing-only",
                                          help="Only calls the promoted model has not scored yet."),
    ) -> None:
        """Score stored calls again with the promoted model from their stored features (no decoding, no
        ASR); their QA scores are recomputed and stored in SQL and Parquet."""
        from flows.cli_orchestrate import parse_date
        from flows.scoring import rescore
        from warehouse import Warehouse

        start = parse_date(date_from) if date_from else None
        end = parse_date(date_to) if date_to else None
        if start and end and start > end:
            raise typer.BadParameter(f"--from {start} is after --to {end}")
        cfg = _settings()
        with Warehouse.open(cfg) as wh:
            try:
                report = rescore(cfg, wh, date_from=start, date_to=end, missing_only=missing_only)
            except LookupError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(1) from exc
        typer.echo(report.describe())

    @app.command("scores")
    def scores_(
        limit: int = typer.Option(50, "--limit", min=1, help="Most calls to print."),
        label: str = typer.Option(None, "--label", help="Only this label."),
    ) -> None:
        """Each call's scores by the promoted model (value and confidence per label), beside the
        analyst's label where there is one."""
        from warehouse import Warehouse, queries

        with Warehouse.open(_settings()) as wh:
            frame = queries.call_scores(wh, promoted_only=True, label=label)
        if frame.empty:
            typer.echo("no scores by a promoted model: `callqc train` then `callqc rescore`")
            raise typer.Exit(0)
        typer.echo(format_scores(frame, limit))

    models = typer.Typer(no_args_is_help=True, help="Registered classifier versions.")

    @models.command("list")
    def list_() -> None:
        """Every registered version, newest first (* = promoted)."""
        from warehouse import Warehouse

        with Warehouse.open(_settings()) as wh:
            frame = wh.model_versions()
        if frame.empty:
            typer.echo("no model versions registered")
            return
        for _, row in frame.iterrows():
            f1 = (row["metrics"] or {}).get("mean_macro_f1")
            score = f"mean macro-F1 {f1:.3f}" if isinstance(f1, int | float) else "no metrics"
            created = row["created_at"].strftime("%Y-%m-%d %H:%M")
            labels_ = ",".join((row["label_schema"] or {}).keys())
            typer.echo(f"{'*' if row['promoted'] else ' '} {row['version']}  created {created}  labels {labels_}  {score}")

    @models.command("promote")
    def promote_(version: str = typer.Argument(..., help="The version to promote.")) -> None:
        """Promote a version by hand (scores from now on come from it)."""
        from warehouse import Warehouse

        with Warehouse.open(_settings()) as wh:
            try:
                mv = wh.promote(version)
            except KeyError as exc:
                raise typer.BadParameter(str(exc)) from exc
        typer.echo(f"promoted {mv.version}")

    @models.command("rollback")
    def rollback() -> None:
        """Undo the latest promotion: the version promoted before it is promoted again."""
        from warehouse import Warehouse

        with Warehouse.open(_settings()) as wh:
            try:
                mv = wh.rollback()
            except LookupError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(1) from exc
        typer.echo(f"rolled back: {mv.version} is promoted")

    app.add_typer(models, name="models")

    labels = typer.Typer(no_args_is_help=True, help="Human labels for training.")

    @labels.command("import")
    def import_(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: call_id,label,value[,start,end]"),  # noqa: B008
        who: str = typer.Option("import", "--who", help="Who labeled (stored with each label)."),
    ) -> None:
        """Import labels, all or nothing: unknown call ids are reported and nothing is imported. With
        ``start,end`` columns (seconds) a row labels that span of the call (an utterance: the model learns
        it from the turns in the span and scores every turn); an empty span labels the whole call."""
        from warehouse import Warehouse

        rows = read_label_csv(file)
        with Warehouse.open(_settings()) as wh:
            report = wh.import_labels(rows, who=who, source=f"csv:{file.name}")
        typer.echo(report.describe())
        if not report.ok:
            raise typer.Exit(1)

    app.add_typer(labels, name="labels")
