"""``callqc run INBOX``: the nightly flow over one inbox, with a per-call summary table."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    inbox: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory of recordings (+ calls.csv)."),
    reprocess: bool = typer.Option(False, "--reprocess", help="Process calls already in the warehouse again."),
) -> None:
    """Run the nightly QC flow over INBOX and print where the results went."""
    from flows.nightly import run_nightly
    from qc.config import get_settings

    cfg = get_settings()
    summary = run_nightly(inbox, cfg, reprocess=reprocess)
    typer.echo(format_summary(summary, cfg))


def format_summary(summary, cfg) -> str:
    rows = [("call", "status", "layout", "audio s", "words", "agent talk", "QA", "note")]
    for o in summary.outcomes:
        done = o.status == "processed"
        ratio = f"{o.talk_ratio_agent:.0%}" if done and o.talk_ratio_agent is not None else "-"
        qa = f"{o.qa_score:.0f} {'pass' if o.qa_passed else 'FAIL'}" if done and o.qa_score is not None else "-"
        rows.append((o.external_id[:28], o.status, o.layout or "-", f"{o.audio_seconds:.1f}" if done else "-",
                     str(o.words) if done else "-", ratio, qa,
                     (o.reason or ("QUALITY: " + "; ".join(o.quality_flags) if o.quality_flags else ""))[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
    return (
        f"{table}\n\nrun {summary.run_id}: {summary.count('processed')} processed, "
        f"{summary.count('rejected')} rejected, {summary.count('skipped')} skipped, "
        f"{summary.audio_seconds / 60:.1f} audio minutes"
        + (f", mean QA score {summary.mean_qa_score:.1f}, {summary.flagged} failed QA" if summary.mean_qa_score
           is not None else "")
        + (f", {len(summary.quality_issues)} with quality issues" if summary.quality_issues else "")
        + (f"; models loaded in {summary.loading_seconds:.1f} s" if summary.loading_seconds else "") + "\n"
        f"SQL:     {cfg.db_url if '@' not in cfg.db_url else cfg.public_dict()['database_url']}\n"
        f"Parquet: {cfg.parquet_dir.resolve()}"
    )
