"""Read models of release results: one view per test of the lot's pinned spec, with its history.

Depends only on the store and the domain (an import-linter contract keeps it so), so the writers
(results, deviations, disposition) and the COA can all read through it without importing each
other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from mfg.domain.release import ResultStatus
from mfg.domain.results import Evaluation, format_value, parse_result
from mfg.domain.specs import Product, TestKind, TestSpec
from mfg.domain.text import visible
from mfg.errors import RuleViolation
from mfg.store.tables import Deviation, Harvest, Lot, ReleaseResult


def current_harvest(session: Session, lot: Lot) -> Harvest | None:
    """The lot's harvest as it stands (the row no correction superseded), if harvested."""
    return session.exec(
        select(Harvest).where(Harvest.lot_pk == lot.id, col(Harvest.superseded_by_id).is_(None))
    ).first()


@dataclass(frozen=True)
class ResultVersion:
    """One stored row of a result's history (the current one or one it superseded)."""

    id: int
    value_text: str
    display: str
    evaluation: str
    tested_on: date | None
    method_ref: str | None
    entered_by: str
    entered_at: datetime
    verified_by: str | None
    verified_at: datetime | None
    correction_reason: str | None
    after_disposition: bool


@dataclass(frozen=True)
class ResultView:
    lot_number: str
    test_code: str
    test_name: str
    method: str
    group: str
    acceptance: str
    may_be_pending: bool
    status: str  # final | pending | not entered
    evaluation: str  # pass | fail | pending
    value_text: str
    display: str
    value_num: float | None
    qualifier: str
    unit: str
    tested_on: date | None
    method_ref: str | None
    entered_by: str | None
    entered_at: datetime | None
    verified_by: str | None
    verified_at: datetime | None
    after_disposition: bool
    corrected: bool
    correction_reason: str | None
    original_display: str | None
    history: tuple[ResultVersion, ...]  # older rows, oldest first
    deviation_number: str | None

    @property
    def verified(self) -> bool:
        return self.verified_by is not None

    @property
    def version(self) -> int:
        """Rows recorded for this test so far (what ``correct_result(expected_version=)`` takes)."""
        return len(self.history) + (0 if self.status == "not entered" else 1)

    @property
    def conforms(self) -> str:
        if self.evaluation == Evaluation.PASS:
            return "conforms"
        if self.evaluation == Evaluation.FAIL:
            return "does not conform"
        return "pending"


def display_of(test: TestSpec, r: ReleaseResult) -> str:
    if r.evaluation == Evaluation.PENDING:
        return "Pending"
    if test.kind is TestKind.CATEGORICAL:
        key = " ".join(r.value_text.split()).casefold()
        return next((a for a in test.allowed if a.casefold() == key), r.value_text.strip())
    return format_value(r.value_num, r.qualifier, r.unit)


def result_rows(session: Session, lot: Lot) -> dict[str, list[ReleaseResult]]:
    """Every stored row of the lot by test code, oldest first (current row last)."""
    rows = session.exec(
        select(ReleaseResult).where(ReleaseResult.lot_pk == lot.id).order_by(col(ReleaseResult.id))
    ).all()
    out: dict[str, list[ReleaseResult]] = defaultdict(list)
    for r in rows:
        out[r.test_code].append(r)
    return out


def current_in(chain: Sequence[ReleaseResult]) -> ReleaseResult | None:
    """The current (not superseded) row of one test's chain from ``result_rows``, if any."""
    return next((r for r in chain if r.superseded_by_id is None), None)


def current_row(session: Session, lot: Lot, code: str) -> ReleaseResult | None:
    return session.exec(
        select(ReleaseResult).where(
            ReleaseResult.lot_pk == lot.id,
            ReleaseResult.test_code == code,
            col(ReleaseResult.superseded_by_id).is_(None),
        )
    ).first()


def _version(test: TestSpec, r: ReleaseResult) -> ResultVersion:
    return ResultVersion(
        id=r.id or 0,
        value_text=r.value_text,
        display=display_of(test, r),
        evaluation=r.evaluation,
        tested_on=r.tested_on,
        method_ref=r.method_ref,
        entered_by=r.entered_by,
        entered_at=r.entered_at,
        verified_by=r.verified_by,
        verified_at=r.verified_at,
        correction_reason=r.correction_reason,
        after_disposition=r.after_disposition,
    )


