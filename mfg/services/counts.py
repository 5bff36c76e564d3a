"""Expansion: cell counts (with corrections) and the growth summary with its projection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import NamedTuple, Protocol

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from mfg.domain import dose, expansion
from mfg.domain.identity import lot_number as canonical_lot_number
from mfg.domain.lifecycle import LotState
from mfg.domain.reasons import require_reason
from mfg.domain.text import check_text
from mfg.errors import NotFound, RuleViolation
from mfg.services.lots import get_lot_row, product_for_lot, set_state
from mfg.services.uow import Actor, Database
from mfg.store import ahead as store_ahead
from mfg.store.tables import CellCount, Lot, Subject

MAX_VOLUME_ML = 50_000.0


@dataclass(frozen=True)
class RecordCount:
    lot_number: str
    total_cells: int
    viable_cells: int
    measured_on: date | None = None
    day: int | None = None
    volume_ml: float | None = None
    method: str | None = None


@dataclass(frozen=True)
class CountView:
    id: int
    lot_number: str
    expansion_day: int
    measured_on: date
    total_cells: int
    viable_cells: int
    viability_pct: float
    volume_ml: float | None
    method: str | None
    recorded_by: str
    recorded_at: datetime
    superseded: bool
    supersedes_id: int | None
    correction_reason: str | None
    version: int = 1  # what correct_count(expected_version=) takes: 1 + corrections before it

    @classmethod
    def of(cls, c: CellCount, lot_number: str, version: int = 1) -> CountView:
        return cls(
            c.id or 0,
            lot_number,
            c.expansion_day,
            c.measured_on,
            c.total_cells,
            c.viable_cells,
            expansion.viability_pct(c.total_cells, c.viable_cells),
            c.volume_ml,
            c.method,
            c.recorded_by,
            c.recorded_at,
            c.superseded_by_id is not None,
            c.supersedes_id,
            c.correction_reason,
            version,
        )


@dataclass(frozen=True)
class CountHistory:
    """A lot's counts without its spec or dose: what the count form checks a new count
    against (plausibility). A lot whose spec or weight cannot be read still takes counts, so
    its form still warns of a second count the same day or a viability drop."""

    lot_number: str
    day0: date
    today_day: int
    state: str
    counts: tuple[CountView, ...]  # current (not superseded) counts, by day
    corrected: tuple[CountView, ...]  # superseded originals, kept visible


@dataclass(frozen=True)
class GrowthView(CountHistory):
    """The counts with what the lot's spec and dose make of them (``growth``)."""

    series: tuple[expansion.GrowthPoint, ...]
    target_dose_cells: int
    assumed_car_pct: float
    needed_viable_cells: float
    window: tuple[int, int]
    projection: expansion.Projection | None


