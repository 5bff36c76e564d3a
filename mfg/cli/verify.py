"""``mfg verify``: a second person checks the values that set the dose (harvest, body weight)."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

verify_app = typer.Typer(
    help="Second-person verification of the harvest and the body weight (needed before release).",
    no_args_is_help=True,
)
app.add_typer(verify_app, name="verify")

ExpectOpt = Annotated[
    int | None,
    typer.Option("--expect-version", help="The version you checked; refused if it changed since."),
]


@command(verify_app, "harvest")
def verify_harvest(
    cli: Cli,
    lot: Annotated[str, typer.Argument(metavar="LOT", help="Lot number.")],
    expect_version: ExpectOpt = None,
) -> None:
    """Verify a lot's harvest (total viable cells, CAR+ %) against the source record; never by
    the person who entered or corrected it.

    Example: mfg verify harvest BH002-26-0001 --user tech2
    """
    from mfg.domain.numbers import format_cells, format_pct
    from mfg.services import harvest

    h = harvest.verify_harvest(
        lot, db=cli.database(), actor=cli.actor(), now=cli.now, expected_version=expect_version
    )
    cli.emit(
        h,
        lambda: cli.out.print(
            f"{h.lot_number} harvest verified by {h.verified_by}: "
            f"{format_cells(h.total_viable_cells)} viable, CAR+ {format_pct(h.car_pct)}"
        ),
    )


@command(verify_app, "weight")
def verify_weight(
    cli: Cli,
    subject_id: Annotated[str, typer.Argument(metavar="ID", help="Subject id.")],
    expect_version: ExpectOpt = None,
) -> None:
    """Verify a subject's body weight (it sets the target dose); never by the person who
    entered it.

    Example: mfg verify weight S-001 --user tech2
    """
    from mfg.services import subjects

    v = subjects.verify_weight(
        subject_id,
        db=cli.database(),
        actor=cli.actor(),
        now=cli.now,
        expected_version=expect_version,
    )
    cli.emit(
        v,
        lambda: cli.out.print(
            f"{v.subject_id}: {v.weight_kg:g} kg (on {v.weight_on}) verified by "
            f"{v.weight_verified_by}"
        ),
    )
