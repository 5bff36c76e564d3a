"""A date or time stored as text that is none (an edit outside CellTrail on SQLite, whose columns
hold any text: ``day0 = '2026-13-45'``) is a refusal that quotes it, never an internal error: it
stopped the TUI for every user after the log-in, and ``mfg lot list`` said "internal error".
PostgreSQL's date types cannot hold such a value. ``mfg audit verify`` names the record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from mfg.errors import RuleViolation
from mfg.services import board, lots, reporting, worklist
from mfg.services.uow import Database
from tests.release.conftest import harvested, sign
from tests.support.constants import NOW


def _edit(db: Database, sql: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(sql))


def _refused(act: Any, what: str = "date") -> str:
    with pytest.raises(RuleViolation) as e:
        act()
    assert (e.value.field, e.value.rule) == (what, "stored-value-unreadable"), e.value
    return e.value.message


def test_a_day_0_that_is_no_date_is_refused_by_every_list(lab: Database, request: Any) -> None:
    tech, qa = request.node.actors["tech"], request.node.actors["qa"]
    _edit(lab, "UPDATE lot SET day0 = '2026-13-45' WHERE lot_number = 'BH002-26-0002'")
    said = _refused(lambda: lots.list_lots(db=lab, actor=tech))
    assert "'2026-13-45'" in said and "mfg audit verify" in said
    _refused(lambda: lots.show_lot("BH002-26-0002", db=lab, actor=tech))
    _refused(lambda: board.board(db=lab, actor=tech, now=NOW))
    for limit in (worklist.LIMIT, None):  # Today's raw read of the lots being expanded
        _refused(lambda n=limit: worklist.worklist(db=lab, actor=tech, now=NOW, limit=n))
    assert worklist.worklist(db=lab, actor=qa, now=NOW).total == 0  # QA's Today reads no day 0
    assert lots.show_lot("BH002-26-0001", db=lab, actor=tech).day0  # the other lot reads


def test_a_time_that_is_no_time_is_refused(lab: Database, request: Any) -> None:
    tech = request.node.actors["tech"]
    _edit(lab, "UPDATE lot SET registered_at = 'yesterday' WHERE lot_number = 'BH002-26-0001'")
    said = _refused(lambda: lots.show_lot("BH002-26-0001", db=lab, actor=tech), "time")
    assert "'yesterday'" in said


def test_the_report_refuses_a_disposition_time_that_is_no_time(sqlite_db: Database) -> None:
    from tests.conftest import add_users

    actors = add_users(sqlite_db)
    lot = harvested(sqlite_db, actors, "S-001")
    from tests.release.conftest import PASSING, enter

    enter(sqlite_db, actors, lot, PASSING)
    sign(sqlite_db, actors, lot)
    _edit(sqlite_db, "UPDATE disposition SET decided_at = '2026-02-30 25:00:00'")
    _refused(lambda: reporting.success_rate(db=sqlite_db, actor=actors["sponsor"]), "time")