def _deviations_by_result(session: Session, lot: Lot) -> dict[int, str]:
    return {
        d.result_pk: d.number
        for d in session.exec(
            select(Deviation).where(
                Deviation.lot_pk == lot.id, col(Deviation.result_pk).is_not(None)
            )
        ).all()
        if d.result_pk is not None
    }


def _not_entered(
    lot: Lot, t: TestSpec, older: tuple[ResultVersion, ...], dev: str | None
) -> ResultView:
    return ResultView(
        lot_number=lot.lot_number,
        test_code=t.code,
        test_name=t.name,
        method=t.method,
        group=t.group,
        acceptance=t.acceptance,
        may_be_pending=t.may_be_pending,
        status=ResultStatus.NOT_ENTERED.value,
        evaluation=Evaluation.PENDING.value,
        value_text="",
        display="Not entered",
        value_num=None,
        qualifier="",
        unit=t.unit,
        tested_on=None,
        method_ref=None,
        entered_by=None,
        entered_at=None,
        verified_by=None,
        verified_at=None,
        after_disposition=False,
        corrected=False,
        correction_reason=None,
        original_display=None,
        history=older,
        deviation_number=dev,
    )


def check_judgement(lot_number: str, t: TestSpec, r: ReleaseResult) -> None:
    """A stored result must be what its text gives against the pinned spec: its evaluation,
    number and qualifier, as ``parse_result`` made them when it was entered. An edit in SQL of
    the evaluation alone (a failing result set to ``pass``) made the review say "out of
    specification: none" and the release go through; every reader of the lot's results (the
    review, the release, the COA, the lists) now refuses the lot until it is restored."""
    try:
        p = parse_result(t, r.value_text)
        same = (p.evaluation.value, p.value_num, p.qualifier) == (
            r.evaluation,
            r.value_num,
            r.qualifier,
        )
        judged = p.evaluation.value
    except RuleViolation as e:
        same, judged = False, f"refused [{e.rule}]"
    if not same:
        raise RuleViolation(
            "result",
            "stored-result-inconsistent",
            f"{lot_number} {t.code}: the stored result {visible(r.value_text)!r} says "
            f"{visible(str(r.evaluation))}, its text against the spec ({t.acceptance}) gives "
            f"{judged}: changed outside CellTrail? mfg audit verify names the record; nothing of "
            "this lot's results is read until it is restored",
        )


def _view_of_chain(
    lot: Lot, t: TestSpec, chain: Sequence[ReleaseResult], dev: str | None
) -> ResultView:
    cur = current_in(chain)
    older = tuple(_version(t, r) for r in chain if r is not cur)
    if cur is None:
        return _not_entered(lot, t, older, dev)
    check_judgement(lot.lot_number, t, cur)
    corrected = any(r.correction_reason for r in chain if r.supersedes_id is not None)
    # the first final value entered, if a correction changed it since; "pending" when only a
    # pending read-out came before (never None: "corrected from None" named no value)
    original = next(
        (v.display for v in older if v.evaluation != Evaluation.PENDING),
        older[0].display if older else None,
    )
    pending = cur.evaluation == Evaluation.PENDING
    return ResultView(
        lot_number=lot.lot_number,
        test_code=t.code,
        test_name=t.name,
        method=t.method,
        group=t.group,
        acceptance=t.acceptance,
        may_be_pending=t.may_be_pending,
        status=(ResultStatus.PENDING if pending else ResultStatus.FINAL).value,
        evaluation=cur.evaluation,
        value_text=cur.value_text,
        display=display_of(t, cur),
        value_num=cur.value_num,
        qualifier=cur.qualifier,
        unit=cur.unit,
        tested_on=cur.tested_on,
        method_ref=cur.method_ref,
        entered_by=cur.entered_by,
        entered_at=cur.entered_at,
        verified_by=cur.verified_by,
        verified_at=cur.verified_at,
        after_disposition=cur.after_disposition,
        corrected=corrected,
        correction_reason=cur.correction_reason,
        original_display=original if corrected else None,
        history=older,
        deviation_number=dev,
    )


def result_views(session: Session, product: Product, lot: Lot) -> list[ResultView]:
    """One view per test of the pinned spec, in spec order."""
    rows = result_rows(session, lot)
    devs = _deviations_by_result(session, lot)
    out = []
    for t in product.tests:
        chain = rows.get(t.code, [])
        dev = next((devs[r.id] for r in reversed(chain) if r.id in devs), None)
        out.append(_view_of_chain(lot, t, chain, dev))
    return out
