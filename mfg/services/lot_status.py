"""What Today's worklist needs of the active lots, in narrow reads worked out in SQL.

The board (``mfg.services.board``) reads each lot with its subject, harvest, last counts and the
projection of its expansion; Today needs only the lots that give someone work, and only of the
states the reader works on (a technician: lots being expanded, their counts due and harvest
windows, ``expansion_lots``; QA: lots ready for disposition, ``ready_for_disposition``), so it
reads those alone: no projection, no hold status. Open alerts, which everyone sees, are one
query over the active lots. The flags are the board's own rules (``expansion.count_overdue``;
tests not reported yet count as pending), so the two screens agree; but for a result whose
evaluation an SQL edit made none of pass, fail and pending: the board counts it as reported,
Today does not list its lot as ready (``_reported``; signing refuses it, and ``mfg audit
verify`` names the edit).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
)

from mfg.domain import expansion
from mfg.domain.lifecycle import ACTIVE
from mfg.domain.specs import Product
from mfg.errors import RuleViolation
from mfg.services.board import COUNT_STATES
from mfg.services.pinned_specs import PinnedSpecs, readable
from mfg.services.uow import Database
from mfg.store.bulk import select_rows
from mfg.store.distinct import distinct_values
from mfg.store.tables import Alert, CellCount, Lot, ReleaseResult
from mfg.store.types import stored_date

_LOT, _CC = Lot.__table__, CellCount.__table__  # type: ignore[attr-defined]
_RR, _AL = ReleaseResult.__table__, Alert.__table__  # type: ignore[attr-defined]


def _last_count_id() -> Any:
    """The id of the lot's current last count (by day, then entry): one look-up per lot in
    ``ix_cellcount_current`` (a window over all counts joined back lost SQLite's index on it
    and scanned per lot)."""
    cc = _CC.alias("newest")
    return (
        select(cc.c.id)
        .where(cc.c.lot_pk == _LOT.c.id, cc.c.superseded_by_id.is_(None))
        .order_by(cc.c.expansion_day.desc(), cc.c.id.desc())
        .limit(1)
        .correlate(_LOT)
        .scalar_subquery()
    )


def _current_count(dialect: str) -> tuple[Any, Any]:
    """The lot's current last count, to outer-join to the lot table: what to join (with the
    columns ``measured_on`` and ``expansion_day``) and on what. SQLite joins the count whose
    id ``_last_count_id`` finds. PostgreSQL runs
    the same look-up as a LATERAL subquery, one index search per lot: joined by that id, it
    hashed every count of every lot (355,883 at 100,000 lots, spilled to disk) and ran the
    look-up per lot to probe the hash, 264-290 ms of Today's flags against 142-158 ms."""
    if dialect != "postgresql":
        return _CC, _CC.c.id == _last_count_id()
    cc = _CC.alias("newest")
    found = (
        select(cc.c.measured_on, cc.c.expansion_day)
        .where(cc.c.lot_pk == _LOT.c.id, cc.c.superseded_by_id.is_(None))
        .order_by(cc.c.expansion_day.desc(), cc.c.id.desc())
        .limit(1)
    )
    return found.lateral("last_count"), true()


def readable_day0(db: Database, conn: Any) -> Any:
    """SQL: the lot's day 0 is a date as CellTrail stores it. SQLite's columns hold any text (an
    SQL edit: ``'2026-13-45'``); Today lists such a lot apart, as not read (``worklist``),
    instead of refusing the whole list. PostgreSQL's dates are dates.

    The distinct stored values are read first, skipped through in ``ix_lot_day0`` (100,000
    lots: 15 of them, under 1 ms; ``SELECT DISTINCT`` read every entry, 6 ms), and checked
    in Python as ``stored_date`` reads them; when all are dates the condition is TRUE. Only when one is not is it tested per lot, in SQL:
    ``date(day0, '+0 days') IS day0`` (NULL or another text for one that is no date:
    ``2026-02-30`` becomes 2026-03-02, which ``date()`` alone keeps), from year 1 (SQLite
    takes ``0000-01-01``, Python's dates start at year 1). Per lot always, it cost
    Today's read 49 ms at 100,000 lots (141 -> 190 ms)."""
    return day0_is_date() if some_day0_unreadable(db, conn) else true()


