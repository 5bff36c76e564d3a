"""The lot board read model: every lot's row for the board in ONE query.

The TUI board (and anything else that shows many lots at once) must stay fast with 10,000 lots in
the database, so this module never loads a lot at a time: a single statement joins each lot with
its subject, its current harvest, its last counts (a window over the current counts: the seeding
count and the last ``PROJECTION_POINTS``) and correlated counts of failing / pending results and
open alerts. Derived values (day N, fold expansion, projection, dose met) are computed in Python
with the domain functions, so they are the same numbers ``mfg lot growth`` prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, literal, or_, select

from mfg.domain import dose, expansion, ids
from mfg.domain.lifecycle import ACTIVE, LotState
from mfg.domain.specs import Product
from mfg.errors import RuleViolation
from mfg.services.uow import Actor, Database
from mfg.store.tables import Alert, CellCount, Harvest, Lot, ReleaseResult, Subject

# A lot in expansion is expected to be counted at least every few days (protocol practice:
# counts on day 0 and every 2-3 days while expanding); a longer gap flags the count as overdue.
OVERDUE_AFTER_DAYS = 3
COUNT_STATES = frozenset({LotState.REGISTERED, LotState.IN_EXPANSION})
TESTING_STATES = frozenset(
    {LotState.HARVESTED, LotState.IN_RELEASE_TESTING, LotState.CONDITIONALLY_RELEASED}
)


@dataclass(frozen=True)
class BoardRow:
    lot_number: str
    coi: str
    subject_id: str
    site: str
    source: str
    state: str
    day0: date
    day_n: int  # expansion day today (or the harvest day once harvested)
    last_viability_pct: float | None
    last_count_day: int | None
    fold_expansion: float | None
    target_dose_cells: int
    projected_day: int | None  # day the dose is projected (expansion) or harvest day
    dose_met: bool | None  # None: not known yet
    projection_note: str
    oos: int
    pending_results: int  # release tests pending or not reported yet
    unverified_results: int
    alerts: int
    overdue_count: bool

    @property
    def flags(self) -> tuple[str, ...]:
        out = []
        if self.oos:
            out.append("OOS")
        if self.overdue_count:
            out.append("overdue")
        if self.pending_results:
            out.append(f"pending {self.pending_results}")
        if self.unverified_results:
            out.append(f"unverified {self.unverified_results}")
        if self.alerts:
            out.append("ALERT")
        return tuple(out)


@dataclass(frozen=True)
class Board:
    rows: tuple[BoardRow, ...]
    today: date
    total_lots: int  # lots matching the state filter before ``limit``
    sites: tuple[str, ...]


def _states(state: str | None, active_only: bool) -> list[str] | None:
    if state:
        try:
            return [LotState(state).value]
        except ValueError:
            raise RuleViolation(
                "state",
                "unknown-state",
                f"{state!r} is not one of {', '.join(s.value for s in LotState)}",
            ) from None
    return sorted(s.value for s in ACTIVE) if active_only else None


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
) -> Board:
    """Board rows, newest lots first; ``search`` matches lot number, COI or subject id."""
    actor.require("lot.read")
    today = db.today(now)
    states = _states(state, active_only)
    lot, subj, cc = Lot.__table__, Subject.__table__, CellCount.__table__  # type: ignore[attr-defined]
    hv, rr, al = Harvest.__table__, ReleaseResult.__table__, Alert.__table__  # type: ignore[attr-defined]

    filters = []
    if states is not None:
        filters.append(lot.c.state.in_(states))
    if site:
        filters.append(subj.c.site == site)
    if search and search.strip():
        term = search.strip().upper()
        compact = re.sub(r"\s+", "", term)
        like = f"%{term}%"
        filters.append(
            or_(
                func.upper(lot.c.lot_number).like(like),
                lot.c.coi.like(f"%{compact}%"),
                func.upper(subj.c.subject_id).like(like),
            )
        )

    # The lots to show (newest first, at most ``limit``); everything else is read for these only.
    lot_ids = select(lot.c.id).select_from(lot.join(subj, subj.c.id == lot.c.subject_pk))
    if filters:
        lot_ids = lot_ids.where(and_(*filters))
    lot_ids = lot_ids.order_by(lot.c.id.desc())
    if limit:
        lot_ids = lot_ids.limit(limit)
    chosen = lot_ids.cte("chosen")

    # current counts of those lots, numbered from the first and from the last
    cur = (
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
    # keep only the seeding count and the last few (what the projection fits)
    cur = (
        select(cur)
        .where(or_(cur.c.rn_last <= expansion.PROJECTION_POINTS, cur.c.rn_first == literal(1)))
        .subquery("cur")
    )

    def _n(cond):  # type: ignore[no-untyped-def]
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    res = (
        select(
            rr.c.lot_pk,
            _n(rr.c.evaluation == "fail").label("oos"),
            _n(rr.c.evaluation == "pending").label("pending"),
            _n(and_(rr.c.verified_by.is_(None), rr.c.evaluation != "pending")).label("unverified"),
            func.count().label("entered"),
        )
        .select_from(rr.join(chosen, chosen.c.id == rr.c.lot_pk))
        .where(rr.c.superseded_by_id.is_(None))
        .group_by(rr.c.lot_pk)
        .subquery("res")
    )
    alerts = (
        select(al.c.lot_pk, func.count().label("alerts"))
        .select_from(al.join(chosen, chosen.c.id == al.c.lot_pk))
        .where(al.c.acknowledged_at.is_(None))
        .group_by(al.c.lot_pk)
        .subquery("alerts")
    )

    stmt = (
        select(
            lot.c.id,
            lot.c.lot_number,
            lot.c.coi,
            lot.c.product_code,
            lot.c.spec_version,
            lot.c.source,
            lot.c.state,
            lot.c.day0,
            subj.c.subject_id,
            subj.c.site,
            subj.c.dose_level,
            subj.c.weight_kg,
            hv.c.harvest_day,
            hv.c.total_viable_cells,
            hv.c.car_pct,
            func.coalesce(res.c.oos, 0).label("oos"),
            func.coalesce(res.c.pending, 0).label("pending"),
            func.coalesce(res.c.unverified, 0).label("unverified"),
            func.coalesce(res.c.entered, 0).label("entered"),
            func.coalesce(alerts.c.alerts, 0).label("alerts"),
            cur.c.expansion_day,
            cur.c.measured_on,
            cur.c.total_cells,
            cur.c.viable_cells,
            cur.c.rn_last,
            cur.c.rn_first,
        )
        .select_from(
            chosen.join(lot, lot.c.id == chosen.c.id)
            .join(subj, subj.c.id == lot.c.subject_pk)
            .outerjoin(hv, and_(hv.c.lot_pk == lot.c.id, hv.c.superseded_by_id.is_(None)))
            .outerjoin(res, res.c.lot_pk == lot.c.id)
            .outerjoin(alerts, alerts.c.lot_pk == lot.c.id)
            .outerjoin(cur, cur.c.lot_pk == lot.c.id)
        )
        .order_by(lot.c.id.desc(), cur.c.expansion_day)
    )
    total_q = select(func.count()).select_from(lot.join(subj, subj.c.id == lot.c.subject_pk))
    if filters:
        total_q = total_q.where(and_(*filters))

    with db.read() as s:
        conn = s.connection()
        raw = conn.execute(stmt).all()
        total = conn.execute(total_q).scalar_one() if limit else None
        sites = tuple(
            r[0] for r in conn.execute(select(subj.c.site).distinct().order_by(subj.c.site))
        )

    products: dict[tuple[str, str], Product] = {}
    rows: list[BoardRow] = []
    i = 0
    while i < len(raw):
        first = raw[i]
        points: list[expansion.CountPoint] = []
        last_measured: date | None = None
        seed_viable: int | None = None
        last_total = last_viable = None
        last_day = None
        while i < len(raw) and raw[i].id == first.id:
            r = raw[i]
            if r.expansion_day is not None:
                if r.rn_first == 1:
                    seed_viable = r.viable_cells
                if r.rn_last <= expansion.PROJECTION_POINTS:
                    points.append(
                        expansion.CountPoint(r.expansion_day, r.viable_cells, r.total_cells)
                    )
                if r.rn_last == 1:
                    last_measured, last_day = r.measured_on, r.expansion_day
                    last_total, last_viable = r.total_cells, r.viable_cells
            i += 1
        rows.append(
            _row(
                db,
                products,
                first,
                points,
                seed_viable,
                last_day,
                last_total,
                last_viable,
                last_measured,
                today,
            )
        )
    return Board(tuple(rows), today, total if total is not None else len(rows), sites)


def _row(  # type: ignore[no-untyped-def]
    db: Database,
    products: dict[tuple[str, str], Product],
    r,
    points: list[expansion.CountPoint],
    seed_viable: int | None,
    last_day: int | None,
    last_total: int | None,
    last_viable: int | None,
    last_measured: date | None,
    today: date,
) -> BoardRow:
    key = (r.product_code, r.spec_version)
    product = products.get(key)
    if product is None:
        product = products[key] = db.product(r.product_code, r.spec_version)
    target = dose.target_dose_cells(product, r.dose_level, r.weight_kg)
    window = (product.window_first_day, product.window_last_day)
    day_n = (today - r.day0).days
    dose_met: bool | None = None
    projected: int | None = None
    note = ""
    if r.harvest_day is not None:
        car = dose.car_viable_cells(r.total_viable_cells, r.car_pct)
        dose_met = car >= target
        projected = r.harvest_day
        day_n = r.harvest_day
        note = f"harvested day {r.harvest_day}: dose {'met' if dose_met else 'NOT met'}"
        fold = r.total_viable_cells / seed_viable if seed_viable else None
    else:
        fold = last_viable / seed_viable if seed_viable and last_viable and last_day else None
        if r.state in COUNT_STATES:
            p = expansion.project_harvest(points, target, product.assumed_car_pct, window)
            if p is not None:
                projected = None if p.reach_day is None else max(p.reach_day, window[0])
                dose_met = p.within_window and p.reach_day is not None
                note = p.note
            else:
                note = "needs counts on two days to project"
    missing = 0  # release tests not reported yet
    if r.state in TESTING_STATES:
        missing = max(0, len(product.tests) - r.entered)
    overdue = False
    if r.state in COUNT_STATES:
        since = last_measured or r.day0
        overdue = (today - since).days > (OVERDUE_AFTER_DAYS if last_measured else 0)
    return BoardRow(
        lot_number=r.lot_number,
        coi=r.coi,
        subject_id=r.subject_id,
        site=r.site,
        source=r.source,
        state=r.state,
        day0=r.day0,
        day_n=day_n,
        last_viability_pct=expansion.viability_pct(last_total, last_viable)
        if last_total and last_viable is not None
        else None,
        last_count_day=last_day,
        fold_expansion=fold,
        target_dose_cells=target,
        projected_day=projected,
        dose_met=dose_met,
        projection_note=note,
        oos=r.oos,
        pending_results=r.pending + missing,
        unverified_results=r.unverified,
        alerts=r.alerts,
        overdue_count=overdue,
    )


@dataclass(frozen=True)
class ScanTarget:
    """What a scanned or typed code points at."""

    kind: str  # "lot"
    lot_number: str
    detail: str = ""


LOT_RE = re.compile(r"^[A-Z0-9]{2,10}-[0-9]{2}-[0-9]{4,6}$")


def find_lot(text: str, *, db: Database, actor: Actor) -> ScanTarget | None:
    """Resolve a typed or scanned lot number or COI code (spaces allowed) to its lot."""
    actor.require("lot.read")
    t = text.strip().upper()
    compact = re.sub(r"\s+", "", t)
    lot = Lot.__table__  # type: ignore[attr-defined]
    with db.read() as s:
        conn = s.connection()
        if LOT_RE.match(t):
            hit = conn.execute(select(lot.c.lot_number).where(lot.c.lot_number == t)).first()
            return ScanTarget("lot", hit[0]) if hit else None
        if len(compact) == 14:
            ids.parse_coi(compact)  # refuses a wrong check character loudly
            hit = conn.execute(select(lot.c.lot_number).where(lot.c.coi == compact)).first()
            return ScanTarget("lot", hit[0], f"COI {compact}") if hit else None
    return None


@dataclass(frozen=True)
class ResultToVerify:
    lot_number: str
    subject_id: str
    test_code: str
    value_text: str
    unit: str
    evaluation: str
    entered_by: str
    entered_at: datetime


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
            rr.c.entered_at,
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
        rows = s.connection().execute(stmt).all()
    return [ResultToVerify(*r) for r in rows]
