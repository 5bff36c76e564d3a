"""mfg result add|verify|correct|list, mfg lot review, mfg deviation list|open|close, mfg coa
LOT -o FILE.pdf / mfg coa verify FILE.pdf (mfg disposition: ``mfg.cli.disposition``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mfg.cli import app
from mfg.cli._common import Cli, ForceOpt, command
from mfg.cli.lots import LotArg, lot_app
from mfg.errors import RuleViolation

result_app = typer.Typer(help="Release test results.", no_args_is_help=True)
deviation_app = typer.Typer(help="Deviations (OOS and others).", no_args_is_help=True)
app.add_typer(result_app, name="result")
app.add_typer(deviation_app, name="deviation")

CodeArg = Annotated[
    str, typer.Argument(metavar="CODE", help="Test code of the lot's spec, e.g. VIAB, STER.")
]
ValueArg = Annotated[
    str,
    typer.Argument(
        metavar="VALUE", help="As read: 91.2, '91.2 %', '<0.5', '>1000', 'No growth', pending."
    ),
]
TestedOnOpt = Annotated[
    str | None, typer.Option("--tested-on", help="Date of the result (default today).")
]
MethodRefOpt = Annotated[
    str | None, typer.Option("--method-ref", help="SOP / method reference, e.g. SOP-QC-012.")
]


def _date(cli: Cli, text: str | None, field: str):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    from mfg.domain.dates import parse_date

    return parse_date(text, field, cli.database().today(cli.now))


def _print_result(cli: Cli, v: Any) -> None:
    verdict = {"pass": "[green]conforms[/]", "fail": "[bold red]OUT OF SPECIFICATION[/]"}.get(
        v.evaluation, "[yellow]pending[/]"
    )
    cli.out.print(
        f"{v.lot_number} {v.test_code} ({v.test_name}): {v.display}  spec {v.acceptance}  {verdict}"
    )
    if v.deviation_number and v.evaluation == "fail":
        cli.out.print(f"deviation {v.deviation_number} opened")
    if v.status == "final":
        who = f"verified by {v.verified_by}" if v.verified_by else "awaiting verification"
        cli.out.print(f"entered by {v.entered_by}; {who}")


@command(result_app, "add")
def result_add(
    cli: Cli,
    lot: LotArg,
    code: CodeArg,
    value: ValueArg,
    tested_on: TestedOnOpt = None,
    method_ref: MethodRefOpt = None,
) -> None:
    """Enter a release result; a failing one opens an OOS deviation.

    Example: mfg result add BH002-26-0001 ENDO '<0.5' --tested-on 2026-11-24 --method-ref SOP-QC-007
    """
    from mfg.services import release

    actor = cli.actor()
    db = cli.database()
    cmd = release.AddResult(lot, code, value, _date(cli, tested_on, "tested_on"), method_ref)
    v = release.add_result(cmd, db=db, actor=actor, now=cli.now)
    cli.emit(v, lambda: _print_result(cli, v))


@command(result_app, "verify")
def result_verify(cli: Cli, lot: LotArg, code: CodeArg) -> None:
    """Verify a result entered by someone else (second person).

    Example: mfg result verify BH002-26-0001 ENDO --user tech2
    """
    from mfg.services import release

    v = release.verify_result(lot, code, db=cli.database(), actor=cli.actor(), now=cli.now)
    cli.emit(v, lambda: _print_result(cli, v))


@command(result_app, "correct")
def result_correct(
    cli: Cli,
    lot: LotArg,
    code: CodeArg,
    value: ValueArg,
    reason: Annotated[str, typer.Option(help="Why the value changes (kept with it).")],
    tested_on: TestedOnOpt = None,
    method_ref: MethodRefOpt = None,
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="The result version you saw (result list --json); refused if it changed since. "
            "Default: the version read as this command starts.",
        ),
    ] = None,
) -> None:
    """Correct a result: the new value supersedes the old one, which stays visible; it needs
    verification again.

    Example: mfg result correct BH002-26-0001 VIAB 90.1 --reason "transcription error, see printout"
    """
    from mfg.services import release

    actor = cli.actor()
    db = cli.database()
    cmd = release.AddResult(lot, code, value, _date(cli, tested_on, "tested_on"), method_ref)
    seen = expect_version
    if seen is None:
        shown = release.list_results(lot, db=db, actor=actor)
        seen = next((r.version for r in shown if r.test_code == code.strip().upper()), None)
        if seen is not None and not cli.json:
            cli.out.print(f"correcting {code.strip().upper()} of {lot} version {seen}")
    v = release.correct_result(cmd, reason, db=db, actor=actor, now=cli.now, expected_version=seen)

    def human() -> None:
        _print_result(cli, v)
        if v.history:
            cli.out.print(f"was {v.history[-1].display} (kept); reason: {v.correction_reason}")

    cli.emit(v, human)


@command(result_app, "list")
def result_list(cli: Cli, lot: LotArg) -> None:
    """Every test of the lot's spec with its current result, status and history.

    Example: mfg result list BH002-26-0001 --json
    """
    from mfg.services import release

    rows = release.list_results(lot, db=cli.database(), actor=cli.actor())

    def human() -> None:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=f"Release results {lot.upper()}", show_lines=False)
        for h in ("Test", "Specification", "Result", "Evaluation", "Entered", "Verified", "Notes"):
            t.add_column(h)
        for r in rows:
            ev = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]"}.get(
                r.evaluation, "[yellow]pending[/]"
            )
            notes = []
            if r.corrected:
                why = f": {r.correction_reason}" if r.correction_reason else ""
                notes.append(f"corrected from {r.original_display or 'an earlier value'}{why}")
            earlier = [h.display for h in r.history if h.evaluation != "pending"]
            if len(earlier) > 1:
                notes.append("earlier values: " + ", ".join(earlier))
            if r.deviation_number:
                notes.append(r.deviation_number)
            if r.after_disposition:
                notes.append("late result")
            t.add_row(
                f"{r.test_code} {r.test_name}",
                r.acceptance,
                r.display,
                ev,
                r.entered_by or "-",
                r.verified_by or ("-" if r.status != "final" else "[yellow]no[/]"),
                escape("; ".join(dict.fromkeys(notes))),
            )
        cli.out.print(t)

    cli.emit(rows, human)


@command(lot_app, "review")
def lot_review(cli: Cli, lot: LotArg) -> None:
    """Review by exception before signing: OOS results, corrections with reasons, late entries,
    open deviations, unverified results, pending tests, dose, signatures and what blocks each
    decision.

    Example: mfg lot review BH002-26-0001 --user qa
    """
    import dataclasses

    from mfg.services import holds, release

    db = cli.database()
    r = release.review(lot, db=db, actor=cli.actor())
    hold = holds.status(lot, db=db, actor=cli.actor())

    def human() -> None:
        from rich.markup import escape

        from mfg.cli._release_output import print_review

        if hold.on_hold:
            cli.out.print(
                "[bold white on red] HOLD [/] [bold red]no bag may be issued, thawed or infused[/]"
            )
            for why in hold.active:
                cli.out.print(f"  [bold red]HOLD[/] {escape(why.message)}")
        print_review(cli, r)

    data = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    data |= {"on_hold": hold.on_hold, "hold_reasons": [x.message for x in hold.active]}
    cli.emit(data, human)


@command(lot_app, "ack-alerts")
def lot_ack_alerts(
    cli: Cli,
    lot: LotArg,
    note: Annotated[str, typer.Option(help="What was done, e.g. 'treating site notified'.")],
) -> None:
    """Acknowledge the open alerts of a lot (QA); they stay on the COA, marked acknowledged.

    Example: mfg lot ack-alerts BH002-26-0001 --note "site BJ01 notified by phone 14:05" --user qa
    """
    from mfg.services import release

    n = release.acknowledge_alerts(lot, note, db=cli.database(), actor=cli.actor(), now=cli.now)
    cli.emit({"lot_number": lot.upper(), "acknowledged": n}, lambda: cli.out.print(
        f"{n} alert(s) of {lot.upper()} acknowledged"
    ))  # fmt: skip


@command(deviation_app, "list")
def deviation_list(
    cli: Cli,
    lot: Annotated[str | None, typer.Option("--lot", help="Only this lot.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open deviations.")] = False,
) -> None:
    """List deviations.

    Example: mfg deviation list --open --user qa
    """
    from mfg.services import release

    rows = release.list_deviations(
        db=cli.database(), actor=cli.actor(), lot_number=lot, open_only=open_only
    )

    def human() -> None:
        if not rows:
            cli.out.print("no deviations")
        for d in rows:
            state = "open" if d.is_open else f"closed by {d.closed_by}: {d.closure_note}"
            cli.out.print(
                f"{d.number} {d.lot_number} {d.kind} ({d.classification}) {state}\n  "
                f"{d.description}"
            )

    cli.emit(rows, human)


@command(deviation_app, "open")
def deviation_open(
    cli: Cli,
    lot: LotArg,
    kind: Annotated[str, typer.Option(help="OOS, dose, harvest-window, process or other.")],
    description: Annotated[str, typer.Option(help="What deviated.")],
    classification: Annotated[
        str, typer.Option(help="unclassified, minor, major or critical.")
    ] = "unclassified",
) -> None:
    """Open a deviation by hand (OOS deviations open themselves).

    Example: mfg deviation open BH002-26-0001 --kind dose --description "dose not reached" --user qa
    """
    from mfg.services import release

    d = release.open_deviation(
        lot, kind, description, classification=classification,
        db=cli.database(), actor=cli.actor(), now=cli.now,
    )  # fmt: skip
    cli.emit(d, lambda: cli.out.print(f"{d.number} opened for {d.lot_number}"))


@command(deviation_app, "close")
def deviation_close(
    cli: Cli,
    number: Annotated[str, typer.Argument(metavar="DEV", help="e.g. DEV-2026-0001")],
    note: Annotated[str, typer.Option(help="Investigation outcome, CAPA reference.")],
    classification: Annotated[str | None, typer.Option(help="minor, major or critical.")] = None,
) -> None:
    """Close a deviation (QA) with a note.

    Example: mfg deviation close DEV-2026-0001 --note "lab error confirmed, CAPA-12" --user qa
    """
    from mfg.services import release

    d = release.close_deviation(
        number, note, classification=classification,
        db=cli.database(), actor=cli.actor(), now=cli.now,
    )  # fmt: skip
    cli.emit(d, lambda: cli.out.print(f"{d.number} closed ({d.classification})"))


@command(app, "coa")
def coa_cmd(
    cli: Cli,
    target: Annotated[
        str, typer.Argument(metavar="LOT|verify", help="A lot number, or 'verify' then a file.")
    ],
    file: Annotated[
        Path | None, typer.Argument(metavar="[FILE.pdf]", help="With verify: the COA to check.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the PDF to this file.")
    ] = None,
    revision: Annotated[
        int | None, typer.Option(help="An earlier revision (default: the current one).")
    ] = None,
    to_printer: Annotated[
        bool, typer.Option("--print", help="Send to the printer command `coa_printer`.")
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Issue the Certificate of Analysis of a lot, or check an issued one.

    `mfg coa LOT -o FILE.pdf [--revision N] [--print]`; `mfg coa verify FILE.pdf` answers: issued
    by CellTrail? unaltered? current revision? (exit 1 unless all three).

    Example: mfg coa BH002-26-0001 -o coa.pdf --user qa; mfg coa verify coa.pdf --user qa
    """

    if target.strip().lower() == "verify":
        _coa_verify(cli, file)
        return
    _coa_issue(cli, target, file, output, revision, to_printer, force)


