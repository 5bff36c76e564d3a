"""A typed or scanned lot number or CoI, resolved to its lot (the TUI's scan and open)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from mfg.domain import identity, ids
from mfg.services.uow import Actor, Database
from mfg.store.tables import Lot, TherapyEvent


@dataclass(frozen=True)
class ScanTarget:
    """What a scanned or typed code points at."""

    kind: str  # "lot"
    lot_number: str
    detail: str = ""


def find_lot(text: str, *, db: Database, actor: Actor) -> ScanTarget | None:
    """Resolve a typed or scanned lot number or CoI (single spaces allowed; the CoI with its
    check character K, its bar code ``&/CH...``, or a 0.1 COI code) to its lot: a CoI to the
    newest lot of its therapy event."""
    actor.require("lot.read")
    t = identity.check_text(text, "search", 64, "lot number or CoI")
    lot = Lot.__table__  # type: ignore[attr-defined]
    with db.read() as s:
        conn = s.connection()
        if identity.LOT_NUMBER_RE.fullmatch(t.upper()):
            key = identity.lot_number(t, "search")
            hit = conn.execute(select(lot.c.lot_number).where(lot.c.lot_number == key)).first()
            return ScanTarget("lot", hit[0]) if hit else None
        compact = t.replace(" ", "").replace("|", "").upper()
        if len(compact) == identity.LEGACY_COI_LEN and not compact.startswith("CH"):
            code = identity.coi(t, "search")  # refuses a wrong check character loudly
            hit = conn.execute(select(lot.c.lot_number).where(lot.c.coi == code)).first()
            return ScanTarget("lot", hit[0], f"COI {code}") if hit else None
        if compact.startswith(("CH", identity.COI_DI)) and 15 <= len(compact) <= 17:
            coi = ids.parse_coi(t)  # refuses a malformed CoI or a wrong K loudly
            ev = TherapyEvent.__table__  # type: ignore[attr-defined]
            hit = conn.execute(
                select(lot.c.lot_number)
                .select_from(lot.join(ev, ev.c.id == lot.c.therapy_event_pk))
                .where(ev.c.coi == coi.content)
                .order_by(lot.c.id.desc())
            ).first()
            return ScanTarget("lot", hit[0], f"CoI {coi.text}") if hit else None
    return None
