"""A released lot's state, held to the disposition its keyed audit trail records.

A hostile trial's question, answered in SQL (2026-12-05): a rejected lot whose ``lot.state``
was set to ``released``, whose disposition row's ``decision`` to ``released`` and whose
signature's ``meaning`` to ``released`` had no hold left (``state-unsigned`` compares the state
with the disposition table, which the same edit changed), and its bag was issued. Three columns
anyone with SQL access can write. The audit trail's events are not: each carries an HMAC under
the site's audit key, which is kept outside the database.

So before a bag of a (conditionally) released lot is issued, thawed or infused, and when its
label is scanned, the lot's last ``lot.disposition`` event is read and its keyed hash recomputed
from its stored columns (the text ``mfg audit verify`` hashes, built by the database:
``audit.message_sql``). The step goes ahead only if that event is authentic and its decision
is the lot's state. One indexed read and one HMAC; the whole chain stays ``mfg audit verify``'s
work (an event deleted from the middle of the trail, under dropped triggers, is found there).
"""

from __future__ import annotations

import hmac

from sqlalchemy import text
from sqlmodel import Session

from mfg import audit
from mfg.auditkey import Keyring
from mfg.domain.canonical import decode_json
from mfg.domain.lifecycle import LotState
from mfg.errors import RuleViolation
from mfg.store.tables import Lot

_RELEASES = frozenset({LotState.RELEASED.value, LotState.CONDITIONALLY_RELEASED.value})


def _last_disposition_sql(dialect: str) -> str:
    return (
        "SELECT prev_hash, hash, key_id, new_values, "
        f"{audit.message_sql(dialect)} AS message FROM auditevent "
        "WHERE lot_number = :lot AND action = 'lot.disposition' ORDER BY seq DESC LIMIT 1"
    )


def problem(session: Session, ring: Keyring, lot: Lot) -> str | None:
    """Why the lot's (conditionally) released state is not what the last disposition in its
    keyed audit trail says; None when it is, or when the lot is not released (nothing is issued
    from it then) or historical (never issued)."""
    if lot.state not in _RELEASES or lot.historical:
        return None
    conn = session.connection()
    row = conn.execute(
        text(_last_disposition_sql(conn.dialect.name)), {"lot": lot.lot_number}
    ).first()
    said = f"the lot is {lot.state}, but its audit trail"
    if row is None:
        return f"{said} records no signed disposition of it"
    prev_hash, stored, key_id, new_values, message = row
    mac = ring.mac(key_id or "")
    if mac is None or not hmac.compare_digest(
        audit.keyed_hash(mac, prev_hash or "", message or ""), stored or ""
    ):
        return f"{said}'s last disposition event of it fails its keyed hash"
    values = decode_json(new_values or "")
    decision = values.get("decision") if isinstance(values, dict) else None
    if decision != lot.state:
        return f"{said}'s last signed disposition of it says {decision or 'nothing'}"
    return None


def check(session: Session, ring: Keyring, lot: Lot, doing: str) -> None:
    """Refuse a custody step (``doing``: issue, thaw, infuse) when ``problem`` names one."""
    why = problem(session, ring, lot)
    if why is not None:
        raise RuleViolation(
            "lot",
            "lot-on-hold",
            f"HOLD: lot {lot.lot_number}: {why}: changed outside CellTrail? do not {doing} its "
            "bags; return them to QA (QA: mfg audit verify)",
        )
