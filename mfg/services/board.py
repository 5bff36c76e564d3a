"""The lot board read model: every lot's row for the board in ONE query.

The TUI board (and anything else that shows many lots at once) must stay fast with 10,000 lots in
the database, so this module never loads a lot at a time: a single statement joins each lot with
its subject, its current harvest, its last counts (a window over the current counts: the seeding
count and the last ``PROJECTION_POINTS``) and correlated counts of failing / pending results and
open alerts. Derived values (day N, fold expansion, projection, dose met) are computed in Python
(``board_rows``), with the domain functions, so they are the same numbers ``mfg lot growth`` prints.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select
from sqlmodel import col

from mfg.domain import expansion, identity
from mfg.domain.lifecycle import ACTIVE, LotState, parse_state
from mfg.services import trail_anchor
from mfg.services.board_rows import COUNT_STATES as COUNT_STATES
from mfg.services.board_rows import TESTING_STATES as TESTING_STATES
from mfg.services.board_rows import BoardRow as BoardRow
from mfg.services.board_rows import board_row, lots_with_counts, unread
from mfg.services.pinned_specs import PinnedSpecs, readable
from mfg.services.release_read import holds
from mfg.services.uow import Actor, Database
from mfg.store.tables import (
    Alert,
    CellCount,
    Harvest,
    Lot,
    LotHold,
    ReleaseResult,
    Subject,
)
from mfg.store.types import lenient, read_time

_LOT, _SUBJ, _CC = Lot.__table__, Subject.__table__, CellCount.__table__  # type: ignore[attr-defined]
_HV, _RR, _AL = Harvest.__table__, ReleaseResult.__table__, Alert.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Board:
    rows: tuple[BoardRow, ...]
    today: date
    total_lots: int  # lots matching the state filter before ``limit``
    sites: tuple[str, ...]


def _state(state: str) -> str:
    return parse_state(state).value


def _states(
    state: str | None, active_only: bool, states: Collection[str] | None = None
) -> list[str] | None:
    if states is not None:
        return sorted({_state(s) for s in states})
    if state:
        return [_state(state)]
    return sorted(s.value for s in ACTIVE) if active_only else None


def _filters(states: list[str] | None, site: str | None, search: str | None) -> list[Any]:
    lot, subj = _LOT, _SUBJ
    out: list[Any] = []
    if states is not None:
        out.append(lot.c.state.in_(states))
    if site:
        out.append(subj.c.site == site)
    if search and search.strip():
        term = identity.search_term(search)
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        out.append(
            or_(
                lot.c.lot_number.like(like, escape="\\"),
                lot.c.coi.like(like, escape="\\"),
                subj.c.subject_id.like(like, escape="\\"),
            )
        )
    return out


def _matching(columns: list[Any], filters: list[Any], by_subject: bool) -> Any:
    """SELECT columns FROM lot (joined to its subject only when a filter needs it)."""
    source = _LOT.join(_SUBJ, _SUBJ.c.id == _LOT.c.subject_pk) if by_subject else _LOT
    query = select(*columns).select_from(source)
    return query.where(and_(*filters)) if filters else query


def _chosen(filters: list[Any], by_subject: bool, limit: int | None, offset: int) -> Any:
    """The lots of this page, newest first (the primary key walked backwards)."""
    ids = _matching([_LOT.c.id], filters, by_subject).order_by(_LOT.c.id.desc())
    if limit:
        ids = ids.limit(limit)
    if offset:
        ids = ids.offset(offset)
    return ids.cte("chosen")


def _last_counts(chosen: Any) -> Any:
    """Current counts of the chosen lots: the seeding count and the last few (what the
    projection fits), numbered from the first and from the last."""
    cc = _CC
    numbered = (
        select(
            cc.c.lot_pk,
            cc.c.expansion_day,
            cc.c.measured_on,
            cc.c.total_cells,
            cc.c.viable_cells,
            func.row_number()
            .over(partition_by=cc.c.lot_pk, order_by=(cc.c.expansion_day.desc(), cc.c.id.desc()))
            .label("rn_last"),
            func.row_number()
            .over(partition_by=cc.c.lot_pk, order_by=(cc.c.expansion_day, cc.c.id))
            .label("rn_first"),
        )
        .select_from(cc.join(chosen, chosen.c.id == cc.c.lot_pk))
        .where(cc.c.superseded_by_id.is_(None))
        .subquery("counted")
    )
    keep = or_(numbered.c.rn_last <= expansion.PROJECTION_POINTS, numbered.c.rn_first == literal(1))
    return select(numbered).where(keep).subquery("cur")


def result_tallies(rr: Any) -> list[Any]:
    """Per lot (grouped by ``rr.c.lot_pk``): failing, pending, unverified and entered results."""

    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return [
        rr.c.lot_pk,
        n(rr.c.evaluation == "fail").label("oos"),
        n(rr.c.evaluation == "pending").label("pending"),
        n(and_(rr.c.verified_by.is_(None), rr.c.evaluation != "pending")).label("unverified"),
        func.count().label("entered"),
    ]


def _result_counts(chosen: Any) -> Any:
    """The chosen lots' result tallies. ``lot_pk IN (the chosen)``, not a join: joined, SQLite
    scanned every result to probe the chosen lots (the board's first 50 rows at 100,000 lots
    with 475,873 results: 210-211 against 51 ms, ``docs/benchmark-logs``)."""
    rr = _RR
    return (
        select(*result_tallies(rr))
        .where(rr.c.lot_pk.in_(select(chosen.c.id)), rr.c.superseded_by_id.is_(None))
        .group_by(rr.c.lot_pk)
        .subquery("res")
    )


def _open_alerts(chosen: Any) -> Any:
    al = _AL
    return (
        select(al.c.lot_pk, func.count().label("alerts"))
        .select_from(al.join(chosen, chosen.c.id == al.c.lot_pk))
        .where(al.c.acknowledged_at.is_(None))
        .group_by(al.c.lot_pk)
        .subquery("alerts")
    )


# the columns of ``_last_counts`` the page reads
_COUNT_COLUMNS = (
    "expansion_day",
    "measured_on",
    "total_cells",
    "viable_cells",
    "rn_last",
    "rn_first",
)


def _page_query(chosen: Any, with_counts: bool = True) -> Any:
    """One row per (chosen lot, kept count): lot, subject, harvest, result and alert tallies.
    ``with_counts=False``: one row per lot, its count columns NULL (no count is read)."""
    lot, subj, hv = _LOT, _SUBJ, _HV
    res, alerts = _result_counts(chosen), _open_alerts(chosen)
    source = (
        chosen.join(lot, lot.c.id == chosen.c.id)
        .join(subj, subj.c.id == lot.c.subject_pk)
        .outerjoin(hv, and_(hv.c.lot_pk == lot.c.id, hv.c.superseded_by_id.is_(None)))
        .outerjoin(res, res.c.lot_pk == lot.c.id)
        .outerjoin(alerts, alerts.c.lot_pk == lot.c.id)
    )
    if with_counts:
        cur = _last_counts(chosen)
        source = source.outerjoin(cur, cur.c.lot_pk == lot.c.id)
        counted = [lenient(cur.c[name]) for name in _COUNT_COLUMNS]
        order = [lot.c.id.desc(), cur.c.expansion_day]
    else:
        counted = [null().label(name) for name in _COUNT_COLUMNS]
        order = [lot.c.id.desc()]
    return (
        select(
            lot.c.id,
            lot.c.lot_number,
            lot.c.coi,
            lot.c.product_code,
            lot.c.spec_version,
            lot.c.source,
            lot.c.state,
            lenient(lot.c.day0),  # one lot edited in SQL is listed NOT READ (board_rows)
            subj.c.subject_id,
            subj.c.site,
            subj.c.dose_level,
            subj.c.weight_kg,
            lenient(hv.c.harvest_day),
            lenient(hv.c.total_viable_cells),
            lenient(hv.c.car_pct),
            func.coalesce(res.c.oos, 0).label("oos"),
            func.coalesce(res.c.pending, 0).label("pending"),
            func.coalesce(res.c.unverified, 0).label("unverified"),
            func.coalesce(res.c.entered, 0).label("entered"),
            func.coalesce(alerts.c.alerts, 0).label("alerts"),
            *counted,
        )
        .select_from(source)
        .order_by(*order)
    )


def board(
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    state: str | None = None,
    site: str | None = None,
    active_only: bool = True,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    states: Collection[str] | None = None,
) -> Board:
    """One page of board rows (``limit`` lots from ``offset``), newest lots first; ``search``
    matches lot number, COI or subject id; ``states`` (instead of ``state`` / ``active_only``):
    the lots in any of these states. ``total_lots`` counts every matching lot."""
    actor.require("lot.read")
    today = db.today(now)
    filters = _filters(_states(state, active_only, states), site, search)
    by_subject = bool(site or (search and search.strip()))
    chosen = _chosen(filters, by_subject, limit, offset)
    with db.read() as s:
        conn = s.connection()
        raw = conn.execute(_page_query(chosen)).all()
        total = None
        if limit or offset:
            count = _matching([func.count()], filters, by_subject)
            total = conn.execute(count).scalar_one()
        sites = tuple(
            r[0] for r in conn.execute(select(_SUBJ.c.site).distinct().order_by(_SUBJ.c.site))
        )
    rows = _rows(db, raw, today)
    return Board(tuple(rows), today, total if total is not None else len(rows), sites)


def _rows(db: Database, raw: Sequence[Any], today: date) -> list[BoardRow]:
    specs = PinnedSpecs(db)
    rows, readable_ids = [], set()
    for first, counted in lots_with_counts(raw):
        rows.append(board_row(specs, first, counted, today))
        if unread(first, counted) is None:  # an unread lot is flagged so; its holds not read
            readable_ids.add(first.id)
    candidates = [r.id for r in raw if r.alerts or r.state in HOLD_STATES]
    return _with_holds(db, rows, candidates, readable_ids)


def _all_verified() -> Any:
    """A lot none of whose current results waits for its second person: no current result
    with ``verified_by`` NULL that is not pending (the board's ``unverified`` tally is 0; one
    look-up in migration 0010's ``ix_releaseresult_unverified``)."""
    rr = _RR
    waiting = select(literal(1)).where(
        rr.c.lot_pk == _LOT.c.id,
        rr.c.superseded_by_id.is_(None),
        rr.c.verified_by.is_(None),
        rr.c.evaluation != "pending",
    )
    return ~waiting.exists()


def awaiting_page(*, db: Database, actor: Actor, now: datetime, limit: int | None) -> Board:
    """The QA queue's lots awaiting disposition, newest first: lots in release testing
    (harvested, in release testing, conditionally released) whose entered results are all
    verified, found in SQL; ``limit``: the newest so many, ``total_lots`` counting them all.
    Each row is the board's row of that lot except the count columns, which are empty
    (``fold_expansion``, ``last_viability_pct``, ``last_count_day``: None): past harvest, a
    lot's dose, flags and holds come from its harvest, results, alerts and holds, and no count
    is read (with the counts, the read of 3,989 such lots returned 19,945 rows)."""
    actor.require("lot.read")
    today = db.today(now)
    filters = [*_filters(sorted(s.value for s in TESTING_STATES), None, None), _all_verified()]
    with db.read() as s:
        conn = s.connection()
        raw = conn.execute(_page_query(_chosen(filters, False, limit, 0), with_counts=False)).all()
        total = len({r.id for r in raw})  # lots, not rows (an edited lot may have two harvests)
        if limit is not None and total >= limit:
            total = conn.execute(_matching([func.count()], filters, False)).scalar_one()
    return Board(tuple(_rows(db, raw, today)), today, total, ())


def awaiting_disposition(*, db: Database, actor: Actor, now: datetime) -> list[BoardRow]:
    """Every lot awaiting disposition (``awaiting_page`` without a limit)."""
    return list(awaiting_page(db=db, actor=actor, now=now, limit=None).rows)


# states in which a lot can be held by something other than an alert or a QA hold
HOLD_STATES = frozenset({LotState.RELEASED, LotState.CONDITIONALLY_RELEASED, LotState.REJECTED})


def _with_holds(
    db: Database, rows: list[BoardRow], candidates: list[int], readable_ids: set[int]
) -> list[BoardRow]:
    """Fill ``hold`` on the rows whose lot may be held (the rule: ``mfg.domain.holds``), of the
    lots in ``readable_ids`` (an edited lot's own row is not loaded: it would refuse them all)."""
    if not rows:
        return rows
    with db.read() as s:
        manual = s.execute(
            select(col(LotHold.lot_pk)).where(col(LotHold.lifted_at).is_(None))
        ).scalars()
        ids = (set(candidates) | set(manual)) & readable_ids
        if not ids:
            return rows
        lots = list(s.execute(select(Lot).where(col(Lot.id).in_(ids))).scalars())
        status = holds.statuses_in(s, lots)
        # as the lot's screen and the scan say: its row against its keyed audit trail
        pks = {lot.subject_pk for lot in lots}
        of_lots = select(Subject).where(col(Subject.id).in_(pks))
        subjects = {x.id: x for x in s.execute(of_lots).scalars()}
        ring = db.audit_keyring()
        for lot in lots:
            if lot.subject_pk in subjects:
                st = status[lot.lot_number]
                st = trail_anchor.with_trail(s, ring, lot, subjects[lot.subject_pk], st)
                status[lot.lot_number] = st
    return [
        replace(r, hold=status[r.lot_number].summary) if r.lot_number in status else r for r in rows
    ]


@dataclass(frozen=True)
class ResultToVerify:
    lot_number: str
    subject_id: str
    test_code: str
    value_text: str
    unit: str
    evaluation: str
    entered_by: str
    entered_at: datetime | None  # None: its stored time cannot be read (an SQL edit)


def results_to_verify(*, db: Database, actor: Actor, limit: int = 500) -> list[ResultToVerify]:
    """Current results nobody has verified yet (oldest first), in one query: the QA queue."""
    actor.require("lot.read")
    lot, subj = Lot.__table__, Subject.__table__  # type: ignore[attr-defined]
    rr = ReleaseResult.__table__  # type: ignore[attr-defined]
    stmt = (
        select(
            lot.c.lot_number,
            subj.c.subject_id,
            rr.c.test_code,
            rr.c.value_text,
            rr.c.unit,
            rr.c.evaluation,
            rr.c.entered_by,
            lenient(rr.c.entered_at),  # one edited time takes no QA queue with it
        )
        .select_from(
            rr.join(lot, lot.c.id == rr.c.lot_pk).join(subj, subj.c.id == lot.c.subject_pk)
        )
        .where(
            rr.c.superseded_by_id.is_(None),
            rr.c.verified_by.is_(None),
            rr.c.evaluation != "pending",
            lot.c.state.in_(sorted(s.value for s in TESTING_STATES)),
        )
        .order_by(rr.c.entered_at, rr.c.id)
        .limit(limit)
    )
    with db.read() as s:
        conn = s.connection()
        # a lot whose spec is refused: its results cannot be verified (Today and the board
        # flag the lot NOT READ)
        refused = PinnedSpecs(db).refused_pinned(conn)
        rows = conn.execute(stmt.where(readable(lot, refused))).all()
    return [ResultToVerify(*r[:7], read_time(r[7])) for r in rows]
