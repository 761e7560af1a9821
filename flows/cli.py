"""The ``callqc`` command line. Each area registers its own Typer sub-app from its own module."""

from __future__ import annotations

from pathlib import Path

import typer

import qc  # noqa: F401  (telemetry off first)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Quality inspection of recorded calls.")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Directory to write the corpus into."),
    calls: int = typer.Option(10, "--calls", min=1, help="Number of calls."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same corpus."),
    layout: str = typer.Option("stereo", "--layout", help="stereo | mono | mixed"),
    snr: float | None = typer.Option(None, "--snr", help="Background noise SNR in dB (default: varied per call)."),
    tts: str = typer.Option("flite", "--tts", help="Speech engine: flite (default) | espeak (espeak-ng)."),
) -> None:
    """Generate a synthetic labeled corpus of call recordings (TTS dialogues with their truth)."""
    from qc.synth import generate_corpus
    from qc.synth.voices import SynthesisError

    try:
        summary = generate_corpus(out, calls=calls, seed=seed, layout=layout, snr_db=snr, tts=tts)
    except (ValueError, SynthesisError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(summary.describe())


def _register_subapps() -> None:
    # each area registers its own commands
    import importlib

    for module_name in (
        "flows.cli_run",
        "flows.cli_db",
        "flows.cli_calls",
        "flows.cli_agents",
        "flows.cli_features",
        "flows.cli_eval",
        "flows.cli_models",
        "flows.cli_dashboard",
        "flows.cli_orchestrate",
    ):
        importlib.import_module(module_name).register(app)
    # commands of other installed parts (``callqc bench``), registered under the entry-point group
    from importlib.metadata import entry_points

    for entry in entry_points(group="callqc.commands"):
        entry.load()(app)


_register_subapps()


if __name__ == "__main__":
    app()
