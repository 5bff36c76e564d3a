"""mfg subject add|show|weight."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

subject_app = typer.Typer(help="Trial subjects (pseudonymous ids).", no_args_is_help=True)
app.add_typer(subject_app, name="subject")


def _weight(text: str) -> float:
    from mfg.domain.numbers import parse_decimal

    return float(parse_decimal(text.lower().removesuffix("kg").strip(), "weight_kg"))


@command(subject_app, "add")
def subject_add(
    cli: Cli,
    subject_id: Annotated[str, typer.Argument(metavar="ID", help="Trial subject id.")],
    site: Annotated[str, typer.Option(help="Clinical site.")],
    indication: Annotated[str, typer.Option(help="SLE, LN, SSc, SjS, AAV or IIM.")],
    weight_kg: Annotated[str, typer.Option(help="Body weight in kg (20-300).")],
    dose_level: Annotated[str, typer.Option(help="DL1, DL2 or DL3.")],
    weight_on: Annotated[str | None, typer.Option(help="Date the weight was taken.")] = None,
    initials: Annotated[str | None, typer.Option(help="Initials, for labels.")] = None,
    dob: Annotated[str | None, typer.Option(help="Date of birth, for labels.")] = None,
    product: Annotated[str, typer.Option(help="Product code.")] = "BH002",
) -> None:
    """Add a trial subject.

    Example: mfg subject add S-001 --site BJ01 --indication SLE --weight-kg 62.5
    --dose-level DL2 --initials AB --dob 1988-04-02
    """
    from mfg.domain.dates import parse_date
    from mfg.services import subjects

    actor = cli.actor()
    db = cli.database()
    today = db.today(cli.now)
    cmd = subjects.AddSubject(
        subject_id=subject_id,
        site=site,
        indication=indication,
        weight_kg=_weight(weight_kg),
        dose_level=dose_level,
        weight_on=parse_date(weight_on, "weight_on", today) if weight_on else None,
        initials=initials,
        dob=parse_date(dob, "dob") if dob else None,
        product_code=product,
    )
    view = subjects.add_subject(cmd, db=db, actor=actor, now=cli.now)
    cli.emit(
        view,
        lambda: cli.out.print(
            f"subject {view.subject_id} added: {view.indication}, {view.weight_kg:g} kg, "
            f"{view.dose_level}, site {view.site}"
        ),
    )


@command(subject_app, "show")
def subject_show(cli: Cli, subject_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Show a subject.

    Example: mfg subject show S-001 --json
    """
    from mfg.services import subjects

    view = subjects.show_subject(subject_id, db=cli.database(), actor=cli.actor())
    cli.emit(
        view,
        lambda: cli.out.print(
            f"{view.subject_id}: site {view.site}, {view.indication}, {view.weight_kg:g} kg "
            f"(on {view.weight_on}), {view.dose_level}"
        ),
    )


@command(subject_app, "weight")
def subject_weight(
    cli: Cli,
    subject_id: Annotated[str, typer.Argument(metavar="ID")],
    weight_kg: Annotated[str, typer.Option(help="New body weight in kg.")],
    reason: Annotated[str, typer.Option(help="Why it changed (audited).")],
    weight_on: Annotated[str, typer.Option(help="Date it was taken.")] = "today",
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="The subject version you saw (subject show --json); refused if it changed since. "
            "Default: the version read as this command starts.",
        ),
    ] = None,
) -> None:
    """Record a new body weight; the old one stays in the audit trail.

    Example: mfg subject weight S-001 --weight-kg 60.1 --reason "re-weighed before apheresis"
    """
    from mfg.domain.dates import parse_date
    from mfg.services import subjects

    actor = cli.actor()
    db = cli.database()
    seen = expect_version
    if seen is None:
        seen = subjects.show_subject(subject_id, db=db, actor=actor).version
        if not cli.json:
            cli.out.print(f"changing the weight of {subject_id} (subject version {seen})")
    view = subjects.update_weight(
        subject_id,
        _weight(weight_kg),
        parse_date(weight_on, "weight_on", db.today(cli.now)),
        reason,
        db=db,
        actor=actor,
        now=cli.now,
        expected_version=seen,
    )
    cli.emit(view, lambda: cli.out.print(f"{view.subject_id}: {view.weight_kg:g} kg"))
    if not cli.json:
        from mfg.services import holds

        for st in holds.subject_holds(view.subject_id, db=db, actor=actor):
            cli.out.print(f"lot {st.lot_number} is on {st.summary}", markup=False)
