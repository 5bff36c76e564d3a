"""A date or time stored as text that is none (an edit outside CellTrail on SQLite, whose columns
hold any text: ``day0 = '2026-13-45'``) is a refusal that quotes it, never an internal error: it
stopped the TUI for every user after the log-in, and ``mfg lot list`` said "internal error".
PostgreSQL's date types cannot hold such a value. ``mfg audit verify`` names the record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select as sa_select
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


@pytest.mark.parametrize(
    "stored", ["2026-13-45", "2026-02-30", "20261125", "2026-11-25x", "2026-W48-3", "0000-01-01"]
)
def test_a_day_0_that_is_no_date_is_listed_not_read_by_every_list(
    lab: Database, request: Any, stored: str
) -> None:
    """One lot edited in SQL takes no list of others with it: each list shows it NOT READ,
    quoting the stored text, works nothing out from it, and goes on with the other lot; the
    lot's own read refuses. ``20261125`` is refused too (``date.fromisoformat`` would read it,
    SQLite stores it as a number, and its ``date()`` does not: every read agrees)."""
    tech, qa = request.node.actors["tech"], request.node.actors["qa"]
    _edit(lab, f"UPDATE lot SET day0 = '{stored}' WHERE lot_number = 'BH002-26-0002'")
    listed = {v.lot_number: v for v in lots.list_lots(db=lab, actor=tech)}
    edited, other = listed["BH002-26-0002"], listed["BH002-26-0001"]
    assert edited.not_read.startswith("not read [stored-value-unreadable]: "), edited
    assert stored in edited.not_read and "mfg audit verify" in edited.not_read
    assert (edited.day0, edited.registered_at, edited.target_dose_cells) == (None, None, None)
    assert (edited.subject_id, edited.state) == ("S-002", "in_expansion")
    assert other.not_read == "" and other.day0 is not None and other.target_dose_cells
    said = _refused(lambda: lots.show_lot("BH002-26-0002", db=lab, actor=tech))
    assert stored in said

    rows = {r.lot_number: r for r in board.board(db=lab, actor=tech, now=NOW).rows}
    assert rows["BH002-26-0002"].flags[0] == "NOT READ", rows["BH002-26-0002"]
    assert rows["BH002-26-0002"].not_read == edited.not_read
    assert (rows["BH002-26-0002"].day0, rows["BH002-26-0002"].day_n) == (None, None)
    assert rows["BH002-26-0002"].target_dose_cells is None
    assert not rows["BH002-26-0002"].overdue_count and rows["BH002-26-0002"].fold_expansion is None
    assert rows["BH002-26-0001"].not_read == "" and rows["BH002-26-0001"].day_n is not None

    for limit in (worklist.LIMIT, None):  # Today's raw read of the lots being expanded
        items = worklist.worklist(db=lab, actor=tech, now=NOW, limit=limit).items
        mine = [i for i in items if i.lot_number == "BH002-26-0002"]
        assert [i.kind for i in mine] == ["not-read"], mine  # listed once, urgent
        assert mine[0].urgent and mine[0].text.startswith("day 0 not read [stored-value-unr")
        assert stored in mine[0].text
        assert any(i.lot_number == "BH002-26-0001" and i.kind != "not-read" for i in items)
    assert worklist.worklist(db=lab, actor=qa, now=NOW).total == 1  # QA's Today: the same item


def test_a_count_or_harvest_that_cannot_be_read_flags_its_lot_only(
    lab: Database, request: Any
) -> None:
    """A kept count's date or cells edited to text: the board flags that lot NOT READ (no growth,
    projection or count flag from it) and shows the other as before."""
    tech = request.node.actors["tech"]
    before = {r.lot_number: r for r in board.board(db=lab, actor=tech, now=NOW).rows}
    last = (
        "WHERE id = (SELECT max(c.id) FROM cellcount c JOIN lot ON lot.id = c.lot_pk "
        "WHERE lot_number = 'BH002-26-0001')"
    )
    with lab.engine.connect() as conn:
        kept = conn.execute(text(f"SELECT measured_on, viable_cells FROM cellcount {last}")).one()
    for column, stored in (("measured_on", "'soon'"), ("viable_cells", "'lots'")):
        _edit(lab, f"UPDATE cellcount SET {column} = {stored} {last}")
        rows = {r.lot_number: r for r in board.board(db=lab, actor=tech, now=NOW).rows}
        edited = rows["BH002-26-0001"]
        assert edited.not_read.startswith("not read [stored-value-unreadable]: a stored ")
        assert stored in edited.not_read and edited.fold_expansion is None, edited
        assert edited.day_n == before["BH002-26-0001"].day_n  # its day 0 is read
        assert rows["BH002-26-0002"] == before["BH002-26-0002"]
        _edit(
            lab, f"UPDATE cellcount SET measured_on = '{kept[0]}', viable_cells = {kept[1]} {last}"
        )
    rows = {r.lot_number: r for r in board.board(db=lab, actor=tech, now=NOW).rows}
    assert rows == before  # put back: read as before


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


def test_a_harvest_that_cannot_be_read_flags_its_lot_in_the_qa_queue(sqlite_db: Database) -> None:
    """The QA queue's lots awaiting disposition: a harvest's CAR+ % edited to text flags that
    lot NOT READ (no dose worked out from it); the other lot is as before."""
    from tests.conftest import add_users
    from tests.release.conftest import PASSING, enter

    actors = add_users(sqlite_db)
    for sid in ("S-001", "S-002"):
        enter(sqlite_db, actors, harvested(sqlite_db, actors, sid), PASSING)
    queue = lambda: {  # noqa: E731
        r.lot_number: r
        for r in board.awaiting_disposition(db=sqlite_db, actor=actors["qa"], now=NOW)
    }
    before = queue()
    assert len(before) == 2 and all(r.dose_met for r in before.values()), before
    first, second = sorted(before)
    _edit(
        sqlite_db,
        "UPDATE harvest SET car_pct = 'many' WHERE lot_pk = "
        f"(SELECT id FROM lot WHERE lot_number = '{first}')",
    )
    after = queue()
    assert after[first].not_read.startswith("not read [stored-value-unreadable]: a stored car_pct")
    assert "'many'" in after[first].not_read and after[first].dose_met is None
    assert after[first].flags[0] == "NOT READ" and after[first].day_n == before[first].day_n
    assert after[second] == before[second]


def test_an_audit_time_that_is_no_time_takes_no_today_with_it(lab: Database, request: Any) -> None:
    """Today's handover reads others' audit events: one whose time was edited to text (its
    append-only trigger dropped first) refused everyone's Today as a whole. Now the change is
    listed without its time; ``mfg audit verify`` names the event."""
    qa = request.node.actors["qa"]
    _edit(lab, "DROP TRIGGER IF EXISTS auditevent_no_update")
    _edit(lab, "UPDATE auditevent SET at = 'teatime' WHERE seq = (SELECT max(seq) FROM auditevent)")
    w = worklist.worklist(db=lab, actor=qa, now=NOW)
    assert w.changes and w.changes[0].at is None, w.changes[:2]
    assert all(c.at is not None for c in w.changes[1:])


def test_a_thawed_bag_whose_time_of_thaw_cannot_be_read_stays_on_today(
    sqlite_db: Database,
) -> None:
    """A thawed bag's ``thawed_at`` edited to text refused everyone's Today (the bag, the one
    item with a 30-minute deadline, went with it). Now it is listed, urgent, with the refusal
    and no countdown; its infusion is refused (``bag-not-in-trail``)."""
    from mfg.services import custody
    from tests.conftest import add_users
    from tests.robustness.support import bag_in_the_tank
    from tests.services.test_holds import LATER

    actors = add_users(sqlite_db)
    tech = actors["tech"]
    lot, bag = bag_in_the_tank(sqlite_db, actors, "release")
    custody.issue_bag(bag, db=sqlite_db, actor=tech, now=LATER, subject_id="S-001")
    custody.thaw_bag(bag, db=sqlite_db, actor=tech, now=LATER)
    _edit(sqlite_db, "UPDATE dosebag SET thawed_at = 'soon' WHERE bag_no = 1")
    w = worklist.worklist(db=sqlite_db, actor=tech, now=LATER)
    (thawed,) = [i for i in w.items if i.kind == "thawed"]
    assert thawed.lot_number == lot and thawed.urgent and thawed.deadline is None
    assert thawed.text.startswith("bag 1 thawed: time not read [stored-value-unreadable]: ")
    assert "'soon'" in thawed.text


def test_a_read_out_whose_test_date_cannot_be_read_is_listed_not_read(
    sqlite_db: Database,
) -> None:
    from tests.conftest import add_users
    from tests.release.conftest import PASSING, enter

    actors = add_users(sqlite_db)
    lot = harvested(sqlite_db, actors, "S-001")
    enter(sqlite_db, actors, lot, {**PASSING, "STER": "pending"})
    _edit(sqlite_db, "UPDATE releaseresult SET tested_on = 'x' WHERE test_code = 'STER'")
    for role in ("tech", "qa"):
        w = worklist.worklist(db=sqlite_db, actor=actors[role], now=NOW)
        (item,) = [i for i in w.items if i.kind == "not-read"]
        assert item.lot_number == lot and item.urgent, item
        assert item.text.startswith("STER tested on not read [stored-value-unreadable]: ")


def test_a_result_whose_entry_time_cannot_be_read_stays_in_the_qa_queue(
    sqlite_db: Database,
) -> None:
    """The QA queue's results to verify: one result's ``entered_at`` edited to text refused the
    whole queue; now that result is listed, its time None."""
    from tests.conftest import add_users
    from tests.release.conftest import PASSING, enter

    actors = add_users(sqlite_db)
    lot = harvested(sqlite_db, actors, "S-001")
    enter(sqlite_db, actors, lot, PASSING, verify_by=None)
    _edit(sqlite_db, "UPDATE releaseresult SET entered_at = 'noon' WHERE test_code = 'VIAB'")
    listed = board.results_to_verify(db=sqlite_db, actor=actors["qa"])
    by_test = {r.test_code: r for r in listed}
    assert by_test["VIAB"].entered_at is None and len(listed) == len(PASSING), listed
    assert all(r.entered_at is not None for code, r in by_test.items() if code != "VIAB")


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-25",
        "2024-02-29",
        "2026-02-29",
        "0001-01-01",
        "9999-12-31",
        "0000-06-15",
        "+026-11-25",
        "2026-1a-25",
        "2026-11-25 ",
        "２０２６-11-25",
        "2026/11/25",
        b"2026-11-25",
        20261125,
        2461000.5,
    ],
)
def test_todays_sql_test_of_a_day_0_agrees_with_the_python_reads(
    lab: Database, stored: object
) -> None:
    """Today leaves out in SQL the lots whose day 0 the Python reads refuse, and reads the rest
    with ``stored_date``: a value one side takes and the other refuses would refuse Today as a
    whole (``0000-01-01``: SQLite's date() takes year 0, Python does not)."""
    from mfg.services import lot_status
    from mfg.store.types import stored_date

    with lab.engine.begin() as conn:
        conn.execute(
            text("UPDATE lot SET day0 = :v WHERE lot_number = 'BH002-26-0002'"), {"v": stored}
        )
    with lab.read() as s:
        conn = s.connection()
        raw = conn.exec_driver_sql("SELECT day0 FROM lot WHERE lot_number = 'BH002-26-0002'")
        value = raw.scalar_one()
        condition = lot_status.readable_day0(lab, conn)
        lot = lot_status._LOT
        in_sql = conn.execute(
            sa_select(condition).select_from(lot).where(lot.c.lot_number == "BH002-26-0002")
        ).scalar_one()
    try:
        stored_date(value)
        in_python = True
    except RuleViolation:
        in_python = False
    assert bool(in_sql) is in_python, (value, in_sql)
