"""mfg report success-rate, mfg export lots, mfg import lots."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mfg.cli import app
from mfg.cli._common import Cli, ForceOpt, SignStdinOpt, command, print_json, refuse

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mfg.services.importer import ImportRejected
    from mfg.services.reporting import SuccessRateReport

report_app = typer.Typer(help="Reports for sponsors and QA.", no_args_is_help=True)
export_app = typer.Typer(help="De-identified exports.", no_args_is_help=True)
import_app = typer.Typer(help="Import historical records.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")

REPORT_FORMATS = ("table", "json", "csv", "xlsx", "pdf")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _ci(c: dict[str, Any]) -> str:
    if c["rate"] is None:
        return "-"
    return f"{100 * c['ci_low']:.1f}-{100 * c['ci_high']:.1f} %"


def _print_table(cli: Cli, r: SuccessRateReport) -> None:
    from rich.table import Table

    from mfg.domain.outcome import reason_text

    d = r.data
    title = f"Manufacturing success rate, per {r.unit}"
    t = Table(title=title, title_justify="left", show_lines=False)
    keys = list(r.by)
    for k in keys:
        t.add_column(k.replace("_", " "))
    for name in ("success", "failure", "evaluable"):
        t.add_column(name, justify="right")
    t.add_column("rate", justify="right")
    t.add_column("95% CI (exact)", justify="right")
    for name in ("pending", "in progress", "not eval."):
        t.add_column(name, justify="right")

    def row(label: list[str], c: dict[str, Any], style: str | None = None) -> None:
        t.add_row(
            *label,
            str(c["successes"]),
            str(c["failures"]),
            str(c["evaluable"]),
            _pct(c["rate"]),
            _ci(c),
            str(c["pending"]),
            str(c["in_progress"]),
            str(c["not_evaluable"]),
            style=style,
        )

    for s in d["strata"]:
        row([str(s[k]) for k in keys], s)
    if keys:
        t.add_section()
    row(["all"] + [""] * (len(keys) - 1) if keys else [], d["overall"], style="bold")
    cli.out.print(t)
    if d["failure_reasons"]:
        ft = Table(title=f"Failure reasons (each {r.unit} once per reason)", title_justify="left")
        ft.add_column("reason")
        ft.add_column(f"{r.unit}s", justify="right")
        for reason, n in d["failure_reasons"].items():
            ft.add_row(f"{reason}  ({reason_text(reason)})", str(n))
        cli.out.print(ft)
    tt = Table(title="Days from day 0 (lots)", title_justify="left")
    for name in ("interval", "n", "median", "IQR", "range"):
        tt.add_column(name, justify="left" if name == "interval" else "right")
    for rec in r.times.to_dict(orient="records"):
        if not rec["n"]:
            tt.add_row(rec["interval"], "0", "-", "-", "-")
            continue
        tt.add_row(
            rec["interval"],
            str(int(rec["n"])),
            f"{rec['median']:g}",
            f"{rec['q1']:g}-{rec['q3']:g}",
            f"{rec['min']:g}-{rec['max']:g}",
        )
    cli.out.print(tt)


def _strata_table(r: SuccessRateReport) -> Any:
    import pandas as pd

    overall = {**dict.fromkeys(r.by, "all"), **r.data["overall"]}
    return pd.concat([r.strata, pd.DataFrame([overall])], ignore_index=True)


@command(report_app, "success-rate")
def success_rate(
    cli: Cli,
    unit: Annotated[str, typer.Option(help="Count lots or subjects: lot | subject.")] = "lot",
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Stratify by dose_level, source, indication, site or quarter (repeat or "
            "comma-separate for a cross-classification).",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table | json | csv | xlsx | pdf.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """The trial's secondary outcome: manufacturing success rate with its exact 95% interval.

    Success = harvested on day 10-14, CAR+ viable cells reach the target dose, every release test
    passes. Rate = successes / (successes + failures), Clopper-Pearson interval. csv and xlsx
    hold the strata (and overall) table; pdf is a one-page sponsor summary (needs -o).

    Example: mfg report success-rate --by dose_level --by source --format pdf -o summary.pdf
    """
    from mfg.services import reporting

    if cli.json:
        fmt = "json"
    if fmt not in REPORT_FORMATS:
        raise refuse(f"format: {fmt!r} is not one of {', '.join(REPORT_FORMATS)}", "unknown-format")
    if fmt in ("xlsx", "pdf") and output is None:
        raise refuse(f"output: the {fmt} format needs -o FILE", "output-required")
    keys = list(by or [])
    if fmt == "pdf" and not keys:
        keys = ["dose_level"]
    if fmt == "table" and output is not None:
        raise refuse("output: the table format prints on the terminal; drop -o", "output-format")
    out = None
    if output is not None:
        from mfg.outfile import PendingOutput

        out = PendingOutput(output, force=force, kind=fmt)
    actor = cli.actor()
    r = reporting.success_rate(db=cli.database(), actor=actor, unit=unit, by=keys)
    if out is None:
        if fmt == "json":
            print_json(r.data)
        elif fmt == "table":
            _print_table(cli, r)
        else:  # csv to stdout
            _inert(_strata_table(r)).to_csv(sys.stdout, index=False)
        return
    out.fill(lambda tmp: _write_report(cli, r, fmt, tmp))
    out.commit()
    sys.stderr.write(f"wrote {output}\n")


def _write_report(cli: Cli, r: Any, fmt: str, path: Path) -> None:
    if fmt == "json":
        import json

        path.write_text(json.dumps(r.data, indent=2) + "\n", encoding="utf-8")
    elif fmt == "csv":
        _inert(_strata_table(r)).to_csv(path, index=False)
    elif fmt == "xlsx":
        import pandas as pd

        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            _inert(_strata_table(r)).to_excel(xw, sheet_name="success rate", index=False)
            _inert(r.reasons.rename_axis("reason").reset_index()).to_excel(
                xw, sheet_name="failure reasons", index=False
            )
            _inert(r.times).to_excel(xw, sheet_name="days from day 0", index=False)
    else:
        from mfg.reports import render_success_rate_pdf
        from mfg.services.audit_trail import document_checkpoint

        cp = document_checkpoint(db=cli.database(), now=cli.now, kind="report")
        path.write_bytes(render_success_rate_pdf(r, now=cli.local(cli.now), checkpoint=cp))


def _inert(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell neutralised against formula injection (mfg.domain.text.cell_inert)."""
    from mfg.reports import inert_frame

    return inert_frame(frame)


