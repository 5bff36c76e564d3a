"""What Today's worklist needs of every active lot, in one narrow query.

The board (``mfg.services.board``) reads each lot with its subject, harvest, last counts and the
projection of its expansion; Today needs only the state, day N, the last count and the tallies of
results and open alerts, so it reads those alone: one row per lot, no projection, no hold status.
The flags are the board's own rules (``expansion.count_overdue``; tests not reported yet count as
pending), so the two screens agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select

from mfg.domain import expansion
from mfg.domain.lifecycle import ACTIVE
from mfg.services.board import COUNT_STATES, TESTING_STATES
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
    alerts: int
    window: tuple[int, int]  # the harvest window of the lot's spec (first, last day)


def _last_count() -> Any:
    """The current last count (by day, then entry) of each lot in expansion."""
    cc = _CC
    numbered = (
        select(
            cc.c.lot_pk,
            cc.c.expansion_day,
            cc.c.measured_on,
            func.row_number()
            .over(partition_by=cc.c.lot_pk, order_by=(cc.c.expansion_day.desc(), cc.c.id.desc()))
            .label("rn"),
        )
        .select_from(cc.join(_LOT, _LOT.c.id == cc.c.lot_pk))
        .where(
            cc.c.superseded_by_id.is_(None),
            _LOT.c.state.in_(sorted(s.value for s in COUNT_STATES)),
        )
        .subquery("numbered")
    )
    return select(numbered).where(numbered.c.rn == 1).subquery("last_count")


def _results() -> Any:
    """Tallies of the current results of each lot in release testing."""
    rr = _RR

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    return (
        select(
            rr.c.lot_pk,
            n(rr.c.evaluation == "fail").label("oos"),
            n(rr.c.evaluation == "pending").label("pending"),
            n(and_(rr.c.verified_by.is_(None), rr.c.evaluation != "pending")).label("unverified"),
            func.count().label("entered"),
        )
        .select_from(rr.join(_LOT, _LOT.c.id == rr.c.lot_pk))
        .where(
            rr.c.superseded_by_id.is_(None),
            _LOT.c.state.in_(sorted(s.value for s in TESTING_STATES)),
        )
        .group_by(rr.c.lot_pk)
        .subquery("res")
    )


def _query() -> Any:
    lot, hv, al = _LOT, _HV, _AL
    cur, res = _last_count(), _results()
    alerts = (
        select(al.c.lot_pk, func.count().label("alerts"))
        .where(al.c.acknowledged_at.is_(None))
        .group_by(al.c.lot_pk)
        .subquery("alerts")
    )
    return (
        select(
            lot.c.lot_number,
            lot.c.product_code,
            lot.c.spec_version,
            lot.c.state,
            lot.c.day0,
            hv.c.harvest_day,
            cur.c.expansion_day,
            cur.c.measured_on,
            func.coalesce(res.c.oos, 0),
            func.coalesce(res.c.pending, 0),
            func.coalesce(res.c.unverified, 0),
            func.coalesce(res.c.entered, 0),
            func.coalesce(alerts.c.alerts, 0),
        )
        .select_from(
            lot.outerjoin(hv, and_(hv.c.lot_pk == lot.c.id, hv.c.superseded_by_id.is_(None)))
            .outerjoin(cur, cur.c.lot_pk == lot.c.id)
            .outerjoin(res, res.c.lot_pk == lot.c.id)
            .outerjoin(alerts, alerts.c.lot_pk == lot.c.id)
        )
        .where(lot.c.state.in_(sorted(s.value for s in ACTIVE)))
        .order_by(lot.c.id.desc())
    )


def active_lots(db: Database, today: date) -> list[LotStatus]:
    """Every active lot (newest first) with what Today's worklist needs of it; the caller checks
    the reader's permission."""
    with db.read() as s:
        raw = s.connection().execute(_query()).all()
    specs: dict[tuple[str, str], tuple[int, tuple[int, int]]] = {}
    out = []
    for number, code, version, state, day0, harvest_day, last_day, measured, *tallies in raw:
        oos, pending, unverified, entered, alerts = tallies
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
                alerts=alerts,
                window=window,
            )
        )
    return out
