"""mfg labels [print]|apply|void|reconcile|layouts|approve-layout, mfg scan, mfg bag ..."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from mfg.cli import app
from mfg.cli._common import Cli, ForceOpt, command, refuse

if TYPE_CHECKING:
    from mfg.services.labels import PrintResult


class _PrintByDefault(TyperGroup):
    """``mfg labels LOT --kind ...`` (no subcommand name) means ``mfg labels print LOT ...``."""

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["print", *args]
        return super().resolve_command(ctx, args)


labels_app = typer.Typer(
    cls=_PrintByDefault,
    help="Container labels: print (the default), apply, void, reconcile, layouts, "
    "approve-layout.\n\nExample: mfg labels BH002-26-0001 --kind dose-bag -o bags.pdf",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")

bag_app = typer.Typer(
    help="Dose bags: chain of custody, each step recorded by scanning the bag's label.",
    no_args_is_help=True,
)
app.add_typer(bag_app, name="bag")

KINDS = "apheresis-bag, pbmc-vial, culture, qc-sample, dose-bag"
PayloadArg = Annotated[
    str,
    typer.Argument(
        metavar="BAG-PAYLOAD",
        help="The bag label's QR payload, as the scanner types it ('-': read one line from stdin).",
    ),
]


def _scanned(text: str) -> str:
    """The payload argument, or one line from stdin for '-' (a scanner typing into a pipe)."""
    if text != "-":
        return text
    import sys

    return sys.stdin.readline()


@command(labels_app, "print")
def labels_cmd(
    cli: Cli,
    lot: Annotated[str, typer.Argument(metavar="LOT", help="Lot number, e.g. BH002-26-0001.")],
    kind: Annotated[str, typer.Option(help=f"Label kind: {KINDS}.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="FILE.pdf, FILE.png (preview) or FILE.zpl.")
    ],
    stock: Annotated[
        str | None,
        typer.Option(
            help="cryovial-2x1, bag-4x2, a4, letter, letter-bag (default: by kind).",
            show_default=False,
        ),
    ] = None,
    reprint_reason: Annotated[
        str | None, typer.Option(help="Required when these labels were printed before (audited).")
    ] = None,
    copies: Annotated[int, typer.Option(help="Copies of each label.")] = 1,
    bag: Annotated[
        int | None, typer.Option(help="Dose bags: only this bag number.", show_default=False)
    ] = None,
    dpi: Annotated[
        int | None,
        typer.Option(help="PNG resolution (default 300) or ZPL printer head (default 203)."),
    ] = None,
    send: Annotated[
        bool, typer.Option("--print", help="Also send the output to the label_printer command.")
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Print the labels of a lot (dose-bag: one per bag); every print is recorded with its
    layout version. --print sends the output to the printer routed for the kind and stock
    (label_printers, else label_printer).

    Example: mfg labels BH002-26-0001 --kind dose-bag -o bags.pdf
    """
    from mfg.outfile import PendingOutput
    from mfg.services import labels

    out = PendingOutput(output, force=force)
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in ("pdf", "png", "zpl"):
        raise refuse("output: the file name must end in .pdf, .png or .zpl", "output-format", 2)
    actor = cli.actor()
    db = cli.database()
    result = labels.print_labels(
        labels.PrintLabels(
            lot_number=lot,
            kind=kind,
            output_format=suffix,
            stock=stock,
            reprint_reason=reprint_reason,
            copies=copies,
            bag_no=bag,
            dpi=dpi,
            send=send,
        ),
        db=db,
        actor=actor,
        now=cli.now,
        deliver=out.write,
    )
    out.commit()
    if send:
        labels.send_to_printer(result.data, result.printer or "")
    _printed(cli, result, output, copies=copies, send=send)


def _printed(cli: Cli, result: PrintResult, output: Path, *, copies: int, send: bool) -> None:
    """What ``mfg labels print`` reports: the file, the printer and each recorded print."""
    summary = {
        "lot_number": result.lot_number,
        "kind": result.kind,
        "stock": result.stock,
        "format": result.output_format,
        "output": str(output),
        "bytes": len(result.data),
        "sent_to_printer": send,
        "printer": result.printer,
        "prints": result.prints,
    }

    def human() -> None:
        n = len(result.prints)
        cli.out.print(
            f"{n} {result.kind} label{'s' if n != 1 else ''} of {result.lot_number} "
            f"({result.stock}, x{copies}) -> {output}" + (" and the printer" if send else ""),
            markup=False,
        )
        for p in result.prints:
            again = f"  REPRINT: {p.reprint_reason}" if p.reprint_reason else ""
            cli.out.print(f"  #{p.id} {p.object_ref:<20} {p.payload}{again}", markup=False)

    cli.emit(summary, human)


