"""``callqc serve`` (the flows as scheduled Prefect deployments) and ``callqc backfill``.

``serve`` runs the deployments in this process with Prefect's built-in runner; the README shows how to
run the same flows against a Prefect server and a work pool instead.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import typer

from qc.config import Settings

log = logging.getLogger("callqc")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("backfill")(backfill)


def nightly_deployment(cfg: Settings, inbox: Path):
    """``nightly_qc`` on ``cfg.nightly_cron`` in ``cfg.timezone``, over ``inbox``.

    Settings are not baked into the deployment: each run reads ``QC_*`` where it runs (so no database
    password is stored on the Prefect server)."""
    from prefect.client.schemas.schedules import CronSchedule

    from flows.nightly import nightly_qc

    return nightly_qc.to_deployment(
        name="nightly",
        schedules=[CronSchedule(cron=cfg.nightly_cron, timezone=cfg.timezone)],
        parameters={"inbox": str(inbox.resolve())},
        description=f"callqc nightly QC of {inbox.resolve()}",
        tags=["callqc"],
    )


def retrain_deployment(cfg: Settings):
    """``retrain_qc`` on ``cfg.retrain_cron`` in ``cfg.timezone``; None when the classifier area is not
    installed (``flows.retrain`` or what it imports is missing)."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        from flows.retrain import retrain_qc
    except ImportError as exc:
        log.warning("retrain_qc not scheduled: %s", exc)
        return None
    return retrain_qc.to_deployment(
        name="weekly",
        schedules=[CronSchedule(cron=cfg.retrain_cron, timezone=cfg.timezone)],
        description="callqc classifier retraining on the labeled calls",
        tags=["callqc"],
    )


def deployments(cfg: Settings, inbox: Path | None = None) -> list:
    """The deployments ``callqc serve`` runs. Raises ValueError when no inbox is given or set."""
    inbox = inbox or cfg.nightly_inbox
    if inbox is None:
        raise ValueError("no inbox: pass INBOX or set QC_NIGHTLY_INBOX")
    out = [nightly_deployment(cfg, inbox)]
    retrain = retrain_deployment(cfg)
    if retrain is not None:
        out.append(retrain)
    return out


def serve(
    inbox: Path = typer.Argument(None, file_okay=False, help="Inbox of the nightly run (default: QC_NIGHTLY_INBOX)."),
    nightly_cron: str = typer.Option(None, "--nightly-cron", help="Override QC_NIGHTLY_CRON (default 0 2 * * *)."),
    retrain_cron: str = typer.Option(None, "--retrain-cron", help="Override QC_RETRAIN_CRON (default 0 4 * * 0)."),
    timezone: str = typer.Option(None, "--timezone", help="Override QC_TIMEZONE (IANA name, default UTC)."),
) -> None:
    """Serve nightly_qc (and retrain_qc, when installed) on their schedules until stopped (Ctrl-C)."""
    from prefect import serve as prefect_serve
    from pydantic import ValidationError

    from qc.config import get_settings

    overrides = {k: v for k, v in (("nightly_cron", nightly_cron), ("retrain_cron", retrain_cron),
                                   ("timezone", timezone)) if v}
    try:
        cfg = get_settings(**overrides)
        deps = deployments(cfg, inbox)
    except (ValidationError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    for dep in deps:
        typer.echo(f"{dep.flow_name}/{dep.name}: {', '.join(s.schedule.cron for s in dep.schedules)} "
                   f"({cfg.timezone})")
    prefect_serve(*deps)


def parse_date(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def backfill(
    inbox: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory of recordings (+ calls.csv)."),
    date_from: str = typer.Option(..., "--from", help="First call date to process (YYYY-MM-DD, inclusive)."),
    date_to: str = typer.Option(..., "--to", help="Last call date to process (YYYY-MM-DD, inclusive)."),
    reprocess: bool = typer.Option(False, "--reprocess", help="Process calls already in the warehouse again."),
) -> None:
    """Process the calls of INBOX dated FROM..TO (calls.csv started_at, else the file's date, UTC)."""
    from flows.cli_run import format_summary
    from flows.nightly import run_nightly
    from qc.config import get_settings

    start, end = parse_date(date_from), parse_date(date_to)
    if start > end:
        raise typer.BadParameter(f"--from {start} is after --to {end}")
    cfg = get_settings()
    summary = run_nightly(inbox, cfg, reprocess=reprocess, date_from=start, date_to=end)
    typer.echo(format_summary(summary, cfg))