def _coa_verify(cli: Cli, file: Path | None) -> None:
    from mfg.cli._release_output import print_coa_check
    from mfg.services import release

    if file is None:
        raise RuleViolation("file", "file-required", "say which file: mfg coa verify FILE.pdf")
    try:
        data = file.read_bytes()
    except OSError as e:
        raise RuleViolation("file", "unreadable", f"{file}: {e.strerror or e}") from None
    check = release.verify_pdf(data, db=cli.database(), actor=cli.actor())
    cli.emit({**_asdict(check), "ok": check.ok}, lambda: print_coa_check(cli, file, check))
    if not check.ok:
        raise typer.Exit(code=1)


def _coa_issue(
    cli: Cli,
    target: str,
    file: Path | None,
    output: Path | None,
    revision: int | None,
    to_printer: bool,
    force: bool = False,
) -> None:
    from mfg.outfile import PendingOutput
    from mfg.services import release

    if file is not None:
        raise RuleViolation("file", "unexpected-argument", f"unexpected {file}; use -o FILE.pdf")
    if output is None and not to_printer:
        raise RuleViolation("output", "output-required", "say where: -o FILE.pdf and/or --print")
    db = cli.database()
    printer = db.settings.coa_printer if to_printer else ""
    if to_printer and not printer.strip():
        raise RuleViolation(
            "coa_printer", "no-printer", "no COA printer configured (coa_printer / MFG_COA_PRINTER)"
        )
    dest = ", ".join(
        x for x in (str(output) if output else "", f"printer: {printer}" if printer else "") if x
    )
    out = PendingOutput(output, force=force) if output is not None else None
    issue = release.issue_coa(
        target,
        revision=revision,
        destination=dest,
        db=db,
        actor=cli.actor(),
        now=cli.now,
        deliver=out.write if out is not None else None,
    )
    if out is not None:
        out.commit()
    if printer:
        from mfg.coa import send_to_printer

        send_to_printer(printer, issue.pdf)
    rv = issue.revision
    cli.emit(
        {
            **_asdict(rv),
            "output": str(output) if output else None,
            "printed": bool(printer),
            "hold": issue.hold,
        },
        lambda: cli.out.print(
            f"{rv.document_id} revision {rv.revision}"
            f"{'' if rv.current else ' (SUPERSEDED)'} -> {dest}\ncontent SHA-256 {rv.content_sha256}"
            + (f"\n{issue.hold}" if issue.hold else ""),
            markup=False,  # paths and reasons as typed
        ),
    )


def _asdict(v: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
