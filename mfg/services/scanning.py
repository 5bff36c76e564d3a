"""Scanning a label: the CellTrail QR payload or an ISBT 128 string, verified and resolved.

A QR payload (``CT2:...``, or ``CT1:...`` on labels printed by CellTrail 0.1) is decoded and its
check or site MAC verified; the lot must exist, the CoI in the payload must be the lot's, and
CellTrail must have printed that very payload. An ISBT 128 scan (a single data structure or a
compound message, ``mfg.domain.isbt128``) has every structure checked for length and characters,
then: a compound message must be one CellTrail printed (the Data Matrix of one of its labels)
and its CoI, product code division and lot (035) must name that lot or bag; a lone CoI (040,
e.g. the Code 128 symbol, or typed with its check character K) names the therapy event, and
resolves when the event has one lot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from labels.payload import LabelKind, LabelRef, decode
from mfg.domain import identity, isbt128
from mfg.domain.ids import coi_from_content, parse_coi
from mfg.domain.lifecycle import NOT_FOR_INFUSION
from mfg.errors import RuleViolation
from mfg.services import trail_anchor
from mfg.services.lots import current_harvest, product_for_lot
from mfg.services.release_read import holds
from mfg.services.therapy import lot_coi
from mfg.services.uow import Actor, Database
from mfg.store.tables import DoseBag, LabelPrint, Lot, Subject, TherapyEvent


# A rejected or terminated lot's containers are never issued: its label scanned answered "OK"
# (exit 0), a hand-off mistake waiting to happen; it is a stop like a hold (the trial of
# 2026-12-04). The custody steps refuse them anyway (lot-not-released).
def _never_issued(state: str) -> tuple[str, ...]:
    if state not in NOT_FOR_INFUSION:
        return ()
    return (f"the lot is {state}: its bags are never issued, thawed or infused",)


@dataclass(frozen=True)
class ScanView:
    payload: str
    kind: str
    object_ref: str
    lot_number: str
    coi: str
    coi_eye_readable: str
    subject_id: str
    product_name: str
    lot_state: str
    bag_no: int | None
    bag_count: int | None
    bag_state: str | None
    bag_location: str | None
    first_printed_at: datetime | None
    first_printed_by: str | None
    times_printed: int
    checks: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    on_hold: bool = False  # no bag of the lot may be issued, thawed or infused (held, or a
    # rejected or terminated lot)
    hold_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    ref: LabelRef
    lot: Lot
    subject: Subject
    bag: DoseBag | None
    first_print: LabelPrint | None
    times_printed: int
    checks: tuple[str, ...]
    last_printed_at: datetime | None = None


def site_key(db: Database) -> str | None:
    return db.settings.label_key or None


def _expectations(
    lot: Lot, subject: Subject, expect_lot: str | None, expect_subject: str | None
) -> list[str]:
    want = identity.lot_number(expect_lot, "expect_lot") if expect_lot is not None else None
    if want is not None and want != lot.lot_number:
        raise RuleViolation(
            "payload",
            "wrong-lot",
            f"STOP: this label is of lot {lot.lot_number} (subject {subject.subject_id}), "
            f"not of lot {want}",
        )
    who = None if expect_subject is None else identity.subject_id(expect_subject, "expect_subject")
    if who is not None and who != subject.subject_id:
        raise RuleViolation(
            "payload",
            "wrong-subject",
            f"STOP: this label belongs to subject {subject.subject_id}, not {who}",
        )
    return (["expected lot"] if expect_lot is not None else []) + (
        ["expected subject"] if expect_subject is not None else []
    )


def _bag(session: Session, lot: Lot, ref: LabelRef) -> DoseBag | None:
    if ref.kind is not LabelKind.DOSE_BAG:
        return None
    bag = session.exec(
        select(DoseBag).where(DoseBag.lot_pk == lot.id, DoseBag.bag_no == ref.item_no)
    ).first()
    if bag is None or (ref.item_count is not None and bag.bag_count != ref.item_count):
        raise RuleViolation(
            "payload",
            "payload-unknown-bag",
            f"lot {lot.lot_number} has no bag {ref.item or ref.item_no} (it has "
            f"{bag.bag_count if bag else 'no such'} bags)",
        )
    return bag


def _resolve_qr(session: Session, db: Database, payload: str) -> tuple[LabelRef, Lot, list[str]]:
    key = site_key(db)
    ref = decode(payload, key)
    checks = ["site MAC verified" if key else "check verified"]
    lot = session.exec(
        select(Lot).where(Lot.lot_number == identity.lot_number(ref.lot_number, "payload"))
    ).first()
    if lot is None:
        raise RuleViolation(
            "payload", "payload-unknown-lot", f"lot {ref.lot_number} does not exist here"
        )
    own = lot.coi if ref.version == 1 else lot_coi(session, lot).content
    if own != identity.coi(ref.coi, "payload"):
        raise RuleViolation(
            "payload",
            "payload-coi-mismatch",
            f"the label's CoI {ref.coi} is not lot {lot.lot_number}'s ({own}): "
            "chain of identity broken, quarantine the container",
        )
    checks.append("CoI matches the lot")
    return ref, lot, checks


def _event_lots(session: Session, content: str) -> list[Lot]:
    key = identity.coi(content, "isbt128")
    ev = session.exec(select(TherapyEvent).where(TherapyEvent.coi == key)).first()
    if ev is None:
        raise RuleViolation(
            "isbt128",
            "unknown-coi",
            f"CoI {coi_from_content(content).text} is not a therapy event of this site",
        )
    return list(
        session.exec(select(Lot).where(Lot.therapy_event_pk == ev.id).order_by(col(Lot.id))).all()
    )


def _resolve_isbt(session: Session, text: str) -> tuple[LabelRef, Lot, list[str]]:
    structures = isbt128.parse(text)
    coi_s = isbt128.find(structures, isbt128.COI)
    if coi_s is None:
        raise RuleViolation(
            "isbt128",
            "no-coi",
            "the scan holds no Chain of Identity Identifier (040): scan the label's Data Matrix "
            "or its CoI bar code",
        )
    lots = _event_lots(session, coi_s.content)
    checks = [f"ISBT 128 {', '.join(s.spec.number for s in structures)} well formed"]
    lot_s = isbt128.find(structures, isbt128.MPHO_LOT)
    if lot_s is not None:
        lots = [x for x in lots if isbt128.mpho_lot(x.lot_number) == lot_s.text]
    if not lots:
        raise RuleViolation(
            "isbt128",
            "coi-lot-mismatch",
            "the lot (035) is not a lot of this CoI's therapy event: chain of identity broken, "
            "quarantine the container",
        )
    if len(lots) > 1:
        raise RuleViolation(
            "isbt128",
            "coi-several-lots",
            f"CoI {coi_from_content(coi_s.content).text} names {len(lots)} lots "
            f"({', '.join(x.lot_number for x in lots)}): scan the Data Matrix or the QR code",
        )
    lot = lots[0]
    checks.append("CoI matches the lot")
    product = isbt128.find(structures, isbt128.PRODUCT)
    bag_no = isbt128.bag_of_division(str(product.fields["division"])) if product else None
    kind = LabelKind.DOSE_BAG if bag_no is not None else LabelKind.QC_SAMPLE
    ref = LabelRef(kind, lot.lot_number, coi_s.content, bag_no)
    return ref, lot, checks


def resolve_payload(
    session: Session,
    db: Database,
    payload: str,
    *,
    expect_lot: str | None = None,
    expect_subject: str | None = None,
) -> Resolved:
    """Decode, verify and look up a scan; a RuleViolation (field ``payload`` or ``isbt128``)."""
    text = payload.strip()
    # a lone CoI (the Code 128 symbol, or typed from the label with K) in any letter case: the
    # canonical form is identity's, as for every typed id; compound messages are case-sensitive
    if re.fullmatch(r"(&/)?CH[A-Z0-9 |]{13,24}", text, flags=re.IGNORECASE):
        text = parse_coi(text).structure
    isbt = isbt128.looks_like_isbt128(text)
    ref, lot, checks = _resolve_isbt(session, text) if isbt else _resolve_qr(session, db, text)
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    checks += _expectations(lot, subject, expect_lot, expect_subject)
    bag = _bag(session, lot, ref)
    column = LabelPrint.isbt128 if isbt else LabelPrint.payload
    prints = session.exec(
        select(LabelPrint)
        .where(LabelPrint.lot_pk == lot.id, column == text)
        .order_by(col(LabelPrint.id))
    ).all()
    single_coi = isbt and len(isbt128.parse(text)) == 1
    if prints:
        ref = LabelRef(
            LabelKind(prints[0].kind), ref.lot_number, ref.coi, ref.item_no, None, ref.version
        )
    elif not single_coi:
        raise RuleViolation(
            "payload",
            "label-never-printed",
            f"CellTrail never printed this {ref.kind if not isbt else 'ISBT 128'} label of "
            f"{ref.object_ref}: do not use the container until QA has checked its identity",
        )
    if prints:
        checks.append("printed by CellTrail")
    return Resolved(
        ref,
        lot,
        subject,
        bag,
        prints[0] if prints else None,
        len(prints),
        tuple(checks),
        prints[-1].printed_at if prints else None,
    )


def outdated_content(session: Session, db: Database, r: Resolved) -> tuple[str, ...]:
    """Warnings when what the label shows changed after its last print (a harvest correction
    changes the cells and volume on dose-bag labels): the container needs a new label."""
    if r.ref.kind not in (LabelKind.DOSE_BAG, LabelKind.QC_SAMPLE):
        return ()
    harvest = current_harvest(session, r.lot)
    if harvest is None or harvest.supersedes_id is None or r.last_printed_at is None:
        return ()
    if harvest.recorded_at <= r.last_printed_at:
        return ()
    return (
        f"the harvest was corrected on {db.local(harvest.recorded_at):%Y-%m-%d %H:%M} "
        "after this label was printed: print a new one (--reprint-reason)",
    )


def scan(
    payload: str,
    *,
    db: Database,
    actor: Actor,
    expect_lot: str | None = None,
    expect_subject: str | None = None,
) -> ScanView:
    """Verify a scanned label and show what it identifies (a read: nothing is written)."""
    actor.require("scan")
    with db.read() as s:
        r = resolve_payload(s, db, payload, expect_lot=expect_lot, expect_subject=expect_subject)
        product = product_for_lot(db, s, r.lot)
        coi = lot_coi(s, r.lot)
        hold = holds.status_in(s, r.lot)
        ring = db.audit_keyring()
        stops = _never_issued(r.lot.state) + trail_anchor.problems(s, ring, r.lot, r.subject)
        bag_stop = trail_anchor.bag_problem(s, ring, r.lot, r.bag) if r.bag else None
        if bag_stop is not None:
            stops += (f"{bag_stop}: {trail_anchor.ADVICE}",)
        warnings = outdated_content(s, db, r)
        if r.first_print is None:
            warnings += ("a lone CoI names the therapy event, not a container: no bag checked",)
        return ScanView(
            payload=payload.strip(),
            kind=r.ref.kind.value if r.first_print else "coi",
            object_ref=r.ref.object_ref if r.first_print else r.lot.lot_number,
            lot_number=r.lot.lot_number,
            coi=coi.content,
            coi_eye_readable=coi.eye_readable,
            subject_id=r.subject.subject_id,
            product_name=product.name,
            lot_state=r.lot.state,
            bag_no=r.bag.bag_no if r.bag else None,
            bag_count=r.bag.bag_count if r.bag else None,
            bag_state=r.bag.state if r.bag else None,
            bag_location=r.bag.location if r.bag else None,
            first_printed_at=r.first_print.printed_at if r.first_print else None,
            first_printed_by=r.first_print.printed_by if r.first_print else None,
            times_printed=r.times_printed,
            checks=r.checks,
            warnings=warnings,
            on_hold=hold.on_hold or bool(stops),
            hold_reasons=tuple(x.message for x in hold.active) + stops,
        )
