"""Refusals: bad input (refused with a rule, nothing written), wrong roles, account lockout and
optimistic locking."""

from __future__ import annotations

from contextlib import suppress

from mfg.domain.numbers import parse_cells
from mfg.errors import AuthenticationFailed, Conflict, NotPermitted
from mfg.services import audit_trail, counts, harvest, lots, users
from mfg.store.tables import CellCount
from mfg.validation.context import Oq, refused
from mfg.validation.registry import oq_check


@oq_check(
    "Bad input",
    "Viable cells above total cells",
    "refused [viable-exceeds-total]; nothing written",
)
def viable_above_total(oq: Oq) -> tuple[bool, str]:
    return oq.nothing_written(
        lambda: refused(
            lambda: counts.record_count(
                counts.RecordCount(oq.second_lot(), 1_000, 2_000, day=1),
                db=oq.db,
                actor=oq.tech,
                now=oq.now,
            ),
            "viable-exceeds-total",
        )
    )


@oq_check("Bad input", "Impossible cell number (1e14)", "refused; nothing written")
def impossible_cell_number(oq: Oq) -> tuple[bool, str]:
    return oq.nothing_written(
        lambda: refused(
            lambda: counts.record_count(
                counts.RecordCount(oq.second_lot(), 10**14, 10**13, day=1),
                db=oq.db,
                actor=oq.tech,
                now=oq.now,
            )
        )
    )


@oq_check(
    "Bad input",
    "Hostile number text (NaN, inf, 1e999, negative, SQL)",
    "each refused with a rule",
)
def hostile_numbers(oq: Oq) -> tuple[bool, str]:
    outs = []
    for text in ("NaN", "inf", "1e999", "-5e8", "'; DROP TABLE lot; --", "1.2.3e9"):
        ok, obs = refused(lambda t=text: parse_cells(t, "viable"))  # type: ignore[misc]
        outs.append((ok, f"{text!r}: {obs.split(' [')[-1].rstrip(']') if ok else obs}"))
    return all(o for o, _ in outs), "; ".join(x for _, x in outs)


@oq_check(
    "Bad input",
    "Text with SQL and unicode is stored verbatim",
    "method stored exactly as typed",
)
def text_verbatim(oq: Oq) -> tuple[bool, str]:
    hostile = "NC-200 'x'; DROP TABLE lot;-- ñ µ é"
    v = counts.record_count(
        counts.RecordCount(oq.second_lot(), 200_000_000, 150_000_000, day=1, method=hostile),
        db=oq.db,
        actor=oq.tech,
        now=oq.now,
    )
    with oq.db.read() as s:
        row = s.get(CellCount, v.id)
        stored = row.method if row else None
    return stored == hostile, f"stored {stored!r}"


@oq_check(
    "Bad input",
    "Harvest outside the day 10-14 window without a deviation",
    "refused [harvest-outside-window]; nothing written",
)
def harvest_outside_window(oq: Oq) -> tuple[bool, str]:
    def early() -> None:
        harvest.record_harvest(
            harvest.RecordHarvest(oq.second_lot(), oq.today, 1_000_000_000, 30.0),
            db=oq.db,
            actor=oq.tech,
            now=oq.now,
        )

    return oq.nothing_written(lambda: refused(early, "harvest-outside-window"))


@oq_check("Roles", "A sponsor cannot register a lot", "refused [not-permitted]")
def sponsor_cannot_register(oq: Oq) -> tuple[bool, str]:
    return refused(
        lambda: lots.register_lot(
            lots.RegisterLot("OQ-001", "apheresis", apheresis_on=oq.day0),
            db=oq.db,
            actor=oq.actor("oq-sponsor"),
            now=oq.now,
        ),
        kind=NotPermitted,
    )


@oq_check(
    "Roles",
    "An admin cannot record counts (separation of duties)",
    "refused [not-permitted]",
)
def admin_cannot_count(oq: Oq) -> tuple[bool, str]:
    return refused(
        lambda: counts.record_count(
            counts.RecordCount(oq.second_lot(), 2_000, 1_000, day=1),
            db=oq.db,
            actor=oq.actor_admin,
            now=oq.now,
        ),
        kind=NotPermitted,
    )


@oq_check("Roles", "A technician cannot read the audit trail", "refused [not-permitted]")
def tech_cannot_read_audit(oq: Oq) -> tuple[bool, str]:
    return refused(lambda: audit_trail.verify(db=oq.db, actor=oq.tech), kind=NotPermitted)


@oq_check(
    "Accounts",
    "Lockout after 5 wrong passwords",
    "even the right password refused [account-locked]",
)
def lockout(oq: Oq) -> tuple[bool, str]:
    for _ in range(5):
        with suppress(AuthenticationFailed):
            users.login(oq.db, "oq-sponsor", "not-the-password", now=oq.now)
    return refused(
        lambda: users.login(oq.db, "oq-sponsor", oq.password, now=oq.now), "account-locked"
    )


@oq_check(
    "Concurrency",
    "Two people correct the same count",
    "the second gets 'changed by X at T' [changed-by-someone-else]",
)
def stale_edit(oq: Oq) -> tuple[bool, str]:
    lot2 = oq.second_lot()
    cid = counts.growth(lot2, db=oq.db, actor=oq.tech, now=oq.now).counts[0].id
    counts.correct_count(
        cid,
        counts.RecordCount(lot2, 210_000_000, 150_000_000, day=1),
        "recount",
        db=oq.db,
        actor=oq.tech2,
        now=oq.now,
        expected_version=1,
    )
    return refused(
        lambda: counts.correct_count(
            cid,
            counts.RecordCount(lot2, 220_000_000, 150_000_000, day=1),
            "other",
            db=oq.db,
            actor=oq.tech,
            now=oq.now,
            expected_version=1,
        ),
        kind=Conflict,
    )
