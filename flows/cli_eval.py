"""``callqc eval diarization|asr``: measure the speech front-end on labelled audio.

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
