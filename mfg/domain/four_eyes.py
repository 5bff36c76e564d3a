"""Four eyes over everything signed (21 CFR 11.10(g); EU GMP Annex 11 sections 6 and 14).

Nobody signs a disposition for a lot whose signed record they entered, corrected or verified:
the harvest (cell numbers and CAR+ %, which set the dose), the cell counts, the subject's body
weight (which sets the target dose), the release results, and the corrections of any of them.
The critical hand-entered values that set the dose (harvest cells and CAR+ %, body weight) need
a second person's verification, like results, before a release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mfg.errors import NotPermitted, RuleViolation


@dataclass(frozen=True)
class Involvement:
    """Someone's part in a lot's signed record."""

    what: str  # "result VIAB", "harvest", "count day 3", "weight of S-001"
    how: str  # entered | corrected | verified
    by: str


def check_signer(signer: str, lot_number: str, involvements: Iterable[Involvement]) -> None:
    """Refuse a signer who entered, corrected or verified any part of the signed record."""
    mine = [i for i in involvements if i.by == signer]
    if mine:
        parts = ", ".join(sorted({f"{i.how} the {i.what}" for i in mine}))
        raise NotPermitted(
            f"{signer} {parts} of lot {lot_number}: another QA person must sign its disposition",
            rule="signer-entered-or-verified",
        )


def check_verifier(verifier: str, entered_by: str, what: str) -> None:
    """A second person checks a critical value: never the one who entered it."""
    if verifier == entered_by:
        raise NotPermitted(
            f"{verifier} entered the {what}: a second person must verify it",
            rule="verify-own-entry",
        )


def unverified_record(harvest_verified: bool | None, weight_verified: bool) -> list[str]:
    """What still needs a second person before a release (``None``: no harvest yet)."""
    out = []
    if harvest_verified is False:
        out.append("the harvest (cells, CAR+ %)")
    if not weight_verified:
        out.append("the body weight")
    return out


def check_verified(harvest_verified: bool | None, weight_verified: bool, lot_number: str) -> None:
    missing = unverified_record(harvest_verified, weight_verified)
    if missing:
        raise RuleViolation(
            "decision",
            "record-unverified",
            f"cannot release {lot_number}: not verified by a second person: {', '.join(missing)}",
        )
