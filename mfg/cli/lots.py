"""mfg lot register|show|list|terminate|growth, mfg count add|correct, mfg harvest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

if TYPE_CHECKING:
    from datetime import date as date_type

lot_app = typer.Typer(help="Manufacturing lots.", no_args_is_help=True)
count_app = typer.Typer(help="Cell counts during expansion.", no_args_is_help=True)
app.add_typer(lot_app, name="lot")
app.add_typer(count_app, name="count")

LotArg = Annotated[str, typer.Argument(metavar="LOT", help="Lot number, e.g. BH002-26-0001.")]
ExpectOpt = Annotated[
    int | None,
    typer.Option(
        "--expect-version",
        help="The version you saw (from show/list --json); refused if someone changed it since. "
        "Default: the version read as this command starts.",
    ),
]


def _cells(text: str, field: str) -> int:
    from mfg.domain.numbers import parse_cells

    return parse_cells(text, field)


def _pct(text: str, field: str) -> float:
    from mfg.domain.numbers import parse_percent

    return parse_percent(text, field)


def _float(text: str | None, field: str) -> float | None:
    """A volume option (mL) as typed, or None when not given."""
    if text is None:
        return None
    from mfg.domain.numbers import parse_ml

    return parse_ml(text, field)


@command(lot_app, "register")
def lot_register(
    cli: Cli,
    subject_id: Annotated[str, typer.Argument(metavar="SUBJECT", help="Trial subject id.")],
    source: Annotated[str, typer.Option(help="apheresis (fresh) or cryo-pbmc.")],
    apheresis_date: Annotated[
        str | None, typer.Option(help="Apheresis date (day 0 if fresh).")
    ] = None,
    thaw_date: Annotated[str | None, typer.Option(help="PBMC thaw date (day 0 if cryo).")] = None,
    product: Annotated[str, typer.Option(help="Product code.")] = "BH002",
) -> None:
    """Register a lot: prints the lot number and its chain-of-identity (COI) code.

    Day 0 is the apheresis date for fresh material and the thaw date for cryopreserved PBMC.

    Example: mfg lot register S-001 --source apheresis --apheresis-date 2026-11-20
    """
    from mfg.domain.dates import parse_date
    from mfg.services import lots

    actor = cli.actor()
    db = cli.database()
    today = db.today(cli.now)
    cmd = lots.RegisterLot(
        subject_id=subject_id,
        source=source,
        apheresis_on=parse_date(apheresis_date, "apheresis_date", today)
        if apheresis_date
        else None,
        thaw_on=parse_date(thaw_date, "thaw_date", today) if thaw_date else None,
        product_code=product,
    )
    v = lots.register_lot(cmd, db=db, actor=actor, now=cli.now)
    cli.emit(
        v,
        lambda: cli.out.print(
            f"lot {v.lot_number} registered\nCOI {v.coi_eye_readable}  ({v.coi})\n"
            f"subject {v.subject_id}, {v.source}, day 0 = {v.day0}, spec {v.product_code} "
            f"v{v.spec_version}"
        ),
    )


@command(lot_app, "show")
def lot_show(cli: Cli, lot: LotArg) -> None:
    """Show a lot: identity, state, day of expansion, target dose, harvest and alerts.

    Example: mfg lot show BH002-26-0001 --json
    """
    from mfg.domain.numbers import format_cells, format_pct
    from mfg.services import harvest, holds, lots

    actor = cli.actor()
    db = cli.database()
    v = lots.show_lot(lot, db=db, actor=actor)
    h = harvest.show_harvest(lot, db=db, actor=actor)
    st = holds.status(lot, db=db, actor=actor)
    assert v.day0 is not None  # show_lot refuses a lot whose day 0 cannot be read
    day = (db.today(cli.now) - v.day0).days
    data = {
        **cli_dict(v),
        "expansion_day_today": day,
        "harvest": h,
        "on_hold": st.on_hold,
        "hold_reasons": [r.message for r in st.active],
    }

    def human() -> None:
        from rich.markup import escape

        o = cli.out
        o.print(f"[bold]{v.lot_number}[/]  COI {v.coi_eye_readable}  \\[{v.state}]")
        if st.on_hold:
            o.print("[bold white on red] HOLD [/] [bold red]do not issue, thaw or infuse[/]")
            for r in st.active:
                o.print(f"  [bold red]HOLD[/] {escape(r.message)}")
        o.print(f"{v.product_name}, spec v{v.spec_version}")
        if v.historical:
            o.print("HISTORICAL record (imported): never issued, thawed or infused")
        o.print(
            f"subject {escape(v.subject_id)} ({escape(v.site)}, {v.indication}), {v.weight_kg:g} kg, "
            f"{v.dose_level}: target {format_cells(v.target_dose_cells)} CAR+ viable T cells"
        )
        o.print(
            f"source {v.source}; day 0 {v.day0}; today is day {day}; registered "
            f"{cli.local(v.registered_at)} by {v.registered_by}"
        )
        if v.termination_cause:
            o.print(f"terminated ({v.termination_cause}): {escape(v.termination_reason or '')}")
        if h:
            met = "[green]met[/]" if h.dose_met else "[red]NOT met[/]"
            o.print(
                f"harvest day {h.harvest_day} ({h.harvested_on}"
                f"{'' if h.in_window else ', OUTSIDE window'}): "
                f"{format_cells(h.total_viable_cells)} viable, CAR+ {format_pct(h.car_pct)}, "
                f"{format_cells(h.car_viable_cells)} CAR+ viable; dose {met}; "
                f"{h.doses_available} dose(s), {h.bag_count} bag(s)"
            )
        for a in v.alerts:
            o.print(f"[bold red]ALERT[/] {escape(a)}")

    cli.emit(data, human)


def cli_dict(v: object) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}  # type: ignore[arg-type]


@command(lot_app, "list")
def lot_list(
    cli: Cli,
    state: Annotated[str | None, typer.Option(help="Only lots in this state.")] = None,
    site: Annotated[str | None, typer.Option(help="Only lots of this site.")] = None,
) -> None:
    """List lots, optionally by state or site.

    Example: mfg lot list --state in_expansion --json
    """
    from mfg.domain.numbers import format_cells
    from mfg.services import lots

    views = lots.list_lots(db=cli.database(), actor=cli.actor(), state=state, site=site)

    def human() -> None:
        from rich.table import Table
        from rich.text import Text

        from mfg.domain.text import rich_inert

        t = Table("lot", "COI", "subject", "site", "source", "day 0", "state", "target dose")
        for v in views:
            t.add_row(  # stored text inert: a str cell is read as markup
                *map(rich_inert, (v.lot_number, v.coi, v.subject_id, v.site, v.source)),
                "?" if v.day0 is None else str(v.day0),
                rich_inert(v.state),
                "NOT READ" if v.target_dose_cells is None else format_cells(v.target_dose_cells),
            )
        cli.out.print(t)
        cli.out.print(f"{len(views)} lot(s)")
        for v in views:  # one whose spec or dose is refused: why (stored text shown as text)
            if v.not_read:
                cli.out.print(Text(f"{v.lot_number}: {v.not_read}"), style="bold red")

    cli.emit(views, human)


@command(lot_app, "terminate")
def lot_terminate(
    cli: Cli,
    lot: LotArg,
    cause: Annotated[str, typer.Option(help="manufacturing or not_evaluable.")],
    reason: Annotated[str, typer.Option(help="What happened (audited).")],
) -> None:
    """Terminate a lot before disposition (QA).

    Example: mfg lot terminate BH002-26-0003 --cause not_evaluable --reason "subject withdrew"
    """
    from mfg.services import lots

    v = lots.terminate_lot(lot, cause, reason, db=cli.database(), actor=cli.actor(), now=cli.now)
    cli.emit(v, lambda: cli.out.print(f"lot {v.lot_number} terminated ({v.termination_cause})"))


@command(lot_app, "growth")
def lot_growth(cli: Cli, lot: LotArg) -> None:
    """Counts with viability, fold expansion, doublings, doubling time and the dose projection.

    Example: mfg lot growth BH002-26-0001
    """
    from mfg.domain.numbers import format_cells
    from mfg.presentation import growth_rows
    from mfg.services import counts

    g = counts.growth(lot, db=cli.database(), actor=cli.actor(), now=cli.now)

    def human() -> None:
        from rich.table import Table

        t = Table(
            "id",
            "day",
            "date",
            "total",
            "viable",
            "viability",
            "fold",
            "PD",
            "doubling",
            title=f"{g.lot_number}: expansion (day 0 = {g.day0})",
        )
        for _c, p, cells in growth_rows(g):
            t.add_row(
                *cells,
                f"{p.population_doublings:.2f}" if p and p.population_doublings else "-",
                f"{p.doubling_time_h:.0f} h" if p and p.doubling_time_h else "-",
            )
        cli.out.print(t)
        for c in g.corrected:
            cli.out.print(
                f"  corrected: count {c.id} (day {c.expansion_day}, viable "
                f"{format_cells(c.viable_cells)}) superseded"
            )
        cli.out.print(
            f"target {format_cells(g.target_dose_cells)} CAR+ viable cells = "
            f"{format_cells(g.needed_viable_cells)} viable at an assumed "
            f"{g.assumed_car_pct:g} % CAR+; window day {g.window[0]}-{g.window[1]}"
        )
        pr = g.projection
        if pr is None:
            cli.out.print("projection: needs counts on two different days")
        else:
            style = "green" if pr.within_window else "bold red"
            cli.out.print(f"projection: [{style}]{pr.note}[/]")

    cli.emit(g, human)


def _count_cmd(
    lot: str,
    total: str,
    viable: str,
    date: str | None,
    day: int | None,
    volume_ml: str | None,
    method: str | None,
    today: date_type,
) -> Any:
    from mfg.domain.dates import parse_date
    from mfg.services.counts import RecordCount

    return RecordCount(
        lot_number=lot,
        total_cells=_cells(total, "total"),
        viable_cells=_cells(viable, "viable"),
        measured_on=parse_date(date, "date", today) if date else None,
        day=day,
        volume_ml=_float(volume_ml, "volume_ml"),
        method=method,
    )


@command(count_app, "add")
def count_add(
    cli: Cli,
    lot: LotArg,
    total: Annotated[str, typer.Option(help="Total cells: 1.2e9, 1.2x10^9 or 1,200x10^6.")],
    viable: Annotated[str, typer.Option(help="Viable cells (<= total).")],
    date: Annotated[str | None, typer.Option(help="Date counted (YYYY-MM-DD or today).")] = None,
    day: Annotated[int | None, typer.Option(help="Expansion day instead of --date.")] = None,
    volume_ml: Annotated[str | None, typer.Option(help="Culture volume in mL.")] = None,
    method: Annotated[str | None, typer.Option(help="Counter / method, e.g. NC-200.")] = None,
) -> None:
    """Record a cell count.

    Example: mfg count add BH002-26-0001 --date today --total 1.2x10^9 --viable 1.1e9 --method NC-200
    """
    from mfg.domain.numbers import format_cells, format_pct
    from mfg.services import counts

    actor = cli.actor()
    db = cli.database()
    cmd = _count_cmd(lot, total, viable, date, day, volume_ml, method, db.today(cli.now))
    v = counts.record_count(cmd, db=db, actor=actor, now=cli.now)
    cli.emit(
        v,
        lambda: cli.out.print(
            f"count {v.id}: {v.lot_number} day {v.expansion_day}, viable "
            f"{format_cells(v.viable_cells)} of {format_cells(v.total_cells)} "
            f"({format_pct(v.viability_pct)})"
        ),
    )
    _plausibility(cli, v)


def _plausibility(cli: Cli, v: Any) -> None:
    """The TUI's plausibility warnings for a count just recorded (a second count the same day,
    >10-fold in two days, viability down >20 points), on stderr: a script reading --json is
    not disturbed, the person at the terminal sees them; the count stays (correct it with
    `mfg count correct` when it is a typo)."""
    import sys

    from mfg.domain.plausibility import Count, count_warnings
    from mfg.domain.text import visible
    from mfg.errors import CellTrailError
    from mfg.services import counts

    try:  # the count is recorded: a read that fails now must not be reported as a refusal
        h = counts.count_history(v.lot_number, db=cli.database(), actor=cli.actor(), now=cli.now)
    except CellTrailError as e:
        sys.stderr.write(f"CHECK: the plausibility check did not run: {visible(str(e))}\n")
        return
    earlier = [
        Count(c.expansion_day, c.measured_on, c.viable_cells, c.viability_pct)
        for c in h.counts
        if c.id != v.id
    ]
    new = Count(v.expansion_day, v.measured_on, v.viable_cells, v.viability_pct)
    for w in count_warnings(new, earlier):
        sys.stderr.write(
            f"CHECK: {visible(w)} (count {v.id} is recorded: `mfg count correct "
            f"{v.lot_number} {v.id} ...` if it is a typo)\n"
        )


@command(count_app, "correct")
def count_correct(
    cli: Cli,
    lot: LotArg,
    count_id: Annotated[int, typer.Argument(metavar="COUNT_ID", help="Id from `mfg lot growth`.")],
    total: Annotated[str, typer.Option(help="Corrected total cells.")],
    viable: Annotated[str, typer.Option(help="Corrected viable cells.")],
    reason: Annotated[str, typer.Option(help="Why the count is corrected (audited).")],
    date: Annotated[str | None, typer.Option(help="Corrected date.")] = None,
    day: Annotated[int | None, typer.Option(help="Corrected expansion day.")] = None,
    volume_ml: Annotated[str | None, typer.Option(help="Culture volume in mL.")] = None,
    method: Annotated[str | None, typer.Option(help="Counter / method.")] = None,
    expect_version: ExpectOpt = None,
) -> None:
    """Correct a count: a new record supersedes it; the original stays visible.

    Example: mfg count correct BH002-26-0001 7 --day 3 --total 2.4e8 --viable 2.2e8
    --reason "transcription error: exponent"
    """
    from mfg.domain.numbers import format_cells
    from mfg.services import counts

    actor = cli.actor()
    db = cli.database()
    cmd = _count_cmd(lot, total, viable, date, day, volume_ml, method, db.today(cli.now))
    seen = expect_version
    if seen is None:
        seen = counts.version_of(count_id, db=db, actor=actor)
        if not cli.json:
            cli.out.print(f"correcting count {count_id} version {seen}")
    v = counts.correct_count(
        count_id, cmd, reason, db=db, actor=actor, now=cli.now, expected_version=seen
    )
    cli.emit(
        v,
        lambda: cli.out.print(
            f"count {count_id} corrected by count {v.id}: day {v.expansion_day}, viable "
            f"{format_cells(v.viable_cells)}"
        ),
    )


def _correct_harvest(cli: Cli, cmd: Any, reason: str, expect_version: int | None) -> Any:
    """The correction with the version the user saw (or the one read as the command starts)."""
    from mfg.services import harvest

    db, actor = cli.database(), cli.actor()
    lot = cmd.lot_number
    seen = expect_version
    if seen is None:
        seen = harvest.harvest_version(lot, db=db, actor=actor)
        if not cli.json:
            cli.out.print(f"correcting the harvest of {lot} version {seen}")
    return harvest.correct_harvest(
        cmd,
        reason,
        db=db,
        actor=actor,
        now=cli.now,
        expected_version=seen,
    )


@command(app, "harvest")
def harvest_cmd(
    cli: Cli,
    lot: LotArg,
    date: Annotated[str, typer.Option(help="Harvest date (YYYY-MM-DD or today).")],
    total_viable: Annotated[str, typer.Option(help="Total viable cells harvested.")],
    car_pct: Annotated[str, typer.Option(help="CAR+ % of viable cells.")],
    bags: Annotated[
        int | None, typer.Option(help="Dose bags filled (default: doses, max 4).")
    ] = None,
    bag_volume_ml: Annotated[str | None, typer.Option(help="Volume per bag in mL.")] = None,
    cryopreserved_on: Annotated[str | None, typer.Option(help="Cryopreservation date.")] = None,
    window_reason: Annotated[
        str | None, typer.Option(help="Required when harvesting outside the window: the deviation.")
    ] = None,
    correct: Annotated[
        str | None,
        typer.Option(
            "--correct", metavar="REASON", help="Correct the recorded harvest, with this reason."
        ),
    ] = None,
    expect_version: ExpectOpt = None,
) -> None:
    """Record the harvest: CAR+ viable cells, whether the target dose is met, doses available.

    Example: mfg harvest BH002-26-0001 --date today --total-viable 3.0e9 --car-pct 32.5
    """
    from mfg.domain.dates import parse_date
    from mfg.domain.numbers import format_cells, format_pct
    from mfg.services import harvest

    actor = cli.actor()
    db = cli.database()
    today = db.today(cli.now)
    cmd = harvest.RecordHarvest(
        lot_number=lot,
        harvested_on=parse_date(date, "date", today),
        total_viable_cells=_cells(total_viable, "total_viable"),
        car_pct=_pct(car_pct, "car_pct"),
        bags=bags,
        bag_volume_ml=_float(bag_volume_ml, "bag_volume_ml"),
        cryopreserved_on=parse_date(cryopreserved_on, "cryopreserved_on", today)
        if cryopreserved_on
        else None,
        window_reason=window_reason,
    )
    if correct is not None:
        h = _correct_harvest(cli, cmd, correct, expect_version)
    else:
        h = harvest.record_harvest(cmd, db=db, actor=actor, now=cli.now)

    def human() -> None:
        from rich.markup import escape

        o = cli.out
        o.print(
            f"{h.lot_number} harvested on day {h.harvest_day}"
            f"{'' if h.in_window else ' (OUTSIDE the window: ' + escape(h.window_reason or '') + ')'}"
        )
        o.print(
            f"CAR+ viable T cells: {format_cells(h.car_viable_cells)} "
            f"({format_cells(h.total_viable_cells)} viable x {format_pct(h.car_pct)} CAR+), "
            f"{format_cells(h.cells_per_kg)} /kg"
        )
        o.print(
            f"target dose {format_cells(h.target_dose_cells)}: "
            + ("[green]met[/]" if h.dose_met else "[bold red]NOT met[/]")
        )
        o.print(
            f"full doses available: {h.doses_available} (first dose + "
            f"{h.further_doses} further); {h.bag_count} bag(s) of {h.bag_volume_ml:g} mL; "
            f"expires {h.expires_on}"
        )

    cli.emit(h, human)