def some_day0_unreadable(db: Database, conn: Any) -> bool:
    """Whether any lot's stored day 0 is no date (``readable_day0``): never on PostgreSQL."""
    if db.dialect == "postgresql":
        return False
    return not all(_is_date(v) for v in distinct_values(conn, "lot", "day0"))


def day0_is_date() -> Any:
    """SQL, per lot, on SQLite: the lot's day 0 is a date as ``stored_date`` reads one."""
    day0 = _LOT.c.day0  # SQL text below: Today's raw reads render no binds
    same = func.date(day0, literal_column("'+0 days'")).is_not_distinct_from(day0)
    year = func.substr(day0, literal_column("1"), literal_column("4"))  # text: no affinity
    return and_(same, year != literal_column("'0000'"))  # SQLite has a year 0; Python does not


def _is_date(stored: object) -> bool:
    try:
        stored_date(stored)  # type: ignore[arg-type]
    except RuleViolation:
        return False
    return True


def open_alerts(db: Database) -> list[tuple[str, int]]:
    """(lot number, open alerts) of every active lot with an open alert, newest lot first; the
    caller checks the reader's permission. The open alerts are counted first, from
    ``ix_alert_open`` (only they are in it), then their lots read: joined the other way SQLite
    probed every active lot for an alert (100,000 lots: 8 ms with none open)."""
    lot, al = _LOT, _AL
    open_ = (
        select(al.c.lot_pk, func.count().label("n"))
        .where(al.c.acknowledged_at.is_(None))
        .group_by(al.c.lot_pk)
        .subquery("open_alerts")
    )
    query = (
        select(lot.c.lot_number, open_.c.n)
        .select_from(open_.join(lot, lot.c.id == open_.c.lot_pk))
        .where(lot.c.state.in_(sorted(s.value for s in ACTIVE)))
        .order_by(lot.c.id.desc())
    )
    with db.read() as s:
        return [(number, n) for number, n in s.connection().execute(query)]


# A lot being expanded, as Today's counts and harvest windows need it: (lot number, state, count
# (OVERDUE, DUE or 0), harvest window (LAST_DAY, IN_WINDOW or 0), the day of its last count or
# None, day N, the harvest window of its spec). Plain tuples: at 100,000 lots there are tens of
# thousands (a dataclass per lot, and SQLAlchemy parsing two dates per lot, were half of Today's
# read).
ExpansionLot = tuple[str, str, int, int, "int | None", int, tuple[int, int]]
COUNT_DUE_AFTER_DAYS = 2  # counted every 2-3 days; the board flags "late" after 3
OVERDUE, DUE = 1, 2  # the count: overdue (``expansion.count_overdue``), due today
LAST_DAY, IN_WINDOW = 1, 2  # the harvest window: its last day today, inside it


def _count_flag(measured: Any, day0: Any, today: date) -> Any:
    """``expansion.count_overdue`` and Today's "count due" (two days or more since the last
    count, or none yet) as one SQL expression on date columns: the dates are bound, so both
    back-ends compare dates, never text or intervals; a test keeps it equal to the board."""
    late = today - timedelta(days=expansion.OVERDUE_AFTER_DAYS)
    due = today - timedelta(days=COUNT_DUE_AFTER_DAYS)
    return case(
        (or_(and_(measured.is_(None), day0 < today), measured < late), OVERDUE),
        (or_(measured.is_(None), measured <= due), DUE),
        else_=0,
    )


def in_lot_order(db: Database, column: Any = None) -> Any:
    """ORDER BY lot number as Python orders the strings (by code point): SQLite's BINARY
    collation does; PostgreSQL's default (the server's locale) need not, so it is told "C"."""
    column = _LOT.c.lot_number if column is None else column
    if db.dialect == "postgresql":
        return column.collate("C")
    return column


def iso_date(db: Database, column: Any) -> Any:
    """A date column as ``YYYY-MM-DD`` text: SQLite stores it so; PostgreSQL's own text form
    follows the server's DateStyle (``SQL, DMY`` writes 03/12/2026), so it is formatted."""
    if db.dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return cast(column, String)


# Lots per flag of the lots being expanded: ("count", OVERDUE or DUE) and ("window", LAST_DAY or
# IN_WINDOW) -> lots; a flag no lot has is left out.
FlagCounts = dict[tuple[str, int], int]


