"""``callqc agents list|forget``: the agents' enrolled voiceprints (:mod:`qc.voiceprint`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    agents = typer.Typer(no_args_is_help=True, help="Agents' voiceprints (biometric data).")

    @agents.command("list")
    def list_() -> None:
        """Agents with an enrolled voiceprint: from how many calls and seconds of speech."""
        from qc.config import get_settings
        from warehouse import Warehouse

        with Warehouse.open(get_settings()) as wh:
            frame = wh.voiceprints()
        if frame.empty:
            typer.echo("no voiceprint enrolled")
            return
        for row in frame.itertuples():
            typer.echo(f"{row.agent_id}\t{row.calls} calls\t{row.seconds:.0f} s\tupdated {row.updated_at}")

    @agents.command("forget")
    def forget(agent_id: str = typer.Argument(..., help="The agent whose voiceprint is deleted."),
               call_id: str = typer.Option(None, "--call", help="Only take this call's voice out of it.")) -> None:
        """Delete an agent's voiceprint (it is enrolled again from their next stereo calls unless
        QC_VOICEPRINTS=false), or, with --call, take one call's voice out of it (a call whose roles
        were wrong)."""
        from qc.config import get_settings
        from warehouse import Warehouse

        with Warehouse.open(get_settings()) as wh:
            if call_id is not None:
                try:
                    gone = wh.unenrol_voice(agent_id, call_id)
                except ValueError as exc:
                    raise typer.BadParameter(str(exc)) from exc
                if not gone:
                    raise typer.BadParameter(f"call {call_id!r} is not in the voiceprint of {agent_id!r}")
                typer.echo(f"call {call_id} taken out of the voiceprint of {agent_id}")
                return
            gone = wh.forget_voice(agent_id)
        if not gone:
            raise typer.BadParameter(f"no voiceprint is enrolled for agent {agent_id!r}")
        typer.echo(f"voiceprint of {agent_id} deleted")

    app.add_typer(agents, name="agents")
