"""Tamper evidence: changes made behind CellTrail's back are found by ``audit verify``."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

from sqlalchemy import text

from mfg import audit
from mfg.services import audit_trail, holds
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


@oq_check(
    "Tamper evidence",
    "A QA hold deleted directly in SQL is found",
    "audit verify fails, naming the hold that no longer exists",
)
def hold_deleted_in_sql(oq: Oq) -> tuple[bool, str]:
    holds.place_hold(oq.lot, "OQ: hold to delete", oq.password, db=oq.db, actor=oq.qa, now=oq.now)
    with oq.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM lothold WHERE reason = 'OQ: hold to delete'"))
    v = audit_trail.verify(db=oq.db, actor=oq.qa)
    named = [p for p in v.record_problems if p.startswith("hold ") and "no longer exists" in p]
    return (not v.ok) and bool(named), (named[0] if named else f"verify ok={v.ok}: not detected")


@oq_check(
    "Tamper evidence",
    "A release result marked superseded directly in SQL is found",
    "audit verify fails, naming the result and its superseded_by_id (the result would drop out "
    "of the review and the COA)",
)
def result_hidden_in_sql(oq: Oq) -> tuple[bool, str]:
    with oq.db.engine.begin() as conn:
        pk = conn.execute(
            text("SELECT max(id) FROM releaseresult WHERE superseded_by_id IS NULL")
        ).scalar()
        if pk is None:
            return False, "no current release result to tamper with"
        conn.execute(
            text("UPDATE releaseresult SET superseded_by_id = id WHERE id = :i"), {"i": pk}
        )
    v = audit_trail.verify(db=oq.db, actor=oq.qa)
    with oq.db.engine.begin() as conn:  # put back: the checks after this one verify results
        conn.execute(
            text("UPDATE releaseresult SET superseded_by_id = NULL WHERE id = :i"), {"i": pk}
        )
    named = [p for p in v.record_problems if p.startswith(f"result {pk}: superseded_by_id")]
    return (not v.ok) and bool(named), (named[0] if named else f"verify ok={v.ok}: not detected")


# -- issue 11: the key, the append-only table, anchors, truncation, re-hashing ----------------
# (after the check above: these damage the scratch trail on purpose, the last one for good)


def _anchor_path(oq: Oq) -> Path:
    return Path(oq.db.settings.home) / "oq-anchor.json"


@oq_check(
    "Tamper evidence",
    "The audit key is kept outside the database",
    "a key file of mode 0600 holding the current key",
)
def key_outside(oq: Oq) -> tuple[bool, str]:
    ring = oq.db.audit_keyring()
    mode = stat.S_IMODE(ring.path.stat().st_mode)
    return mode == 0o600, f"{ring.path}: mode {mode:04o}, key id {ring.current}"


@oq_check(
    "Tamper evidence",
    "The audit table refuses UPDATE",
    "refused by the append-only trigger",
)
def refuses_edits(oq: Oq) -> tuple[bool, str]:
    try:
        with oq.db.engine.begin() as c:
            c.execute(text("UPDATE auditevent SET reason = 'edited' WHERE seq = 1"))
    except Exception as e:  # the trigger's refusal, whatever the driver calls it
        return "append-only" in str(e), f"refused: {str(e).splitlines()[0][:120]}"
    return False, "the UPDATE was accepted"


@oq_check(
    "Tamper evidence",
    "An anchor exported now verifies",
    "`audit verify --anchor` finds the trail's head",
)
def anchor_verifies(oq: Oq) -> tuple[bool, str]:
    from datetime import UTC, datetime

    path = _anchor_path(oq)
    path.unlink(missing_ok=True)
    cp = audit_trail.anchor(db=oq.db, actor=oq.qa, out=path, now=datetime.now(UTC))
    v = audit_trail.verify(db=oq.db, actor=oq.qa, anchor=path)
    return v.first_bad_seq is None and not v.problem, f"{cp.short}; {v.checkpoint}"


@oq_check(
    "Tamper evidence",
    "The newest event deleted in SQL (triggers dropped) is found",
    "audit verify: truncated, against the anchor",
)
def truncation(oq: Oq) -> tuple[bool, str]:
    _drop_triggers(oq)
    with oq.db.engine.begin() as c:
        head = c.execute(text("SELECT max(seq) FROM auditevent")).scalar_one()
        c.execute(text("DELETE FROM auditevent WHERE seq = :s"), {"s": head})
    v = audit_trail.verify(db=oq.db, actor=oq.qa, anchor=_anchor_path(oq))
    return v.first_bad_seq == head and "truncated" in v.problem, v.problem


@oq_check(
    "Tamper evidence",
    "An event re-hashed without the site key is found",
    "audit verify names event 2",
)
def rehashed(oq: Oq) -> tuple[bool, str]:
    from mfg.auditkey import Mac

    msg = audit.message_sql(oq.db.dialect)
    with oq.db.engine.begin() as c:
        row = c.execute(text(f"SELECT prev_hash, {msg} FROM auditevent WHERE seq = 2")).one()
        forged = audit.keyed_hash(Mac(secrets.token_bytes(32)), row[0], row[1])
        c.execute(text("UPDATE auditevent SET hash = :h WHERE seq = 2"), {"h": forged})
    v = audit_trail.verify(db=oq.db, actor=oq.qa)
    return v.first_bad_seq == 2, v.problem


def _drop_triggers(oq: Oq) -> None:
    drops = (
        [
            "DROP TRIGGER IF EXISTS auditevent_no_update",
            "DROP TRIGGER IF EXISTS auditevent_no_delete",
        ]
        if oq.db.dialect == "sqlite"
        else [
            "DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent",
            "DROP TRIGGER IF EXISTS auditevent_no_truncate ON auditevent",
        ]
    )
    with oq.db.engine.begin() as c:
        for d in drops:
            c.execute(text(d))
