"""Release results: entry against the lot's pinned specification, second-person verification,
corrections that supersede with a reason. A failing result opens an OOS deviation; a result that
arrives after disposition (late) makes a new COA revision, and a failing one raises an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, func, select

from mfg.domain.expansion import check_not_future
from mfg.domain.lifecycle import DISPOSITIONED, LotState
from mfg.domain.reasons import require_reason
from mfg.domain.results import DOSE_CODE, Evaluation, ParsedResult, parse_result
from mfg.domain.specs import Product, TestSpec
from mfg.domain.text import check_text
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import coa_service, deviations
from mfg.services.lots import get_lot_row, product_for_lot, set_state
from mfg.services.release_read import (
    ResultVersion,
    ResultView,
    current_harvest,
    current_row,
    display_of,
    result_views,
)
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import Alert, Deviation, Lot, ReleaseResult

__all__ = [
    "CHANGE_STATES",
    "ENTRY_STATES",
    "AddResult",
    "ResultVersion",
    "ResultView",
    "add_result",
    "correct_result",
    "list_results",
    "verify_result",
]

# A result may be entered once the lot is harvested, and until its disposition is final.
ENTRY_STATES = frozenset(
    {LotState.HARVESTED, LotState.IN_RELEASE_TESTING, LotState.CONDITIONALLY_RELEASED}
)
# Corrections and verification remain possible after disposition: they break the signature and
# make a new COA revision, so the change is visible rather than impossible.
CHANGE_STATES = ENTRY_STATES | {LotState.RELEASED, LotState.REJECTED}


@dataclass(frozen=True)
class AddResult:
    lot_number: str
    test_code: str
    value: str
    tested_on: date | None = None
    method_ref: str | None = None


# --------------------------------------------------------------------------------------------
# checks shared by the writes


def _test(product: Product, code: str) -> TestSpec:
    c = code.strip().upper()
    if c == DOSE_CODE:
        raise RuleViolation(
            "test_code",
            "dose-from-harvest",
            "the dose row is evaluated from the harvest (mfg harvest), not entered",
        )
    t = product.test(c)
    if t is None:
        raise RuleViolation(
            "test_code",
            "unknown-test-code",
            f"{code!r} is not a test of {product.code} spec v{product.spec_version} "
            f"(one of {', '.join(product.test_codes)})",
        )
    return t


def _check_state(lot: Lot, allowed: frozenset[LotState], what: str) -> None:
    if lot.state in allowed:
        return
    if lot.state in (LotState.REGISTERED, LotState.IN_EXPANSION):
        raise RuleViolation(
            "lot",
            "lot-not-harvested",
            f"lot {lot.lot_number} is {lot.state}: release results are {what} after harvest",
        )
    raise RuleViolation(
        "lot", "lot-closed", f"lot {lot.lot_number} is {lot.state}: no results can be {what}"
    )


def _tested_on(
    db: Database, tx: Tx, lot: Lot, tested_on: date | None, default: date | None = None
) -> date:
    today = db.today(tx.now)
    d = tested_on or default or today
    check_not_future(d, today, "tested_on")
    h = current_harvest(tx.session, lot)
    if h is not None and d < h.harvested_on:
        raise RuleViolation(
            "tested_on",
            "tested-before-harvest",
            f"{d} precedes the harvest ({h.harvested_on}); release tests are on the final product",
        )
    return d


def _method_ref(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    t = check_text("method_ref", text.strip()) or ""
    if len(t) > 80:
        raise RuleViolation(
            "method_ref", "too-long", "a method reference has at most 80 characters"
        )
    return t


def _audit_row(r: ReleaseResult) -> dict[str, object]:
    return {
        "test_code": r.test_code,
        "value": r.value_text,
        "value_num": r.value_num,
        "qualifier": r.qualifier,
        "unit": r.unit,
        "evaluation": r.evaluation,
        "tested_on": r.tested_on,
        "method_ref": r.method_ref,
        "verified_by": r.verified_by,
    }


def _new_row(
    lot: Lot,
    code: str,
    parsed: ParsedResult,
    tested_on: date,
    method_ref: str | None,
    actor: Actor,
    now: datetime,
    **extra: object,
) -> ReleaseResult:
    return ReleaseResult(
        lot_pk=lot.id,  # type: ignore[arg-type]
        test_code=code,
        value_text=parsed.value_text,
        value_num=parsed.value_num,
        qualifier=parsed.qualifier,
        unit=parsed.unit,
        evaluation=parsed.evaluation.value,
        tested_on=tested_on,
        method_ref=method_ref,
        entered_by=actor.username,
        entered_at=now,
        after_disposition=lot.state in DISPOSITIONED,
        **extra,  # type: ignore[arg-type]
    )


def _after_write(
    tx: Tx,
    db: Database,
    lot: Lot,
    test: TestSpec,
    row: ReleaseResult,
    previous: ReleaseResult | None,
    what: str,
) -> None:
    """OOS deviation for a (newly) failing result; alert and COA revision for late changes."""
    dev: Deviation | None = None
    if row.evaluation == Evaluation.FAIL and (
        previous is None or previous.evaluation != Evaluation.FAIL
    ):
        dev = deviations.open_in_tx(
            tx,
            db,
            lot,
            kind="OOS",
            description=(
                f"{test.code} ({test.name}) out of specification: {display_of(test, row)} "
                f"against {test.acceptance}"
            ),
            result=row,
        )
    if not row.after_disposition:
        return
    shown = display_of(test, row)
    if row.evaluation == Evaluation.FAIL:
        _raise_alert(
            tx,
            lot,
            "late-oos",
            f"{test.code} ({test.name}) {shown} is out of specification, {what} after "
            f"{lot.state.replace('_', ' ')}"
            + (f" ({dev.number})" if dev else "")
            + ": notify the treating site",
        )
    elif previous is not None and previous.evaluation != Evaluation.PENDING:
        _raise_alert(
            tx,
            lot,
            "changed-after-disposition",
            f"{test.code} ({test.name}) {what} after the lot was {lot.state.replace('_', ' ')}: "
            "the disposition "
            "signature no longer matches the results; QA must review",
        )
    coa_service.refresh_in_tx(tx, db, lot, f"{test.code} {what}: {shown}")


def _raise_alert(tx: Tx, lot: Lot, kind: str, message: str) -> None:
    assert tx.actor is not None
    a = Alert(
        lot_pk=lot.id,  # type: ignore[arg-type]
        kind=kind,
        message=message,
        raised_at=tx.now,
        raised_by=tx.actor.username,
    )
    tx.session.add(a)
    tx.session.flush()
    tx.audit(
        "alert.raised",
        "alert",
        a.id or 0,
        lot_number=lot.lot_number,
        new={"kind": kind, "message": message},
    )


# --------------------------------------------------------------------------------------------
# the writes


def add_result(cmd: AddResult, *, db: Database, actor: Actor, now: datetime) -> ResultView:
    """Enter a result; the first one moves the lot from harvested to in release testing."""
    actor.require("result.add")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        product = product_for_lot(db, s, lot)
        test = _test(product, cmd.test_code)
        _check_state(lot, ENTRY_STATES, "entered")
        parsed = parse_result(test, cmd.value)
        tested_on = _tested_on(db, tx, lot, cmd.tested_on)
        method_ref = _method_ref(cmd.method_ref)
        previous = current_row(s, lot, test.code)
        if previous is not None and previous.evaluation != Evaluation.PENDING:
            raise RuleViolation(
                "test_code",
                "result-exists",
                f"{test.code} of lot {lot.lot_number} already has a result "
                f"({display_of(test, previous)}); change it with `mfg result correct` "
                "and a reason",
            )
        if previous is not None and parsed.evaluation == Evaluation.PENDING:
            raise RuleViolation(
                "value", "already-pending", f"{test.code} is already recorded as pending"
            )
        if lot.state == LotState.HARVESTED:
            set_state(tx, lot, LotState.IN_RELEASE_TESTING)
        row = _new_row(
            lot,
            test.code,
            parsed,
            tested_on,
            method_ref,
            actor,
            now,
            supersedes_id=previous.id if previous else None,
        )
        s.add(row)
        s.flush()
        if previous is not None:
            previous.superseded_by_id = row.id
            previous.row_version += 1
            s.add(previous)
        tx.audit(
            "result.added",
            "release_result",
            row.id or 0,
            lot_number=lot.lot_number,
            old=_audit_row(previous) if previous else None,
            new={**_audit_row(row), "late": row.after_disposition},
        )
        _after_write(tx, db, lot, test, row, previous, "late result")
        tx.commit()
        return _view(s, product, lot, test.code)


def verify_result(
    lot_number: str, test_code: str, *, db: Database, actor: Actor, now: datetime
) -> ResultView:
    """Second-person verification of the current result (never by the person who entered it)."""
    actor.require("result.verify")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, lot_number)
        product = product_for_lot(db, s, lot)
        test = _test(product, test_code)
        _check_state(lot, CHANGE_STATES, "verified")
        row = current_row(s, lot, test.code)
        if row is None:
            raise RuleViolation(
                "test_code", "no-result", f"{test.code} of lot {lot.lot_number} has no result yet"
            )
        if row.evaluation == Evaluation.PENDING:
            raise RuleViolation(
                "test_code", "nothing-to-verify", f"{test.code} is pending: nothing to verify yet"
            )
        if row.verified_by is not None:
            raise RuleViolation(
                "test_code",
                "already-verified",
                f"{test.code} was verified by {row.verified_by}",
            )
        if row.entered_by == actor.username:
            raise NotPermitted(
                f"{actor.username} entered {test.code} of lot {lot.lot_number}: a different "
                "person must verify it",
                rule="verify-own-result",
            )
        row.verified_by, row.verified_at = actor.username, now
        row.row_version += 1
        s.add(row)
        tx.audit(
            "result.verified",
            "release_result",
            row.id or 0,
            lot_number=lot.lot_number,
            old={"verified_by": None},
            new={"test_code": test.code, "value": row.value_text, "verified_by": actor.username},
        )
        if lot.state in DISPOSITIONED:
            coa_service.refresh_in_tx(tx, db, lot, f"{test.code} verified")
        tx.commit()
        return _view(s, product, lot, test.code)


def _check_version(
    session: Session, lot: Lot, test: TestSpec, old: ReleaseResult, expected: int
) -> None:
    """``Conflict`` "changed by X at T" when the result has more rows than the editor saw."""
    from mfg import integrity

    current = session.exec(
        select(func.count()).where(
            ReleaseResult.lot_pk == lot.id, ReleaseResult.test_code == test.code
        )
    ).one()
    integrity.check_version(
        session,
        "result",
        f"{lot.lot_number}/{test.code}",
        expected=expected,
        current=current,
        changed_by=old.entered_by,
        changed_at=old.entered_at,
    )


def correct_result(
    cmd: AddResult,
    reason: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> ResultView:
    """Supersede the current result with a reason; the old value stays, the new one needs
    verification again.

    ``expected_version`` (optimistic locking): the version of the result the editor read
    (``ResultView.version``, 1 + its history); if someone recorded or corrected it since,
    ``Conflict`` "changed by X at T" instead of an overwrite.
    """
    actor.require("result.correct")
    require_reason(reason, "a correction needs a reason")
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        product = product_for_lot(db, s, lot)
        test = _test(product, cmd.test_code)
        _check_state(lot, CHANGE_STATES, "corrected")
        old = current_row(s, lot, test.code)
        if old is None:
            raise RuleViolation(
                "test_code",
                "no-result",
                f"{test.code} of lot {lot.lot_number} has no result to correct; use "
                "`mfg result add`",
            )
        if expected_version is not None:
            _check_version(s, lot, test, old, expected_version)
        parsed = parse_result(test, cmd.value)
        tested_on = _tested_on(db, tx, lot, cmd.tested_on, default=old.tested_on)
        method_ref = _method_ref(cmd.method_ref) or old.method_ref
        if (
            parsed.value_text.strip() == old.value_text.strip()
            and tested_on == old.tested_on
            and method_ref == old.method_ref
        ):
            raise RuleViolation("value", "no-change", "the correction changes nothing")
        row = _new_row(
            lot,
            test.code,
            parsed,
            tested_on,
            method_ref,
            actor,
            now,
            supersedes_id=old.id,
            correction_reason=reason.strip(),
        )
        s.add(row)
        s.flush()
        old.superseded_by_id = row.id
        old.row_version += 1
        s.add(old)
        tx.audit(
            "result.corrected",
            "release_result",
            old.id or 0,
            lot_number=lot.lot_number,
            old=_audit_row(old),
            new={**_audit_row(row), "late": row.after_disposition, "replaced_by": row.id},
            reason=reason.strip(),
        )
        _after_write(tx, db, lot, test, row, old, "corrected")
        tx.commit()
        return _view(s, product, lot, test.code)


def _view(session: Session, product: Product, lot: Lot, code: str) -> ResultView:
    return next(v for v in result_views(session, product, lot) if v.test_code == code)


def list_results(lot_number: str, *, db: Database, actor: Actor) -> list[ResultView]:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        return result_views(s, product_for_lot(db, s, lot), lot)