@command(export_app, "lots")
def export_lots(
    cli: Cli,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv | xlsx | parquet.")] = "csv",
    force: ForceOpt = False,
) -> None:
    """Write the de-identified lot-level table (no initials, no dates of birth) with outcomes.

    Example: mfg export lots --format parquet -o lots.parquet --user sponsor
    """
    from mfg.outfile import PendingOutput
    from mfg.services import reporting

    out = PendingOutput(output, force=force, kind=fmt)
    actor = cli.actor()
    counted: list[int] = []
    out.fill(lambda tmp: counted.append(
        reporting.export_lots(fmt, str(tmp), db=cli.database(), actor=actor)
    ))  # fmt: skip
    out.commit()
    n = counted[0]
    cli.emit(
        {"file": str(output), "format": fmt, "lots": n},
        lambda: cli.out.print(f"wrote {n} lots to {output} ({fmt}, de-identified)"),
    )


@command(import_app, "lots")
def import_lots(
    cli: Cli,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="CSV file of lots.")],
    product: Annotated[str, typer.Option(help="Product code of the lots.")] = "BH002",
) -> None:
    """Validate a CSV file of historical lots and stage it: nothing changes until a second QA
    person approves it (`mfg import approve`). Any bad row refuses the file, listing every bad
    row and field.

    Columns: lot_id, subject_id, site, indication, weight_kg, dose_level, source,
    apheresis_date, thaw_date, harvest_date, car_viable_cells, state, termination_cause, then
    one column per test code of the specification (empty = not tested, 'pending'). Day 0 must be
    more than 60 days ago (younger lots are registered) and not before 2000.

    Example: mfg import lots history.csv --product BH002 --user qa
    """
    from mfg.services import importer

    actor = cli.actor()
    db = cli.database()
    progress_cm, progress_fn = _progress()
    try:
        with progress_cm:
            res = importer.import_lots(
                file, db=db, actor=actor, now=cli.now, product_code=product, progress=progress_fn
            )
    except importer.ImportRejected as e:
        raise _import_refused(e) from None
    cli.emit(
        res,
        lambda: cli.out.print(
            f"staged import {res.id}: {res.lots:,} historical lots from {res.file} "
            f"(sha256 {res.sha256[:16]}...); nothing is imported until another QA person runs "
            f"`mfg import approve {res.id}`",
            markup=False,  # the file's name as it is
        ),
    )