Windows = dict[tuple[str, str], tuple[int, int]]


def _windows(specs: PinnedSpecs, conn: Any) -> tuple[Windows, Any]:
    """The harvest window (first, last day) of each spec a lot is pinned to, and the condition
    that leaves out the lots whose spec is refused (Today lists them apart). Every lot's pair,
    not only those being expanded: SQLite reads them from ix_lot_spec alone (100,000 lots: 5 ms;
    by state, a temporary B-tree: 35 ms)."""
    windows: Windows = {}
    refused = []
    for pair, p in specs.pinned(conn).items():
        if isinstance(p, Product):
            windows[pair] = (p.window_first_day, p.window_last_day)
        else:
            refused.append(pair)
    return windows, readable(_LOT, refused)


def _window_flag(windows: Windows, today: date) -> Any:
    """The harvest-window flag of a lot in expansion as SQL, from bound dates: day N is in
    [first, last] when day 0 is in [today - last, today - first] (the count flag's way)."""
    lot, whens = _LOT, []
    for (code, version), (first, last) in sorted(windows.items()):
        if first > last:
            continue
        mine = and_(lot.c.state == "in_expansion", lot.c.product_code == code)
        mine = and_(mine, lot.c.spec_version == version)
        earliest, latest = today - timedelta(days=last), today - timedelta(days=first)
        whens.append((and_(mine, lot.c.day0 == earliest), LAST_DAY))
        whens.append((and_(mine, lot.c.day0 > earliest, lot.c.day0 <= latest), IN_WINDOW))
    return case(*whens, else_=0) if whens else literal(0)


def expansion_lots(
    db: Database, today: date, cap: int | None = None
) -> tuple[list[ExpansionLot], FlagCounts]:
    """The lots being expanded (registered, in expansion), in lot-number order (as Python
    orders them: ``in_lot_order``), and the lots per flag. Both flags are worked out in SQL
    from bound dates (the count: overdue, due, the last count by ``ix_cellcount_current``; the
    harvest window from the spec's days). With a ``cap``, every lot with a flag is read as
    three numbers (its id and flags, plain DB-API tuples) to count them, and only the lots
    among the first ``cap`` of their count flag or of their window flag are read whole
    (``None``: every lot, whole). At 100,000 lots, 50,000 are being expanded: a SQLAlchemy row
    of each, and Python's flags and counters, were most of Today's read. These lots have no
    harvest and no results."""
    lot, (cur, on) = _LOT, _current_count(db.dialect)
    states = sorted(s.value for s in COUNT_STATES)
    cap = None if cap is None else max(cap, 0)
    with db.read() as s:  # the three reads on one snapshot (_one_snapshot)
        conn = s.connection(execution_options=_one_snapshot(db))
        windows, readable_lot = _windows(PinnedSpecs(db), conn)
        flagged = (
            select(
                lot.c.id.label("id"),
                lot.c.lot_number.label("number"),
                lot.c.state.label("state"),
                _count_flag(cur.c.measured_on, lot.c.day0, today).label("cf"),
                _window_flag(windows, today).label("wf"),
                cur.c.expansion_day.label("last_day"),
                iso_date(db, lot.c.day0).label("day0"),
                lot.c.product_code.label("code"),
                lot.c.spec_version.label("version"),
            )
            .select_from(lot.outerjoin(cur, on))
            .where(lot.c.state.in_(states), readable_lot, readable_day0(db, conn))
            .subquery("flagged")
        )
        f = flagged.c
        whole = select(f.number, f.state, f.cf, f.wf, f.last_day, f.day0, f.code, f.version)
        whole = whole.order_by(in_lot_order(db, f.number))
        if cap is None:
            raw = select_rows(conn, whole)
            tally = _tally([(None, r[2], r[3]) for r in raw])
        else:
            few = select(f.id, f.cf, f.wf).where(or_(f.cf != 0, f.wf != 0))
            flags = select_rows(conn, few.order_by(in_lot_order(db, f.number)))
            tally = _tally(flags)
            ids = [r[0] for r in _heads(flags, cap, tally)]
            raw = select_rows(conn, whole.where(f.id.in_(ids))) if ids else []
    counts: FlagCounts = {key: n for key, n in tally.items() if key[1]}
    day = stored_date  # a raw read: SQLite's text
    out: list[ExpansionLot] = []
    for number, state, count, flag, last_day, day0, code, version in raw:
        window = windows[code, version]  # read with the lots, on the same snapshot
        out.append((number, state, count, flag, last_day, (today - day(day0)).days, window))
    return out, counts


