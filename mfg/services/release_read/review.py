"""Review by exception: everything QA must look at before signing a disposition, and what stops
each decision now (the rules themselves are ``mfg.domain.release``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol, TypeVar

from sqlmodel import Session, col, select

from mfg.domain import four_eyes
from mfg.domain.lifecycle import LotState, check_transition
from mfg.domain.numbers import format_cells
from mfg.domain.release import DECISIONS, Blocker, ResultStatus, blockers_for
from mfg.domain.results import Evaluation
from mfg.domain.specs import Product
from mfg.errors import RuleViolation
from mfg.services.release_read.deviations import DeviationView, lot_deviations
from mfg.services.release_read.involvement import record_verified
from mfg.services.release_read.results import ResultView, display_of, result_rows, result_views
from mfg.services.release_read.signatures import (
    DoseView,
    SignatureView,
    dose_view,
    reviewed_hash,
    signature_views,
)
from mfg.store.tables import CellCount, Harvest, Lot


@dataclass(frozen=True)
class LateEntry:
    what: str  # result | count | harvest
    ref: str
    event_on: date
    entered_at: datetime
    entered_by: str
    days_late: int


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def supersedes_id(self) -> int | None: ...
    @property
    def correction_reason(self) -> str | None: ...


_Correctable = TypeVar("_Correctable", bound=_Row)


@dataclass(frozen=True)
class CorrectionView:
    what: str
    ref: str
    old: str
    new: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class ReviewView:
    lot_number: str
    coi: str
    state: str
    product_code: str
    spec_version: str
    dose: DoseView
    oos: tuple[ResultView, ...]
    corrections: tuple[CorrectionView, ...]
    late_entries: tuple[LateEntry, ...]
    open_deviations: tuple[DeviationView, ...]
    unverified: tuple[ResultView, ...]
    pending: tuple[ResultView, ...]
    signatures: tuple[SignatureView, ...]
    blockers: dict[str, tuple[Blocker, ...]]  # decision -> what stops it (empty: possible)
    results: tuple[ResultView, ...]
    reviewed: str = ""  # ``reviewed_hash``: pass it to the signing (``Dispose.reviewed``)

    @property
    def exception_count(self) -> int:
        return (
            len(self.oos)
            + len(self.corrections)
            + len(self.late_entries)
            + len(self.open_deviations)
            + len(self.unverified)
            + len(self.pending)
            + (0 if self.dose.met else 1)
            + sum(1 for s in self.signatures if not s.valid)
        )


def late_entries(session: Session, zone: tzinfo, lot: Lot) -> list[LateEntry]:
    """Entries made on a later site-local day than the event they record."""
    out: list[LateEntry] = []

    def add(what: str, ref: str, on: date | None, at: datetime, by: str) -> None:
        if on is None:
            return
        entered_on = at.astimezone(zone).date()
        if entered_on > on:
            out.append(LateEntry(what, ref, on, at, by, (entered_on - on).days))

    for chain in result_rows(session, lot).values():
        for r in chain:
            add("result", r.test_code, r.tested_on, r.entered_at, r.entered_by)
    counts = session.exec(
        select(CellCount).where(CellCount.lot_pk == lot.id).order_by(col(CellCount.id))
    ).all()
    for c in counts:
        add("count", f"day {c.expansion_day}", c.measured_on, c.recorded_at, c.recorded_by)
    harvests = session.exec(
        select(Harvest).where(Harvest.lot_pk == lot.id).order_by(col(Harvest.id))
    ).all()
    for h in harvests:
        add("harvest", f"day {h.harvest_day}", h.harvested_on, h.recorded_at, h.recorded_by)
    return out


def _result_corrections(session: Session, product: Product, lot: Lot) -> list[CorrectionView]:
    out: list[CorrectionView] = []
    for code, chain in result_rows(session, lot).items():
        test = product.test(code)
        if test is None:
            continue
        out.extend(
            CorrectionView(
                "result",
                code,
                display_of(test, old),
                display_of(test, r),
                r.correction_reason or "",
                r.entered_by,
                r.entered_at,
            )
            for old, r in _superseded(chain)
        )
    return out


def _superseded(rows: Iterable[_Correctable]) -> Iterator[tuple[_Correctable, _Correctable]]:
    """(old, new) for every row that corrected another row of the same lot, with its reason."""
    by_id = {r.id: r for r in rows}
    for r in by_id.values():
        old = by_id.get(r.supersedes_id) if r.supersedes_id else None
        if r.correction_reason and old is not None:
            yield old, r


def _count_corrections(session: Session, lot: Lot) -> list[CorrectionView]:
    counts = session.exec(select(CellCount).where(CellCount.lot_pk == lot.id)).all()
    return [
        CorrectionView(
            "count",
            f"day {old.expansion_day}",
            f"{format_cells(old.viable_cells)} viable of {format_cells(old.total_cells)}",
            f"{format_cells(c.viable_cells)} viable of {format_cells(c.total_cells)}",
            c.correction_reason or "",
            c.recorded_by,
            c.recorded_at,
        )
        for old, c in _superseded(counts)
    ]


def _harvest_corrections(session: Session, lot: Lot) -> list[CorrectionView]:
    harvests = session.exec(select(Harvest).where(Harvest.lot_pk == lot.id)).all()
    return [
        CorrectionView(
            "harvest",
            f"day {old.harvest_day}",
            f"{format_cells(old.total_viable_cells)} viable, CAR+ {old.car_pct:g} %",
            f"{format_cells(h.total_viable_cells)} viable, CAR+ {h.car_pct:g} %",
            h.correction_reason or "",
            h.recorded_by,
            h.recorded_at,
        )
        for old, h in _superseded(harvests)
    ]


def corrections(session: Session, product: Product, lot: Lot) -> list[CorrectionView]:
    """Every correction of a result, count or harvest of the lot, oldest first."""
    out = [
        *_result_corrections(session, product, lot),
        *_count_corrections(session, lot),
        *_harvest_corrections(session, lot),
    ]
    return sorted(out, key=lambda c: c.at)


def build_review(session: Session, lot: Lot, product: Product, zone: tzinfo) -> ReviewView:
    """The review of ``lot`` against its pinned spec ``product``; ``zone``: the site's time zone."""
    results = result_views(session, product, lot)
    dose = dose_view(session, lot, product)
    devs = lot_deviations(session, lot)
    numbers = tuple(d.number for d in devs)
    blockers = {
        d: blockers_for(d, results, dose, lot_deviations=numbers)
        for d in ("release", "conditional-release", "reject")
    }
    unverified = four_eyes.unverified_record(*record_verified(session, lot))
    if unverified:
        b = Blocker(
            "record-unverified", "not verified by a second person: " + ", ".join(unverified)
        )
        for d in ("release", "conditional-release"):
            blockers[d] = (*blockers[d], b)
    state = LotState(lot.state)
    for d, (target, _) in DECISIONS.items():
        try:
            check_transition(state, target)
        except RuleViolation as e:
            blockers[d] = (Blocker(e.rule, e.message), *blockers[d])
    return ReviewView(
        lot_number=lot.lot_number,
        coi=lot.coi,
        state=lot.state,
        product_code=lot.product_code,
        spec_version=lot.spec_version,
        dose=dose,
        oos=tuple(r for r in results if r.evaluation == Evaluation.FAIL),
        corrections=tuple(corrections(session, product, lot)),
        late_entries=tuple(late_entries(session, zone, lot)),
        open_deviations=tuple(d for d in devs if d.is_open),
        unverified=tuple(r for r in results if r.status == ResultStatus.FINAL and not r.verified),
        pending=tuple(r for r in results if r.status != ResultStatus.FINAL),
        signatures=tuple(signature_views(session, lot)),
        blockers=blockers,
        results=tuple(results),
        reviewed=reviewed_hash(session, lot),
    )
