"""mfg labels apply|void|reconcile|layouts|approve-layout: label control."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli._common import Cli, command
from mfg.cli.labels import KINDS, _as_dict, _scanned, labels_app


@command(labels_app, "apply")
def labels_apply(
    cli: Cli,
    code: Annotated[
        str,
        typer.Argument(
            metavar="CODE", help="The applied label's QR payload or Data Matrix ('-': stdin)."
        ),
    ],
) -> None:
    """Record that a printed label is on its container: scan it once it is stuck on.

    Example: mfg labels apply "$SCANNED"
    """
    from mfg.services import label_control

    actor = cli.actor()
    v = label_control.apply_label(_scanned(code), db=cli.database(), actor=actor, now=cli.now)
    cli.emit(
        v, lambda: cli.out.print(f"applied: {v.object_ref} (print #{v.print_id})", markup=False)
    )


@command(labels_app, "void")
def labels_void(
    cli: Cli,
    print_id: Annotated[int, typer.Argument(metavar="PRINT", help="Print number (#N).")],
    reason: Annotated[str, typer.Option(help="Why the label is voided (audited).")],
    copies: Annotated[int, typer.Option(help="How many copies of that print.")] = 1,
) -> None:
    """QA voids spoiled or surplus copies of a printed label, with a reason.

    Example: mfg labels void 12 --reason "smudged in the printer, destroyed"
    """
    from mfg.services import label_control

    actor = cli.actor()
    v = label_control.void_labels(
        print_id, reason, copies=copies, db=cli.database(), actor=actor, now=cli.now
    )
    cli.emit(
        v,
        lambda: cli.out.print(
            f"voided {v.quantity} of print #{v.print_id} ({v.object_ref}): {v.reason}",
            markup=False,
        ),
    )


@command(labels_app, "reconcile")
def labels_reconcile(
    cli: Cli,
    lot: Annotated[str, typer.Argument(metavar="LOT", help="Lot number.")],
) -> None:
    """Printed vs applied vs voided labels of a lot, per print (unaccounted copies flagged).

    Example: mfg labels reconcile BH002-26-0001
    """
    from mfg.services import label_control

    actor = cli.actor()
    r = label_control.reconcile(lot, db=cli.database(), actor=actor)
    data = {
        "lot_number": r.lot_number,
        "printed": r.printed,
        "applied": r.applied,
        "voided": r.voided,
        "unaccounted": r.unaccounted,
        "prints": [{**_as_dict(x), "unaccounted": x.unaccounted} for x in r.rows],
    }

    def human() -> None:
        from rich.table import Table

        t = Table(title=f"labels of {r.lot_number}")
        for c in ("print", "kind", "object", "layout", "printed", "applied", "voided", "open"):
            t.add_column(c)
        for x in r.rows:
            t.add_row(
                f"#{x.print_id}",
                x.kind,
                x.object_ref,
                f"v{x.layout_version}" if x.layout_version else "-",
                str(x.printed),
                str(x.applied),
                str(x.voided),
                str(x.unaccounted),
            )
        cli.out.print(t)
        cli.out.print(
            f"printed {r.printed}, applied {r.applied}, voided {r.voided}, "
            f"unaccounted {r.unaccounted}"
        )

    cli.emit(data, human)


@command(labels_app, "layouts")
def labels_layouts(cli: Cli) -> None:
    """The current label layout of each kind: version, definition SHA-256, QA approval.

    Example: mfg labels layouts
    """
    from mfg.services import label_control

    actor = cli.actor()
    rows = label_control.layout_status(db=cli.database(), actor=actor)

    def human() -> None:
        for x in rows:
            who = (
                f"approved by {x.approved_by} {cli.local(x.approved_at)}"
                if x.approved_at
                else "NOT APPROVED"
            )
            cli.out.print(
                f"{x.kind:<14} v{x.version} {x.definition_sha256[:12]}  {who}", markup=False
            )

    cli.emit(rows, human)


@command(labels_app, "approve-layout")
def labels_approve(
    cli: Cli,
    kind: Annotated[str, typer.Argument(metavar="KIND", help=f"Label kind: {KINDS}.")],
    reason: Annotated[str, typer.Option(help="Why it is fit for use, e.g. the verification.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the signing password from stdin (test harnesses); otherwise it is typed.",
        ),
    ] = False,
) -> None:
    """QA approves the current layout of a label kind with an electronic signature (the
    password is asked again); until then CellTrail does not print that kind.

    Example: mfg labels approve-layout dose-bag --reason "LV-014: proofs checked, scans verified"
    """
    from mfg.services import label_control

    actor = cli.actor()
    actor.require("label.approve")  # a role that cannot sign is refused before the password
    password = cli.signing_password(password_stdin)
    v = label_control.approve_layout(
        kind, reason, password, db=cli.database(), actor=actor, now=cli.now
    )
    cli.emit(
        v,
        lambda: cli.out.print(
            f"{v.kind} layout v{v.version} ({v.definition_sha256[:12]}) approved by "
            f"{v.approved_by}",
            markup=False,
        ),
    )