class _LotFacts(Protocol):
    """What a count is checked against: a ``Lot`` row, or ``_OpenLot`` read on Core."""

    @property
    def lot_number(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def day0(self) -> date: ...


class _OpenLot(NamedTuple):
    id: int
    lot_number: str
    state: str
    day0: date


# The lot a new count goes to, on Core: four columns by the unique lot number (an ORM Lot per
# count cost a sixth of the write's CPU); the ORM row is loaded only to change its state.
_lot_table = Lot.__table__  # type: ignore[attr-defined]
_LOT_FACTS = core_select(
    _lot_table.c.id, _lot_table.c.lot_number, _lot_table.c.state, _lot_table.c.day0
).where(_lot_table.c.lot_number == bindparam("lot_number"))


def _count_ahead(
    key: str,
) -> Callable[[Connection], tuple[store_ahead.Ahead, store_ahead.Ahead | None]]:
    """What a new count reads, known before its write starts: its lot's facts, and (PostgreSQL)
    the count's id, both in the write lock's round trip (``Database.write``)."""

    def ahead(conn: Connection) -> tuple[store_ahead.Ahead, store_ahead.Ahead | None]:
        return (
            store_ahead.Ahead(conn, _LOT_FACTS, {"lot_number": key}),
            store_ahead.next_id(conn, _count_table),
        )

    return ahead


def _check_inputs(cmd: RecordCount, lot: _LotFacts, today: date) -> tuple[date, int]:
    if (cmd.measured_on is None) == (cmd.day is None):
        raise RuleViolation("date", "date-or-day", "give exactly one of --date or --day")
    on = (
        cmd.measured_on
        if cmd.measured_on is not None
        else expansion.date_of_day(lot.day0, cmd.day or 0)
    )
    expansion.check_not_future(on, today)
    day = expansion.expansion_day(lot.day0, on)
    expansion.check_count(cmd.total_cells, cmd.viable_cells)
    if cmd.volume_ml is not None and not 0 < cmd.volume_ml <= MAX_VOLUME_ML:
        raise RuleViolation(
            "volume_ml",
            "volume-range",
            f"{cmd.volume_ml:g} mL must be > 0 and <= {MAX_VOLUME_ML:g} mL",
        )
    check_text("method", cmd.method)
    if cmd.method is not None and len(cmd.method) > 80:
        raise RuleViolation("method", "method-format", "at most 80 printable characters")
    return on, day


def _check_open(lot: _LotFacts) -> None:
    if lot.state not in (LotState.REGISTERED, LotState.IN_EXPANSION):
        raise RuleViolation(
            "lot",
            "count-after-harvest" if lot.state != LotState.TERMINATED else "lot-terminated",
            f"lot {lot.lot_number} is {lot.state}: counts are recorded during expansion only",
        )


# A new count's row goes in on Core (``store_ahead.insert_row``): an ORM add + flush of a row
# nothing else in the transaction touches cost about a third of the write's CPU.
_count_table = CellCount.__table__  # type: ignore[attr-defined]


def record_count(cmd: RecordCount, *, db: Database, actor: Actor, now: datetime) -> CountView:
    actor.require_role("count.add")  # the account: checked by db.write under the lock
    key = canonical_lot_number(cmd.lot_number)
    with db.write(actor, now, ahead=_count_ahead(key)) as tx:
        facts, new_id = tx.ahead
        row = facts.first()
        if row is None:
            raise NotFound("lot", key)
        lot = _OpenLot(*row)
        _check_open(lot)
        on, day = _check_inputs(cmd, lot, db.today(now))
        values = {
            "lot_pk": lot.id,
            "expansion_day": day,
            "measured_on": on,
            "total_cells": cmd.total_cells,
            "viable_cells": cmd.viable_cells,
            "volume_ml": cmd.volume_ml,
            "method": cmd.method,
            "recorded_by": actor.username,
            "recorded_at": now,
        }
        # on PostgreSQL with its id taken ahead: it goes with the event and the COMMIT
        count_id = store_ahead.insert_row(tx.conn, _count_table, values, new_id)
        if lot.state == LotState.REGISTERED:
            set_state(tx, get_lot_row(tx.session, lot.lot_number), LotState.IN_EXPANSION)
        tx.audit(
            "count.recorded",
            "count",
            count_id,
            lot_number=lot.lot_number,
            new={
                "day": day,
                "measured_on": on,
                "total_cells": cmd.total_cells,
                "viable_cells": cmd.viable_cells,
                "volume_ml": cmd.volume_ml,
                "method": cmd.method,
            },
        )
        tx.commit()
    return CountView(
        count_id,
        lot.lot_number,
        day,
        on,
        cmd.total_cells,
        cmd.viable_cells,
        expansion.viability_pct(cmd.total_cells, cmd.viable_cells),
        cmd.volume_ml,
        cmd.method,
        actor.username,
        now,
        False,
        None,
        None,
    )


def _audit_values(c: CellCount) -> dict[str, object]:
    return {
        "day": c.expansion_day,
        "measured_on": c.measured_on,
        "total_cells": c.total_cells,
        "viable_cells": c.viable_cells,
        "volume_ml": c.volume_ml,
        "method": c.method,
    }


def correct_count(
    count_id: int,
    cmd: RecordCount,
    reason: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> CountView:
    """Supersede a count with corrected values; the original stays, marked as corrected.

    ``expected_version`` (optimistic locking): the version of the count the editor read
    (``count_version``); if someone corrected it since, ``Conflict`` "changed by X at T".
    """
    actor.require("count.correct")
    require_reason(reason, "a correction needs a reason")
    with db.write(actor, now) as tx:
        old = tx.session.get(CellCount, count_id)
        lot = get_lot_row(tx.session, cmd.lot_number)
        if old is None or old.lot_pk != lot.id:
            raise NotFound("count", f"{count_id} of lot {lot.lot_number}")
        if expected_version is not None:
            _check_count_version(tx.session, old, expected_version)
        if old.superseded_by_id is not None:
            raise RuleViolation(
                "count",
                "already-corrected",
                f"count {count_id} was already corrected by count "
                f"{old.superseded_by_id}; correct that one",
            )
        on, day = _check_inputs(cmd, lot, db.today(now))
        new = CellCount(
            lot_pk=lot.id,
            expansion_day=day,
            measured_on=on,
            total_cells=cmd.total_cells,
            viable_cells=cmd.viable_cells,
            volume_ml=cmd.volume_ml,
            method=cmd.method if cmd.method is not None else old.method,
            recorded_by=actor.username,
            recorded_at=now,
            supersedes_id=old.id,
            correction_reason=reason.strip(),
        )
        tx.session.add(new)
        tx.session.flush()
        old.superseded_by_id = new.id
        tx.session.add(old)
        tx.audit(
            "count.corrected",
            "count",
            old.id or 0,
            lot_number=lot.lot_number,
            old=_audit_values(old),
            new={"replaced_by": new.id, **_audit_values(new)},
            reason=reason.strip(),
        )
        version = count_version(tx.session, new.id or 0)
        tx.commit()
        return CountView.of(new, lot.lot_number, version)


def count_version(session: Session, count_id: int) -> int:
    """A count's version: 1 for the original, +1 for each correction that superseded it."""
    row = session.get(CellCount, count_id)
    n = 0
    while row is not None and row.supersedes_id is not None:
        n += 1
        row = session.get(CellCount, row.supersedes_id)
    return n + 1


def _check_count_version(session: Session, old: CellCount, expected: int) -> None:
    from mfg import integrity

    head = old
    while head.superseded_by_id is not None:
        nxt = session.get(CellCount, head.superseded_by_id)
        if nxt is None:
            break
        head = nxt
    integrity.check_version(
        session,
        "count",
        old.id or 0,
        expected=expected,
        current=count_version(session, head.id or 0),
        changed_by=head.recorded_by if head is not old else None,
        changed_at=head.recorded_at if head is not old else None,
    )


def version_of(count_id: int, *, db: Database, actor: Actor) -> int:
    """The version of count ``count_id`` as a reader sees it (what ``correct_count`` takes)."""
    actor.require("lot.read")
    with db.read() as s:
        if s.get(CellCount, count_id) is None:
            raise NotFound("count", str(count_id))
        return count_version(s, count_id)


def current_counts(session: Session, lot: Lot) -> list[CellCount]:
    return list(
        session.exec(
            select(CellCount)
            .where(CellCount.lot_pk == lot.id, col(CellCount.superseded_by_id).is_(None))
            .order_by(col(CellCount.expansion_day), col(CellCount.id))
        ).all()
    )


def _history(db: Database, s: Session, lot: Lot, now: datetime) -> CountHistory:
    rows = list(
        s.exec(
            select(CellCount)
            .where(CellCount.lot_pk == lot.id)
            .order_by(col(CellCount.expansion_day), col(CellCount.id))
        ).all()
    )
    versions: dict[int | None, int] = {}
    for r in sorted(rows, key=lambda r: r.id or 0):  # a correction is newer than what it corrects
        versions[r.id] = versions.get(r.supersedes_id, 0) + 1 if r.supersedes_id else 1
    return CountHistory(
        lot_number=lot.lot_number,
        day0=lot.day0,
        today_day=(db.today(now) - lot.day0).days,
        state=lot.state,
        counts=tuple(
            CountView.of(r, lot.lot_number, versions[r.id])
            for r in rows
            if r.superseded_by_id is None
        ),
        corrected=tuple(
            CountView.of(r, lot.lot_number, versions[r.id]) for r in rows if r.superseded_by_id
        ),
    )


def count_history(lot_number: str, *, db: Database, actor: Actor, now: datetime) -> CountHistory:
    actor.require("lot.read")
    with db.read() as s:
        return _history(db, s, get_lot_row(s, lot_number), now)


def growth(lot_number: str, *, db: Database, actor: Actor, now: datetime) -> GrowthView:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        subject = s.get(Subject, lot.subject_pk)
        assert subject is not None
        product = product_for_lot(db, s, lot)
        h = _history(db, s, lot, now)
    points = [
        expansion.CountPoint(c.expansion_day, c.viable_cells, c.total_cells) for c in h.counts
    ]
    target = dose.target_dose_cells(product, subject.dose_level, subject.weight_kg)
    window = (product.window_first_day, product.window_last_day)
    return GrowthView(
        **{f.name: getattr(h, f.name) for f in fields(CountHistory)},
        series=tuple(expansion.growth_series(points)),
        target_dose_cells=target,
        assumed_car_pct=product.assumed_car_pct,
        needed_viable_cells=target / (product.assumed_car_pct / 100),
        window=window,
        projection=expansion.project_harvest(points, target, product.assumed_car_pct, window),
    )
