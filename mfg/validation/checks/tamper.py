"""Tamper evidence: changes made behind CellTrail's back are found by ``audit verify``."""

from __future__ import annotations

from sqlalchemy import text

from mfg.services import audit_trail
from mfg.validation.context import Oq
from mfg.validation.registry import oq_check


@oq_check(
    "Tamper evidence",
    "A count changed directly in SQL is found",
    "audit verify fails, naming the count and field",
)
def count_changed_in_sql(oq: Oq) -> tuple[bool, str]:
    with oq.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cellcount SET viable_cells = viable_cells * 10 "
                "WHERE id = (SELECT min(id) FROM cellcount)"
            )
        )
    v = audit_trail.verify(db=oq.db, actor=oq.qa)
    named = [p for p in v.record_problems if "viable_cells" in p]
    return (not v.ok) and bool(named), (named[0] if named else f"verify ok={v.ok}: not detected")
