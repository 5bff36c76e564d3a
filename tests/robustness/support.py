"""Helpers shared by the robustness tests: raw SQL (the way a tamperer works), row counts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlmodel import func, select

from mfg.services import audit_trail
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, CellCount, Harvest, Lot, Subject, User

COUNTED = (AuditEvent, Subject, Lot, CellCount, Harvest, User)


def sql(db: Database, statement: str, **params: Any) -> None:
    """Run SQL directly on the database, outside every service (what a tamperer would do)."""
    with db.engine.begin() as c:
        c.execute(text(statement), params)


AUDIT_TRIGGERS = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS auditevent_no_update",
        "DROP TRIGGER IF EXISTS auditevent_no_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent",
        "DROP TRIGGER IF EXISTS auditevent_no_truncate ON auditevent",
    ),
}


def attack(db: Database, statement: str, **params: Any) -> None:
    """What someone with write access to the database does to the audit table: drop the
    append-only triggers first (a file editor or the table owner can), then edit."""
    with db.engine.begin() as c:
        for drop in AUDIT_TRIGGERS[db.dialect]:
            c.execute(text(drop))
        c.execute(text(statement), params)


def scalar(db: Database, statement: str, **params: Any) -> Any:
    with db.engine.connect() as c:
        return c.execute(text(statement), params).scalar()


def count_and_its_event_times_ten(db: Database, count_id: int) -> int:
    """The careful tamperer: count ``count_id``'s viable cells made ten times more in the row
    AND in the event that recorded it (``attack``). Returns that event's seq."""
    seq = scalar(
        db,
        "SELECT seq FROM auditevent WHERE entity = 'count' AND entity_id = :c "
        "AND action = 'count.recorded'",
        c=str(count_id),
    )
    v = json.loads(scalar(db, "SELECT new_values FROM auditevent WHERE seq = :s", s=seq))
    v["viable_cells"] *= 10
    attack(db, "UPDATE auditevent SET new_values = :v WHERE seq = :s", v=json.dumps(v), s=seq)
    sql(db, "UPDATE cellcount SET viable_cells = viable_cells * 10 WHERE id = :c", c=count_id)
    return int(seq)


def n_rows(db: Database, table: type) -> int:
    with db.read() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def counts(db: Database) -> dict[str, int]:
    return {t.__name__: n_rows(db, t) for t in COUNTED}


def verify(db: Database, qa: Actor):  # type: ignore[no-untyped-def]
    return audit_trail.verify(db=db, actor=qa)


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 120) -> None:
    """Poll ``condition`` (another process is at work) until it holds; fail after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {limit_s} s: {what}")
        time.sleep(0.02)


def bag_in_the_tank(
    db: Database, actors: dict[str, Actor], decision: str, reason: str = ""
) -> tuple[str, str]:
    """A lot labelled in quarantine, then signed ``decision``, one bag stored: (lot, payload)."""
    from mfg.services import custody
    from mfg.services import labels as label_svc
    from tests.release.conftest import PASSING, enter, harvested, sign
    from tests.services.test_holds import LOC
    from tests.support import world
    from tests.support.constants import NOW

    tech = actors["tech"]
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    world.approve_label_layouts(db, NOW)
    printed = label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag"), db=db, actor=tech, now=NOW
    )
    sign(db, actors, lot, decision, **({"reason": reason} if reason else {}))
    custody.store_bag(printed.payloads[0], LOC, db=db, actor=tech, now=NOW)
    return lot, printed.payloads[0]
