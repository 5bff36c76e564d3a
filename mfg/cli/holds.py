"""``mfg hold``: why a lot is on hold; QA places and lifts holds and signs OOS administration."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mfg.cli import app
from mfg.cli._common import Cli, SignStdinOpt, command

hold_app = typer.Typer(
    help="Holds: no bag of a held lot is issued, thawed or infused.", no_args_is_help=True
)
app.add_typer(hold_app, name="hold")

LotArg = Annotated[str, typer.Argument(metavar="LOT", help="Lot number, e.g. BH002-26-0001.")]
ReasonOpt = Annotated[str, typer.Option(help="The reason, kept with the signature.")]


def _signing(cli: Cli, action: str, password_stdin: bool, prompt: str) -> tuple[Any, str]:
    """The actor, refused before anything is asked if the role may not ``action``, and the
    password of the e-signature: typed now (or --password-stdin), never MFG_PASSWORD."""
    actor = cli.actor()
    actor.require(action)
    return actor, cli.signing_password(password_stdin, prompt)


def _show(cli: Cli, st: Any) -> None:
    from rich.markup import escape

    def human() -> None:
        o = cli.out
        if st.on_hold:
            o.print(f"[bold white on red] HOLD [/] [bold red]lot {st.lot_number} is on hold[/]")
        else:
            o.print(f"lot {st.lot_number} is not on hold")
        for r in st.reasons:
            tag = "covered by the OOS administration decision" if r.covered else "HOLD"
            o.print(f"  [bold red]{tag}[/] {escape(r.message)}")
        for h in st.manual:
            o.print(
                f"  QA hold {h.id}: placed by {escape(h.placed_name)} at {cli.local(h.placed_at)}"
            )
        for d in st.oos_decisions:
            o.print(
                f"  OOS administration for {escape(d.physician)} signed by "
                f"{escape(d.printed_name)} at {cli.local(d.signed_at)}: {escape(d.reason)}"
            )

    data = {
        "lot_number": st.lot_number,
        "on_hold": st.on_hold,
        "reasons": st.reasons,
        "manual": st.manual,
        "oos_decisions": st.oos_decisions,
    }
    cli.emit(data, human)


@command(hold_app, "show")
def hold_show(cli: Cli, lot: LotArg) -> None:
    """Whether a lot is on hold, and why (the same rule every screen and the custody steps use).

    Example: mfg hold show BH002-26-0001 --json
    """
    from mfg.services import holds

    actor = cli.actor()
    _show(cli, holds.status(lot, db=cli.database(), actor=actor))


@command(hold_app, "place")
def hold_place(
    cli: Cli, lot: LotArg, reason: ReasonOpt, password_stdin: SignStdinOpt = False
) -> None:
    """QA puts a lot on hold by hand, with a reason and an e-signature (password asked again).

    Example: mfg hold place BH002-26-0001 --reason "LN2-01 temperature excursion" --user qa
    """
    from mfg.services import holds

    actor, password = _signing(cli, "lot.hold", password_stdin, "Password to sign the hold")
    _show(cli, holds.place_hold(lot, reason, password, db=cli.database(), actor=actor, now=cli.now))


@command(hold_app, "lift")
def hold_lift(
    cli: Cli,
    lot: LotArg,
    reason: ReasonOpt,
    hold: Annotated[
        int | None, typer.Option(help="Which QA hold (when there are several).")
    ] = None,
    password_stdin: SignStdinOpt = False,
) -> None:
    """QA lifts a hold placed by hand, with a reason and an e-signature. Automatic holds end
    with their cause (alert acknowledged, deviation closed, result corrected and re-signed).

    Example: mfg hold lift BH002-26-0001 --reason "temperature log reviewed: no excursion" --user qa
    """
    from mfg.services import holds

    actor, password = _signing(cli, "lot.hold", password_stdin, "Password to sign the lifting")
    _show(
        cli,
        holds.lift_hold(
            lot, reason, password, db=cli.database(), actor=actor, now=cli.now, hold_id=hold
        ),
    )


@command(hold_app, "administer-oos")
def hold_administer_oos(
    cli: Cli,
    lot: LotArg,
    physician: Annotated[str, typer.Option(help="The treating physician who asks for it.")],
    reason: ReasonOpt,
    password_stdin: SignStdinOpt = False,
) -> None:
    """QA's signed decision that a held, out-of-specification product may be administered at
    the treating physician's request. It covers the holds standing now (never a QA hold or a
    withdrawn release); the lot stays a manufacturing failure in the outcome.

    Example: mfg hold administer-oos BH002-26-0002 --physician "Dr. A. Chen" --reason "no alternative therapy" --user qa
    """
    from mfg.services import holds

    actor, password = _signing(
        cli, "lot.oos_administration", password_stdin, "Password to sign the OOS administration"
    )
    _show(
        cli,
        holds.administer_oos(
            lot, physician, reason, password, db=cli.database(), actor=actor, now=cli.now
        ),
    )
