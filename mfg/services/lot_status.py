"""What Today's worklist needs of the active lots, in one narrow query per role.

The board (``mfg.services.board``) reads each lot with its subject, harvest, last counts and the
projection of its expansion; Today needs only the state, day N, the last count and the tallies of
results, and only of the lots in the states the reader works on (a technician: lots being
expanded; QA: lots in release testing), so it reads those alone: one row per lot, no projection,
no hold status. Open alerts, which everyone sees, are one query over the active lots. The flags
are the board's own rules (``expansion.count_overdue``; tests not reported yet count as pending),
so the two screens agree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, func, null, or_, select

from mfg.domain import expansion
from mfg.domain.lifecycle import ACTIVE
from mfg.services.board import COUNT_STATES, TESTING_STATES, result_tallies
from mfg.services.uow import Database
from mfg.store.tables import Alert, CellCount, Harvest, Lot, ReleaseResult

_LOT, _CC, _HV = Lot.__table__, CellCount.__table__, Harvest.__table__  # type: ignore[attr-defined]
_RR, _AL = ReleaseResult.__table__, Alert.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LotStatus:
    lot_number: str
    state: str
    day_n: int  # expansion day today (the harvest day once harvested), as on the board
    last_count_day: int | None  # lots in expansion (registered, in expansion) only
    overdue_count: bool
    oos: int
    pending_results: int  # release tests pending or not reported yet (testing states only)
    unverified_results: int
    window: tuple[int, int]  # the harvest window of the lot's spec (first, last day)


def _last_count_id() -> Any:
    """The id of the lot's current last count (by day, then entry): one index look-up per lot
    (a window over all counts joined back lost SQLite's index on it and scanned per lot)."""
    cc = _CC.alias("newest")
    return (
        select(cc.c.id)
        .where(cc.c.lot_pk == _LOT.c.id, cc.c.superseded_by_id.is_(None))
        .order_by(cc.c.expansion_day.desc(), cc.c.id.desc())
        .limit(1)
        .correlate(_LOT)
        .scalar_subquery()
    )


def _results(states: list[str]) -> Any:
    """Tallies of the current results of each lot in ``states`` (in release testing)."""
    rr = _RR
    return (
        select(*result_tallies(rr))
        .select_from(rr.join(_LOT, _LOT.c.id == rr.c.lot_pk))
        .where(
            rr.c.superseded_by_id.is_(None),
            _LOT.c.state.in_(states),
        )
        .group_by(rr.c.lot_pk)
        .subquery("res")
    )


def _query(states: list[str]) -> Any:
    """One row per lot in ``states``: the last count only for states counted, the result
    tallies only for states tested (the other side's columns are NULL)."""
    lot, hv = _LOT, _HV
    counted = sorted(set(states) & {s.value for s in COUNT_STATES})
    tested = sorted(set(states) & {s.value for s in TESTING_STATES})
    source = lot.outerjoin(hv, and_(hv.c.lot_pk == lot.c.id, hv.c.superseded_by_id.is_(None)))
    columns: list[Any] = [null(), null()]
    if counted:
        cur = _CC
        source = source.outerjoin(cur, and_(cur.c.id == _last_count_id(), lot.c.state.in_(counted)))
        columns = [cur.c.expansion_day, cur.c.measured_on]
    tallies: list[Any] = [null()] * 4
    if tested:
        res = _results(tested)
        source = source.outerjoin(res, res.c.lot_pk == lot.c.id)
        tallies = [res.c.oos, res.c.pending, res.c.unverified, res.c.entered]
    return (
        select(
            lot.c.lot_number,
            lot.c.product_code,
            lot.c.spec_version,
            lot.c.state,
            lot.c.day0,
            hv.c.harvest_day,
            *columns,
            *(func.coalesce(t, 0) for t in tallies),
        )
        .select_from(source)
        .where(lot.c.state.in_(states))
        .order_by(lot.c.id.desc())
    )


def open_alerts(db: Database) -> list[tuple[str, int]]:
    """(lot number, open alerts) of every active lot with an open alert, newest lot first; the
    caller checks the reader's permission."""
    lot, al = _LOT, _AL
    query = (
        select(lot.c.lot_number, func.count())
        .select_from(al.join(lot, lot.c.id == al.c.lot_pk))
        .where(al.c.acknowledged_at.is_(None), lot.c.state.in_(sorted(s.value for s in ACTIVE)))
        .group_by(lot.c.id, lot.c.lot_number)
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


def in_lot_order(db: Database) -> Any:
    """ORDER BY lot number as Python orders the strings (by code point): SQLite's BINARY
    collation does; PostgreSQL's default (the server's locale) need not, so it is told "C"."""
    if db.dialect == "postgresql":
        return _LOT.c.lot_number.collate("C")
    return _LOT.c.lot_number


def _iso_date(db: Database, column: Any) -> Any:
    """A date column as ``YYYY-MM-DD`` text: SQLite stores it so; PostgreSQL's own text form
    follows the server's DateStyle (``SQL, DMY`` writes 03/12/2026), so it is formatted."""
    if db.dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return cast(column, String)


def expansion_lots(db: Database, today: date) -> list[ExpansionLot]:
    """Every lot being expanded (registered, in expansion), in lot-number order (as Python
    orders them: ``in_lot_order``): the count flagged in SQL (overdue, due; the last count by
    ``ix_cellcount_lot_pk``), day 0 read as text and parsed only here (SQLAlchemy's date
    processing of every row was a third of the read), the harvest window from the lot's spec.
    One query; these lots have no harvest and no results."""
    lot, cur = _LOT, _CC
    states = sorted(s.value for s in COUNT_STATES)
    query = (
        select(
            lot.c.lot_number,
            lot.c.state,
            _count_flag(cur.c.measured_on, lot.c.day0, today),
            cur.c.expansion_day,
            _iso_date(db, lot.c.day0),
            lot.c.product_code,
            lot.c.spec_version,
        )
        .select_from(lot.outerjoin(cur, cur.c.id == _last_count_id()))
        .where(lot.c.state.in_(states))
        .order_by(in_lot_order(db))
    )
    with db.read() as s:
        raw = s.connection().execute(query).all()
    windows: dict[tuple[str, str], tuple[int, int]] = {}
    day = date.fromisoformat
    out: list[ExpansionLot] = []
    for number, state, count, last_day, day0, code, version in raw:
        window = windows.get((code, version))
        if window is None:
            p = db.product(code, version)
            window = windows[code, version] = (p.window_first_day, p.window_last_day)
        day_n = (today - day(day0)).days
        first, last = window
        flag = 0
        if state == "in_expansion" and first <= day_n <= last:
            flag = LAST_DAY if day_n == last else IN_WINDOW
        out.append((number, state, count, flag, last_day, day_n, window))
    return out


def active_lots(db: Database, today: date, states: Collection[str]) -> list[LotStatus]:
    """The lots in ``states`` (active states only; newest first) with what Today's worklist
    needs of them; the caller checks the reader's permission."""
    chosen = sorted(set(states) & {s.value for s in ACTIVE})
    if not chosen:
        return []
    with db.read() as s:
        raw = s.connection().execute(_query(chosen)).all()
    specs: dict[tuple[str, str], tuple[int, tuple[int, int]]] = {}
    out = []
    for number, code, version, state, day0, harvest_day, last_day, measured, *tallies in raw:
        oos, pending, unverified, entered = tallies
        if (code, version) not in specs:
            p = db.product(code, version)
            specs[code, version] = (len(p.tests), (p.window_first_day, p.window_last_day))
        n_tests, window = specs[code, version]
        if state in TESTING_STATES:
            pending += max(0, n_tests - entered)  # not reported yet: pending, as on the board
        out.append(
            LotStatus(
                lot_number=number,
                state=state,
                day_n=harvest_day if harvest_day is not None else (today - day0).days,
                last_count_day=last_day,
                overdue_count=state in COUNT_STATES
                and expansion.count_overdue(measured, day0, today),
                oos=oos,
                pending_results=pending,
                unverified_results=unverified,
                window=window,
            )
        )
    return out
