"""``callqc calls swap-roles CALL_ID``: corrections to stored calls (:mod:`flows.corrections`)."""

from __future__ import annotations

import getpass

import typer


def register(app: typer.Typer) -> None:
    calls = typer.Typer(no_args_is_help=True, help="Corrections to stored calls.")

    @calls.command("swap-roles")
    def swap_roles_(
        call_id: str = typer.Argument(..., help="The call's id (its SHA-256) or its external id."),
        who: str = typer.Option("", "--who", help="Who corrects it (default: the login name)."),
    ) -> None:
        """Swap agent and customer on a stored call; metrics, rules, QA score and model scores are
        computed again from stored data (no decoding, no ASR)."""
        from flows.corrections import metric_changes, swap_roles
        from qc.config import get_settings
        import sqlalchemy as sa

        from warehouse import Warehouse
        from warehouse.schema import Call

        cfg = get_settings()
        with Warehouse.open(cfg) as wh:
            c = Call.__table__.c
            with wh.engine.connect() as con:
                match = list(con.execute(sa.select(c.call_id).where(
                    sa.or_(c.call_id == call_id, c.external_id == call_id))).scalars())
            if len(match) != 1:
                raise typer.BadParameter(f"{len(match)} stored calls have the id {call_id!r}" if match
                                         else f"no stored call has the id {call_id!r}")
            cid = str(match[0])
            before = wh.load_call(cid)
        after = swap_roles(cfg, cid, who or getpass.getuser())
        changed = metric_changes(before.metrics, after.metrics)
        qa = f"QA score {before.qa.score:g} -> {after.qa.score:g}" if before.qa and after.qa else "QA score -"
        typer.echo(f"roles swapped on {after.call.external_id} ({cid}); {qa}; "
                   f"{len(changed)} metrics changed; {len(after.scores)} model scores")
        for name, (a, b) in sorted(changed.items()):
            typer.echo(f"  {name}: {a} -> {b}")

    app.add_typer(calls, name="calls")
