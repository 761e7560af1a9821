"""``callqc eval diarization|asr|classifier``: measure the speech front-end on labelled audio, and the
classifier by cross-validation on the warehouse's labelled calls.

Both read what ``callqc synth --out DIR`` writes: ``--audio DIR/audio --rttm DIR/rttm`` for
diarization, ``--audio DIR/audio --ref DIR`` (or ``--ref FILE.tsv``) for ASR. The last line printed is
the overall number (``DER <value>`` / ``WER <value>``), for scripts.
"""

from __future__ import annotations

from pathlib import Path

import typer

eval_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Measure diarization (DER, JER) and transcription (WER).")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("diarization")
def diarization(
    audio: Path = typer.Option(..., "--audio", exists=True, file_okay=False, help="Directory of call audio."),
    rttm: Path = typer.Option(..., "--rttm", exists=True, file_okay=False,
                              help="Directory of reference RTTM files, one per call, named like the audio."),
    collar: float = typer.Option(0.25, "--collar", min=0.0,
                                 help="Seconds forgiven each side of every reference boundary."),
    backend: str | None = typer.Option(None, "--backend",
                                       help="channels | embedded | pyannote (default: by layout)."),
) -> None:
    """Diarize every audio file that has a reference RTTM; print per-file DER/JER and the overall DER."""
    from qc.config import get_settings
    from qc.evaluate import evaluate_diarization

    cfg = get_settings()
    try:
        report = evaluate_diarization(audio, rttm, cfg, collar=collar, backend=backend)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(report.table())
    typer.echo(report.summary())


@eval_app.command("asr")
def asr(
    audio: Path = typer.Option(..., "--audio", exists=True, file_okay=False, help="Directory of call audio."),
    ref: Path = typer.Option(..., "--ref", exists=True,
                             help="file<TAB>text TSV, or a `callqc synth` corpus directory."),
    model: str | None = typer.Option(None, "--model", help="tiny.en | base | a faster-whisper path or id."),
) -> None:
    """Transcribe every audio file that has a reference text; print per-file and overall WER."""
    from qc.assets import ModelNotFound
    from qc.config import get_settings
    from qc.evaluate import evaluate_asr

    cfg = get_settings(**({"asr_model": model} if model else {}))
    try:
        report = evaluate_asr(audio, ref, cfg)
    except (FileNotFoundError, ValueError, ModelNotFound) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(report.table())
    typer.echo(f"model {cfg.asr_model}")
    typer.echo(report.summary())


GROUP_BY = ("agent_id", "queue", "call_date", "none")


def call_groups(wh, column: str) -> dict[str, str]:
    """call id -> its ``column`` value (agent_id, queue or call_date) for every stored call."""
    from warehouse import queries

    frame = queries.calls(wh)
    return {str(c): str(v) for c, v in zip(frame["call_id"], frame[column]) if v is not None and str(v) != "NaT"}


@eval_app.command("classifier")
def classifier(
    label: list[str] = typer.Option(None, "--label", help="A label to evaluate (repeatable; default: all)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds."),
    group_by: str = typer.Option("agent_id", "--group-by",
                                 help="agent_id | queue | call_date | none: no group in both training and test."),
    out: Path = typer.Option(None, "--out", file_okay=False,
                             help="Directory for the report (markdown + PNG); default: DATA_DIR/reports."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Cross-validate the training configuration on the warehouse's labelled calls (groups kept apart),
    beside the built-in baseline on the same folds; the last line is ``F1 <mean macro-F1>``."""
    from models.crossval import cross_validate
    from qc.call_features import FeatureStore
    from flows.training import labels_from_warehouse
    from models.train import TrainConfig
    from qc.config import get_settings
    from warehouse import Warehouse

    if group_by not in GROUP_BY:
        raise typer.BadParameter(f"--group-by must be one of {', '.join(GROUP_BY)}")
    cfg = get_settings()
    tcfg = TrainConfig.from_settings(cfg, seed=seed, progress=False)
    with Warehouse.open(cfg) as wh:
        data = labels_from_warehouse(wh)
        agents = call_groups(wh, "agent_id")
        groups = None if group_by == "none" else (agents if group_by == "agent_id" else call_groups(wh, group_by))
    if not data.rows:
        raise typer.BadParameter("the warehouse holds no labels: import some with `callqc labels import`")
    try:
        report = cross_validate(data, FeatureStore.for_settings(cfg), tcfg, groups, folds=folds,
                                labels=label or None, group_by=group_by, agents=agents, progress=typer.echo)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    out = out or cfg.data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "classifier-cv.md").write_text(report.markdown() + "\n", encoding="utf-8")
    report.draw(out / "classifier-cv.png")
    typer.echo(report.table())
    typer.echo(f"report: {out / 'classifier-cv.md'}, {out / 'classifier-cv.png'}")
    typer.echo(f"F1 {report.mean_f1():.4f}")
