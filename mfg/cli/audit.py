"""mfg audit log|verify."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command, refuse

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@command(audit_app, "log")
def audit_log(
    cli: Cli,
    lot: Annotated[str | None, typer.Option(help="Only events of this lot.")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this.")] = None,
    last: Annotated[int | None, typer.Option(help="Only the last N events.")] = None,
) -> None:
    """Show audit events (who, when, what, old and new values, reason), oldest first.

    Example: mfg audit log --lot BH002-26-0001 --user qa
    """
    from mfg.services import audit_trail

    events = audit_trail.audit_log(
        db=cli.database(), actor=cli.actor(), lot_number=lot, limit=last, action=action
    )

    def human() -> None:
        from rich.markup import escape
        from rich.table import Table

        t = Table("seq", "when", "user", "action", "record", "change", "reason")
        for e in events:
            change = _change(e.old, e.new)
            t.add_row(
                str(e.seq),
                cli.local(e.at),
                e.username,
                e.action,
                escape(f"{e.entity} {e.entity_id}"),
                escape(change),
                escape(e.reason or ""),
            )
        cli.out.print(t)

    cli.emit(events, human)


def _change(old: object, new: object) -> str:
    import json

    def short(v: object) -> str:
        s = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        return s if len(s) <= 120 else s[:117] + "..."

    if old is None:
        return short(new)
    return f"{short(old)} -> {short(new)}"


@command(audit_app, "verify")
def audit_verify(cli: Cli) -> None:
    """Check the whole hash chain; exit 1 naming the first bad event.

    Example: mfg audit verify --user qa
    """
    from mfg.services import audit_trail

    r = audit_trail.verify(db=cli.database(), actor=cli.actor())
    if cli.json:
        from mfg.cli._common import print_json

        print_json(r)
        if not r.ok:
            raise typer.Exit(code=1)
        return
    if not r.ok and r.first_bad_seq is not None:
        raise refuse(
            f"audit trail broken at event {r.first_bad_seq}: {r.problem}", "audit-chain-broken"
        )
    if not r.ok:
        import sys

        for p in r.record_problems[1:]:
            sys.stderr.write(f"  also: {p}\n")
        raise refuse(
            f"{len(r.record_problems)} record(s) differ from the audit trail; first: "
            f"{r.record_problems[0]}",
            "record-differs-from-trail",
        )
    cli.out.print(
        f"audit trail intact: {r.events} events, head {r.head_hash[:16]}...; "
        f"{r.records_checked} records match the trail"
    )