@command(app, "scan")
def scan_cmd(
    cli: Cli,
    payload: Annotated[
        str,
        typer.Argument(
            metavar="PAYLOAD",
            help="The QR payload or an ISBT 128 string (Data Matrix compound message, or a "
            "single structure such as the CoI bar code) as scanned ('-': one line from stdin).",
        ),
    ],
    expect_lot: Annotated[
        str | None, typer.Option(help="Refuse unless the label is of this lot.")
    ] = None,
    expect_subject: Annotated[
        str | None, typer.Option(help="Refuse unless the label is of this subject.")
    ] = None,
) -> None:
    """Verify a scanned label and show what it identifies; exit 1 if it is damaged, forged,
    malformed (ISBT 128: the structure and the rule are named), or of another lot or subject
    than expected.

    Example: mfg scan 'CT2:D:BH002-26-0001:CHA999026000001:1/4:HFGBQZ2LN' --expect-lot BH002-26-0001
    """
    from mfg.services import labels

    actor = cli.actor()
    v = labels.scan(
        _scanned(payload),
        db=cli.database(),
        actor=actor,
        expect_lot=expect_lot,
        expect_subject=expect_subject,
    )

    def human() -> None:
        from rich.markup import escape

        o = cli.out
        if v.on_hold:
            o.print(
                f"[bold white on red] HOLD [/] [bold red]{escape(v.object_ref)} is ON HOLD: "
                "do not issue, thaw or infuse; return the container to QA[/]"
            )
            for why in v.hold_reasons:
                o.print(f"  [bold red]HOLD[/] {escape(why)}")
        o.print(f"[green]OK[/] {v.kind} {v.object_ref}: {', '.join(v.checks)}")
        o.print(f"  product  {v.product_name}")
        o.print(f"  lot      {v.lot_number} ({v.lot_state})")
        o.print(f"  CoI      {v.coi_eye_readable}", markup=False)
        o.print(f"  subject  {v.subject_id}")
        if v.bag_no is not None:
            where = f" at {v.bag_location}" if v.bag_location else ""
            o.print(f"  bag      {v.bag_no} of {v.bag_count}: {v.bag_state}{where}")
        if v.first_printed_at is not None:
            o.print(
                f"  printed  {cli.local(v.first_printed_at)} by {v.first_printed_by}"
                + (f" ({v.times_printed} prints)" if v.times_printed > 1 else "")
            )
        for w in v.warnings:
            o.print(f"[bold yellow]WARNING[/] {w}")

    cli.emit(v, human)
    if v.on_hold:
        sys.stderr.write(
            f"HOLD: lot {v.lot_number} is on hold: {'; '.join(v.hold_reasons)} [lot-on-hold]\n"
        )
        raise typer.Exit(code=1)


def _show_bag(cli: Cli, v) -> None:  # type: ignore[no-untyped-def]
    def human() -> None:
        where = f" at {v.location}" if v.location else ""
        cli.out.print(f"{v.object_ref} (bag {v.bag_no} of {v.bag_count}): {v.state}{where}")
        if v.thaw_to_infusion_minutes is not None:
            flag = (
                " [bold red]OVERRUN: over the 30 min limit, QA alerted[/]"
                if v.infusion_overrun
                else ""
            )
            cli.out.print(f"  thaw to infusion: {v.thaw_to_infusion_minutes:g} min{flag}")

    cli.emit(v, human)


@command(bag_app, "store")
def bag_store(
    cli: Cli,
    payload: PayloadArg,
    tank: Annotated[str, typer.Option(help="Storage tank / freezer, e.g. LN2-01.")],
    rack: Annotated[str, typer.Option(help="Rack, e.g. R3.")],
    box: Annotated[str, typer.Option(help="Box or canister, e.g. B12.")],
    position: Annotated[str, typer.Option(help="Position in the box, e.g. A5.")],
) -> None:
    """Put a bag into cryogenic storage, or move it to another position.

    Example: mfg bag store "$SCANNED" --tank LN2-01 --rack R3 --box B12 --position A5
    """
    from mfg.domain.custody import parse_location
    from mfg.services import custody

    loc = parse_location(tank, rack, box, position)
    actor = cli.actor()
    _show_bag(
        cli, custody.store_bag(_scanned(payload), loc, db=cli.database(), actor=actor, now=cli.now)
    )


