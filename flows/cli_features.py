"""``callqc features backfill``: the classifier's features of stored calls, computed again
(:mod:`flows.features`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    features = typer.Typer(no_args_is_help=True, help="The classifier's stored features of the calls.")

    @features.command("backfill")
    def backfill(
        call_ids: list[str] = typer.Argument(None, help="Only these calls (default: every stored call)."),
        everything: bool = typer.Option(False, "--all", help="Also the calls whose features are current."),
    ) -> None:
        """Compute the features of the stored calls whose features are missing or older than the current
        ones, from their audio and stored analysis (no speech recognition again; roles corrected by hand
        stay). Exits 1 when a call could not be done, naming it and why."""
        from flows.features import backfill_features
        from qc.config import get_settings

        report = backfill_features(get_settings(), call_ids or None, everything=everything,
                                   on_call=lambda call_id, outcome: typer.echo(f"{call_id}  {outcome}", err=True))
        typer.echo(report.describe())
        if report.failed:
            raise typer.Exit(1)

    app.add_typer(features, name="features")
