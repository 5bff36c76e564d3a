"""mfg audit log|verify|anchor|rotate-key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command, refuse

audit_app = typer.Typer(help="The keyed, hash-chained audit trail.", no_args_is_help=True)
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
def audit_verify(
    cli: Cli,
    anchor: Annotated[
        Path | None,
        typer.Option(help="Compare with this checkpoint file (from `mfg audit anchor -o`)."),
    ] = None,
    since_checkpoint: Annotated[
        bool,
        typer.Option(
            "--since-checkpoint",
            help="Check the chain only after the last verified checkpoint (nightly runs); "
            "every record is still checked.",
        ),
    ] = False,
) -> None:
    """Check the keyed chain, the newest checkpoint and every record; exit 1 naming the first
    bad event or each record and field that differs from the trail.

    A full pass that finds nothing is recorded beside the key, so that --since-checkpoint can
    start from it.

    Example: mfg audit verify --user qa --anchor /mnt/offsite/celltrail-anchor-2026-12-01.json
    """
    from mfg.services import audit_trail

    r = audit_trail.verify(
        db=cli.database(),
        actor=cli.actor(),
        anchor=anchor,
        since_checkpoint=since_checkpoint,
        now=cli.now,
    )
    if cli.json:
        from mfg.cli._common import print_json

        print_json(r)
        if not r.ok:
            raise typer.Exit(code=1)
        return
    _report(cli, r)


def _report(cli: Cli, r: object) -> None:
    import sys

    from mfg.audit import ChainReport

    assert isinstance(r, ChainReport)
    if not r.ok and r.first_bad_seq is not None:
        raise refuse(
            f"audit trail broken at event {r.first_bad_seq}: {r.problem}", "audit-chain-broken"
        )
    if not r.ok and r.problem:
        raise refuse(f"audit trail: {r.problem}", "audit-checkpoint-damaged")
    if not r.ok:
        for p in r.record_problems[1:]:
            sys.stderr.write(f"  also: {p}\n")
        raise refuse(
            f"{len(r.record_problems)} record(s) differ from the audit trail; first: "
            f"{r.record_problems[0]}",
            "record-differs-from-trail",
        )
    if r.started_after and not r.events:  # --since-checkpoint with nothing new since it
        scope = f"no events after verified event {r.started_after}"
    elif r.started_after:
        scope = f"events {r.started_after + 1}..{r.head_seq}"
    else:
        scope = f"{r.events} events"
    cli.out.print(
        f"audit trail intact: {scope}, head {r.head_seq}:{r.head_hash[:16]}...; "
        f"{r.records_checked} records match the trail; {r.checkpoint or 'no checkpoint'}",
        markup=False,
    )


@command(audit_app, "anchor")
def audit_anchor(
    cli: Cli,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Write the checkpoint to this new file.")
    ],
) -> None:
    """Export the trail's head as a keyed checkpoint, to keep where no database user can reach
    it (another server, a write-once medium, a signed e-mail).

    `mfg audit verify --anchor FILE` later proves the trail still holds everything up to it.

    Example: mfg audit anchor -o /mnt/offsite/celltrail-anchor-$(date +%F).json --user qa
    """
    from mfg.services import audit_trail

    cp = audit_trail.anchor(db=cli.database(), actor=cli.actor(), out=output, now=cli.now)
    cli.emit(
        cp,
        lambda: cli.out.print(f"anchor written to {output}: {cp.short}", markup=False),
    )


@command(audit_app, "rotate-key")
def audit_rotate_key(cli: Cli) -> None:
    """Start chaining new events with a new audit key; older keys stay in the key file so that
    older events keep verifying. Back up the key file again afterwards.

    Example: mfg audit rotate-key --user admin
    """
    from mfg.services import audit_trail

    ring = audit_trail.rotate_key(db=cli.database(), actor=cli.actor(), now=cli.now)
    cli.emit(
        {"key_id": ring.current, "key_file": str(ring.path), "keys": sorted(ring.keys)},
        lambda: cli.out.print(
            f"new audit key {ring.current} in {ring.path} ({len(ring.keys)} keys); "
            "back the key file up now",
            markup=False,
        ),
    )