def _one_snapshot(db: Database) -> dict[str, Any]:
    """The connection options under which a session's reads see one state: a SQLite read
    transaction already does; PostgreSQL's READ COMMITTED would take a snapshot per statement
    (a lot changed between the flags' read and the whole lots' read would be counted and not
    listed), so it reads at REPEATABLE READ."""
    return {"isolation_level": "REPEATABLE READ"} if db.dialect == "postgresql" else {}


def _tally(rows: list[Any]) -> FlagCounts:
    """Rows per ("count", flag) and ("window", flag) of rows (id, count flag, window flag)."""
    out: FlagCounts = {}
    for kind, column in (("count", 1), ("window", 2)):
        out.update(((kind, f), n) for f, n in Counter(map(itemgetter(column), rows)).items())
    return out


def _heads(rows: list[Any], cap: int, tally: FlagCounts) -> list[Any]:
    """The rows (id, count flag, window flag; in lot order) among the first ``cap`` of their
    count flag or of their window flag; ``tally``: the rows per flag (``_tally``). Stops once
    every flag has its ``cap`` (or all its rows)."""
    left = {key: min(cap, n) for key, n in tally.items() if key[1]}
    todo = sum(left.values())
    out = []
    for row in rows:
        if not todo:
            break
        head = False
        for key in (("count", row[1]), ("window", row[2])):
            if left.get(key):
                left[key] -= 1
                todo -= 1
                head = True
        if head:
            out.append(row)
    return out


def ready_for_disposition(db: Database) -> list[str]:
    """The lots QA can sign now, in lot-number order (``in_lot_order``): harvested or in
    release testing, as many current results as the spec has tests (the board's count of the
    tests not reported yet), none failing, pending or unverified (the board's tallies,
    ``board.result_tallies``, and the rule Today applied to them). Lots whose spec is refused
    or whose day 0 is no date are left out (Today lists them apart). The lot numbers alone, as
    the driver's tuples: QA's Today built a row and a dataclass of every lot in testing."""
    lot, states = _LOT, ["harvested", "in_release_testing"]
    with db.read() as s:
        conn = s.connection()
        tests, refused = {}, []
        for pair, p in PinnedSpecs(db).pinned(conn).items():
            if isinstance(p, Product):
                tests[pair] = len(p.tests)
            else:
                refused.append(pair)
        if not tests:
            return []  # no lot, or every lot's spec refused
        mine = [
            (and_(lot.c.product_code == code, lot.c.spec_version == version), literal(n))
            for (code, version), n in sorted(tests.items())
        ]
        needed = case(*mine, else_=null())  # NULL: never ready
        query = (
            select(lot.c.lot_number)
            .where(lot.c.state.in_(states), readable(_LOT, refused), readable_day0(db, conn))
            .where(_reported(needed))
            .order_by(in_lot_order(db, lot.c.lot_number))
        )
        return [number for (number,) in select_rows(conn, query)]


def _reported(needed: Any) -> Any:
    """SQL, per lot: ``needed`` current results and none failing, pending or unverified (the
    board's ``result_tallies``: every current result passing and verified). Three look-ups of
    the lot in indexes that hold what they ask, no result row read: a current failing or
    pending result (``ix_releaseresult_open``), a current unverified one (migration 0010's
    ``ix_releaseresult_unverified``), then its current passing results counted. Reading each
    lot's results instead took 0.21 s in sqlite3 for 39,849 lots in testing and 475,873
    results, this 0.08 s (the same 26,960 lots). A result whose evaluation is none of pass,
    fail and pending (only an SQL edit makes one) is not counted, so its lot is not listed."""
    rr = _RR
    current = and_(rr.c.lot_pk == _LOT.c.id, rr.c.superseded_by_id.is_(None))
    held = select(literal(1)).where(rr.c.evaluation.in_(("fail", "pending")), current)
    unverified = select(literal(1)).where(current, rr.c.verified_by.is_(None))
    passed = select(func.count()).where(rr.c.evaluation == "pass", current).scalar_subquery()
    return and_(~held.exists(), ~unverified.exists(), passed >= needed)
