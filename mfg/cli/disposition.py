"""mfg disposition: QA's decision on a lot, with an electronic signature bound to the review."""

from __future__ import annotations

from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, SignStdinOpt, command
from mfg.cli.lots import LotArg
from mfg.domain.text import rich_inert
from mfg.errors import RuleViolation


@command(app, "disposition")
def disposition(
    cli: Cli,
    lot: LotArg,
    decision: Annotated[
        str, typer.Argument(metavar="DECISION", help="release | conditional-release | reject")
    ],
    reason: Annotated[str, typer.Option(help="The reason, kept with the signature.")],
    exception: Annotated[
        bool, typer.Option("--exception", help="Release out of specification as an exception.")
    ] = False,
    deviation: Annotated[
        list[str] | None,
        typer.Option("--deviation", help="Deviation cited by an exception (repeat for several)."),
    ] = None,
    reviewed: Annotated[
        str | None,
        typer.Option(
            "--reviewed",
            metavar="FINGERPRINT",
            help="The review you read: the fingerprint `mfg lot review` printed (at least 12 "
            "hex digits). The signature is refused if the lot changed since.",
        ),
    ] = None,
    password_stdin: SignStdinOpt = False,
) -> None:
    """QA disposition with an electronic signature: the password is asked again at signing.

    The signature binds the review read when the command starts (with --reviewed: the review
    you read with `mfg lot review`); a harvest, result or dose changed before the signature is
    written refuses it, and nothing is signed.

    Example: mfg disposition BH002-26-0001 release --reason "All results within specification" --reviewed 3f9a1c07d2b4e611 --user qa
    """
    from mfg.services import release

    actor = cli.actor()
    actor.require("lot.disposition")  # refuse before showing the review or asking to sign
    db = cli.database()
    r = release.review(lot, db=db, actor=actor)
    if reviewed is not None:
        _check_reviewed(r.lot_number, r.reviewed, reviewed)
    if not cli.json:
        cli.out.print(
            f"{r.lot_number}: {r.exception_count} exception(s) in review "
            f"(`mfg lot review {r.lot_number}`, fingerprint {r.reviewed[:16]}); signing as "
            f"{rich_inert(actor.full_name)} ({actor.username}), "
            f"meaning: {release.DECISIONS.get(decision.strip().lower(), (None, decision))[1]}"
        )
    password = cli.signing_password(password_stdin)
    try:
        sig = release.dispose(
            release.Dispose(
                lot, decision, reason, exception, tuple(deviation or ()), reviewed=r.reviewed
            ),
            password,
            db=db,
            actor=actor,
            now=cli.now,
        )
    except RuleViolation as e:
        hint = _DISPOSITION_FLAGS.get(e.rule)
        if hint is None:
            raise
        raise RuleViolation(e.field, e.rule, f"{e.message} ({hint})") from None
    cli.emit(
        sig,
        lambda: cli.out.print(
            f"{r.lot_number} {sig.decision.replace('_', ' ')}; signed by {rich_inert(sig.printed_name)} "
            f"({sig.username}) at {sig.signed_at:%Y-%m-%d %H:%M:%S} UTC, meaning "
            f"'{sig.meaning}'; record SHA-256 {sig.record_hash[:16]}..."
        ),
    )


def _check_reviewed(lot_number: str, current: str, given: str) -> None:
    """``--reviewed``: the fingerprint QA read is the lot's review now, or nothing is signed."""
    import re

    from mfg.domain import identity
    from mfg.errors import Conflict

    text = given.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{12,64}", text):
        raise RuleViolation(
            "reviewed",
            "review-fingerprint-format",
            f"{identity.shown(given)}: the review's fingerprint is the 12-64 hex digits "
            "`mfg lot review` prints",
        )
    if not current.startswith(text):
        raise Conflict(
            f"the harvest, results or dose of {lot_number} changed since the review "
            f"{text[:16]}: nothing was signed; review the lot again (`mfg lot review "
            f"{lot_number}`), then sign"
        )


# how to act on a refusal with this command's flags (the rules' own messages name no flags)
_DISPOSITION_FLAGS = {
    "result-oos": "--exception --deviation DEV-...",
    "dose-not-met": "--exception --deviation DEV-...",
    "exception-must-cite-deviation": "--deviation DEV-...",
    "deviation-without-exception": "--deviation goes with --exception",
}
