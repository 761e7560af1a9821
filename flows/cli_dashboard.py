"""``callqc dashboard [--port N] [--host ADDR]`` and ``callqc dashboard hash-password``.

The dashboard is the Streamlit app in ``dashboards/app.py``; this module only builds the ``streamlit
run`` command line (headless, no telemetry, no file watcher, the given address) and replaces itself
with it. The app reads its settings from the same ``QC_*`` environment, which the server inherits.
Nothing here imports :mod:`dashboards` (it is started as a script, or run as ``python -m``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def streamlit_command(host: str, port: int, app: Path = APP) -> list[str]:
    """The argv that serves the dashboard on ``host:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
    ]


def streamlit_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the caller's (``QC_*`` settings included) with telemetry off."""
    env = dict(os.environ if base is None else base)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def register(app: typer.Typer) -> None:
    dash = typer.Typer(help="The QA analysts' web dashboard (Streamlit).")

    @dash.callback(invoke_without_command=True)
    def serve(
        ctx: typer.Context,
        port: int | None = typer.Option(
            None, "--port", min=1, max=65535, help="Port (default: QC_DASHBOARD_PORT, 8501)."
        ),
        host: str | None = typer.Option(
            None, "--host", help="Address to listen on (default: QC_DASHBOARD_HOST, 127.0.0.1)."
        ),
    ) -> None:
        """Serve the dashboard until interrupted (settings from QC_*; login when a password hash is set)."""
        if ctx.invoked_subcommand is not None:
            return
        from qc.config import get_settings

        settings = get_settings()  # fail here, with pydantic's message, rather than in the browser
        host = host or settings.dashboard_host
        port = port or settings.dashboard_port
        if not settings.dashboard_password_hash and host not in LOOPBACK:
            typer.secho(
                f"warning: serving on {host} without a login; set QC_DASHBOARD_PASSWORD_HASH "
                "(`callqc dashboard hash-password`)",
                fg=typer.colors.YELLOW,
                err=True,
            )
        where = settings.public_dict()["database_url"]
        typer.echo(f"callqc dashboard: http://{host}:{port}  ({where})", err=True)
        argv = streamlit_command(host, port)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.name == "posix":
            os.execve(sys.executable, argv, streamlit_env())  # the server gets this process's signals
        raise typer.Exit(subprocess.call(argv, env=streamlit_env()))

    @dash.command("hash-password")
    def hash_password(
        stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard input."),
    ) -> None:
        """Print a password hash for QC_DASHBOARD_PASSWORD_HASH (asks for the password twice)."""
        argv = [sys.executable, "-m", "dashboards.auth", *(["--stdin"] if stdin else [])]
        # --stdin: hand over what this process was given (the prompt otherwise talks to the terminal)
        given = sys.stdin.read() if stdin else None
        done = subprocess.run(argv, input=given, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise typer.Exit(done.returncode)
        hashed = done.stdout.strip()
        typer.echo(hashed)
        typer.echo(f"\nexport QC_DASHBOARD_PASSWORD_HASH='{hashed}'", err=True)

    app.add_typer(dash, name="dashboard")


if __name__ == "__main__":  # `python -m flows.cli_dashboard dashboard ...`, before flows/cli.py registers it
    import qc  # noqa: F401  (telemetry off first)

    _app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(_app)
    _app()
