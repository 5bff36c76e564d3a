"""mfg coi start|list: patient therapy events and their ISBT 128 Chain of Identity Identifier."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

coi_app = typer.Typer(
    help="Chain of identity: one ISBT 128 CoI per patient therapy event.", no_args_is_help=True
)
app.add_typer(coi_app, name="coi")


def _show(cli: Cli, v) -> None:  # type: ignore[no-untyped-def]
    lots = ", ".join(v.lots) or "no lots yet"
    cli.out.print(f"{v.subject_id}  CoI {v.coi_eye_readable}  ({lots})", markup=False)
    cli.out.print(
        f"  started {cli.local(v.started_at)} by {v.started_by}: {v.reason}", markup=False
    )


@command(coi_app, "start")
def coi_start(
    cli: Cli,
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="Trial subject id.")],
    reason: Annotated[str, typer.Option(help="Why a new therapy event starts (audited).")],
) -> None:
    """Start a new therapy event (a new CoI) for a subject's next treatment (QA). Lots
    registered from now on carry the new CoI; a re-manufacture of the same treatment does not
    need this (it keeps the CoI).

    Example: mfg coi start S-001 --reason "retreatment after relapse, protocol amendment 3"
    """
    from mfg.services import therapy

    actor = cli.actor()
    v = therapy.start_event(subject, reason, db=cli.database(), actor=actor, now=cli.now)
    cli.emit(v, lambda: _show(cli, v))


@command(coi_app, "list")
def coi_list(
    cli: Cli,
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="Trial subject id.")],
) -> None:
    """The therapy events of a subject, oldest first, with their CoI and lots.

    Example: mfg coi list S-001 --json
    """
    from mfg.services import therapy

    actor = cli.actor()
    events = therapy.list_events(subject, db=cli.database(), actor=actor)

    def human() -> None:
        for v in events:
            _show(cli, v)

    cli.emit(events, human)
