"""``callqc bench``: the performance and quality tables (:mod:`bench.suite`). The command line finds it
through the ``callqc.commands`` entry point (pyproject.toml), so that ``flows`` does not import ``bench``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        minutes: float = typer.Option(30.0, "--minutes", min=2.0, help="Audio in the corpus, half mono, half stereo (at least 5 calls a half)."),
        seed: int = typer.Option(2026, "--seed", help="Corpus seed (the mono half; stereo uses seed + 1)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (ASR and the models)."),
        whisperx: bool = typer.Option(True, "--whisperx/--no-whisperx",
                                      help="Also time WhisperX (makes bench/.venv-whisperx once: several GB)."),
        side_calls: int = typer.Option(4, "--side-calls", min=1, help="Stereo calls in the side-by-side timing."),
        out: Path = typer.Option(Path("bench/results"), "--out", help="Where the JSON and latest.md go."),  # noqa: B008
        readme: bool = typer.Option(True, "--readme/--no-readme", help="Put the table into README.md's bench section."),
    ) -> None:
        """Run the whole nightly pipeline on a fixed synthetic corpus and print speed and quality tables."""
        from bench.suite import run

        if device not in ("auto", "cpu", "cuda"):
            raise typer.BadParameter("--device must be auto, cpu or cuda")
        from bench.suite import HERE

        run(minutes=minutes, seed=seed, device=device, whisperx=whisperx, out_dir=out, side_calls=side_calls,
            readme=HERE.parent / "README.md" if readme else None, log=lambda m: typer.echo(m))