def _import_refused(e: ImportRejected) -> typer.Exit:
    """The refusal of an import: its row errors listed (at most ``MAX_ERRORS_LISTED``), then
    the one-line reason."""
    from mfg.domain.text import visible
    from mfg.services.importer import MAX_ERRORS_LISTED

    shown = e.errors[:MAX_ERRORS_LISTED]
    for err in shown:
        sys.stderr.write(f"{visible(str(err))}\n")
    if len(e.errors) > len(shown):
        sys.stderr.write(f"... and {len(e.errors) - len(shown)} more\n")
    return refuse(f"{e.field}: {e.message}", e.rule)


@command(import_app, "approve")
def import_approve(
    cli: Cli,
    batch: Annotated[int, typer.Argument(metavar="IMPORT", help="Staged import number.")],
    password_stdin: SignStdinOpt = False,
) -> None:
    """Approve a staged import with an e-signature (a QA person other than who staged it):
    the file is validated again and its lots are written, as historical records.

    Example: mfg import approve 3 --user qa2
    """
    from mfg.services import importer

    actor = cli.actor()
    actor.require("import.lots")
    password = cli.signing_password(password_stdin, "Password to sign the import")
    progress_cm, progress_fn = _progress()
    try:
        with progress_cm:
            res = importer.approve_import(
                batch, password, db=cli.database(), actor=actor, now=cli.now, progress=progress_fn
            )
    except importer.ImportRejected as e:
        raise _import_refused(e) from None
    cli.emit(
        res,
        lambda: cli.out.print(
            f"imported {res.lots:,} historical lots ({res.subjects_created:,} new subjects, "
            f"{res.subjects_matched:,} matched, {res.results:,} results) from {res.file}",
            markup=False,
        ),
    )


@command(import_app, "reject")
def import_reject(
    cli: Cli,
    batch: Annotated[int, typer.Argument(metavar="IMPORT", help="Staged import number.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
) -> None:
    """Close a staged import without importing it.

    Example: mfg import reject 3 --reason "wrong site's file" --user qa
    """
    from mfg.services import importer

    v = importer.reject_import(batch, reason, db=cli.database(), actor=cli.actor(), now=cli.now)
    cli.emit(v, lambda: cli.out.print(f"import {v.id} rejected"))


@command(import_app, "list")
def import_list(cli: Cli) -> None:
    """Staged, approved and rejected imports.

    Example: mfg import list --json --user qa
    """
    from mfg.services import importer

    rows = importer.list_imports(db=cli.database(), actor=cli.actor())

    def human() -> None:
        for v in rows:
            cli.out.print(
                f"import {v.id}: {v.state}, {v.lots} lots from {v.file}, staged by {v.staged_by} "
                f"at {cli.local(v.staged_at)}"
                + (f"; {v.state} by {v.decided_by}" if v.decided_by else ""),
                markup=False,
            )

    cli.emit(rows, human)


def _progress() -> tuple[Any, Any]:
    """A rich progress bar on stderr (only on a terminal), and the callback that drives it."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),  # as the lab writes numbers
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    return bar, update