@command(bag_app, "issue")
def bag_issue(
    cli: Cli,
    payload: PayloadArg,
    subject: Annotated[
        str | None, typer.Option(help="Refuse unless the bag is for this subject.")
    ] = None,
) -> None:
    """Issue a stored bag for infusion (only a released or conditionally released lot).

    Example: mfg bag issue "$SCANNED" --subject S-001
    """
    from mfg.services import custody

    actor = cli.actor()
    v = custody.issue_bag(
        _scanned(payload), db=cli.database(), actor=actor, now=cli.now, subject_id=subject
    )
    _show_bag(cli, v)


@command(bag_app, "thaw")
def bag_thaw(cli: Cli, payload: PayloadArg) -> None:
    """Record that the bag is thawed (now); infusion should start within 30 minutes.

    Example: mfg bag thaw "$SCANNED"
    """
    from mfg.services import custody

    actor = cli.actor()
    _show_bag(cli, custody.thaw_bag(_scanned(payload), db=cli.database(), actor=actor, now=cli.now))


@command(bag_app, "infuse")
def bag_infuse(
    cli: Cli,
    payload: PayloadArg,
    subject: Annotated[
        str, typer.Option(help="The patient being infused (checked against the bag).")
    ],
) -> None:
    """Record the start of infusion after checking the bag against the patient.

    Example: mfg bag infuse "$SCANNED" --subject S-001
    """
    from mfg.services import custody

    actor = cli.actor()
    v = custody.infuse_bag(_scanned(payload), subject, db=cli.database(), actor=actor, now=cli.now)
    _show_bag(cli, v)


@command(bag_app, "discard")
def bag_discard(
    cli: Cli,
    payload: PayloadArg,
    reason: Annotated[str, typer.Option(help="Why the bag is discarded (audited).")],
) -> None:
    """Discard a bag that was not infused, with a reason.

    Example: mfg bag discard "$SCANNED" --reason "bag cracked on thaw"
    """
    from mfg.services import custody

    actor = cli.actor()
    v = custody.discard_bag(_scanned(payload), reason, db=cli.database(), actor=actor, now=cli.now)
    _show_bag(cli, v)


@command(bag_app, "list")
def bag_list(
    cli: Cli,
    lot: Annotated[str, typer.Argument(metavar="LOT", help="Lot number.")],
) -> None:
    """The dose bags of a lot: state, location, thaw-to-infusion time; bags left for doses.

    Example: mfg bag list BH002-26-0001 --json
    """
    from mfg.services import custody

    actor = cli.actor()
    bl = custody.list_bags(lot, db=cli.database(), actor=actor)

    def human() -> None:
        from rich.table import Table

        t = Table(title=f"{bl.lot_number} ({bl.lot_state}), subject {bl.subject_id}")
        for col in ("bag", "state", "location", "mL", "CAR+ cells", "thaw->infusion"):
            t.add_column(col)
        from mfg.domain.numbers import format_cells

        for b in bl.bags:
            timing = "-"
            if b.thaw_to_infusion_minutes is not None:
                timing = f"{b.thaw_to_infusion_minutes:g} min" + (
                    " OVERRUN" if b.infusion_overrun else ""
                )
            t.add_row(
                f"{b.bag_no} of {b.bag_count}",
                b.state,
                b.location or "-",
                f"{b.volume_ml:g}",
                format_cells(b.car_viable_cells),
                timing,
            )
        cli.out.print(t)
        cli.out.print(f"{bl.remaining} bag(s) left for further doses")
        if bl.hold is not None and bl.hold.on_hold:
            from rich.markup import escape

            cli.out.print(f"[bold white on red] HOLD [/] [bold red]{escape(bl.hold.summary)}[/]")

    data = {**_as_dict(bl), "remaining": bl.remaining}
    data["hold"] = bl.hold.summary if bl.hold else ""
    cli.emit(data, human)


def _as_dict(value: object) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}  # type: ignore[arg-type]
