"""Labels: build label content from a lot, render it, record every print; verify scans.

Each label printed is a ``LabelPrint`` row (what kind, which object, payload, format, stock,
who, when) and an audit event, in the transaction that renders the output: if rendering fails,
nothing is recorded. Printing the same kind for the same object again is a reprint and needs a
reason. ``scan`` decodes and verifies a payload (check / site MAC), then requires that the object
exists, that the COI in the payload is the lot's, and that CellTrail printed that very payload.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from labels import content
from labels.content import Label
from labels.payload import LabelKind, LabelRef, decode, encode, parse_kind
from labels.render import OutputFormat, parse_format, render
from labels.stocks import DEFAULT_STOCK, get_stock
from mfg.domain import identity
from mfg.domain.ids import parse_coi
from mfg.domain.text import check_text
from mfg.errors import NotFound, RuleViolation
from mfg.services.lots import current_harvest, get_lot_row, product_for_lot
from mfg.services.release_read import holds
from mfg.services.uow import Actor, Database
from mfg.store.tables import DoseBag, LabelPrint, Lot, Subject

MAX_COPIES = 50
DONE_BAG_STATES = frozenset({"infused", "discarded"})


@dataclass(frozen=True)
class PrintLabels:
    lot_number: str
    kind: str
    output_format: str = "pdf"
    stock: str | None = None
    reprint_reason: str | None = None
    copies: int = 1
    bag_no: int | None = None  # dose bags: only this bag (e.g. to replace a damaged label)
    dpi: int | None = None


@dataclass(frozen=True)
class LabelPrintView:
    id: int
    lot_number: str
    kind: str
    object_ref: str
    payload: str
    output_format: str
    stock: str
    copies: int
    reprint_reason: str | None
    printed_by: str
    printed_at: datetime

    @classmethod
    def of(cls, row: LabelPrint, lot_number: str) -> LabelPrintView:
        return cls(
            id=row.id or 0,
            lot_number=lot_number,
            kind=row.kind,
            object_ref=row.object_ref,
            payload=row.payload,
            output_format=row.output_format,
            stock=row.stock,
            copies=row.copies,
            reprint_reason=row.reprint_reason,
            printed_by=row.printed_by,
            printed_at=row.printed_at,
        )


@dataclass(frozen=True)
class PrintResult:
    lot_number: str
    kind: str
    stock: str
    output_format: str
    prints: tuple[LabelPrintView, ...]
    data: bytes

    @property
    def payloads(self) -> tuple[str, ...]:
        return tuple(p.payload for p in self.prints)


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
    first_printed_at: datetime
    first_printed_by: str
    times_printed: int
    checks: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    on_hold: bool = False  # no bag of the lot may be issued, thawed or infused
    hold_reasons: tuple[str, ...] = ()


def site_key(db: Database) -> str | None:
    return db.settings.label_key or None


# -- building label content -------------------------------------------------------------------


def _bags(session: Session, lot: Lot) -> list[DoseBag]:
    return list(
        session.exec(
            select(DoseBag).where(DoseBag.lot_pk == lot.id).order_by(col(DoseBag.bag_no))
        ).all()
    )


def build_labels(
    session: Session, db: Database, lot: Lot, kind: LabelKind, bag_no: int | None = None
) -> list[Label]:
    """The label content of ``kind`` for ``lot``: one label, or one per dose bag still in use."""
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    product = product_for_lot(db, session, lot)
    key = site_key(db)
    common = {
        "product_name": product.name,
        "product_short": product.code,
        "lot_number": lot.lot_number,
        "coi": lot.coi,
        "subject_id": subject.subject_id,
        "initials": subject.initials,
        "dob": subject.dob,
        "facility": db.settings.site_name,
    }
    if bag_no is not None and kind is not LabelKind.DOSE_BAG:
        raise RuleViolation("bag", "bag-only-for-dose-bags", "--bag applies to dose-bag labels")
    if kind is not LabelKind.DOSE_BAG:
        payload = encode(LabelRef(kind, lot.lot_number, lot.coi), key)
        harvest = current_harvest(session, lot)
        extra: dict[str, object] = {}
        if kind in (LabelKind.APHERESIS_BAG, LabelKind.PBMC_VIAL):
            extra["collected_on"] = lot.apheresis_on
        elif kind is LabelKind.CULTURE:
            extra.update(day0=lot.day0, source=lot.source)
        elif kind is LabelKind.QC_SAMPLE:
            extra["sampled_on"] = harvest.harvested_on if harvest else None
        cls = content.LABEL_CLASSES[kind]
        return [cls(payload=payload, **common, **extra)]  # type: ignore[arg-type]
    harvest = current_harvest(session, lot)
    bags = _bags(session, lot)
    if harvest is None or not bags:
        raise RuleViolation(
            "kind",
            "no-dose-bags",
            f"lot {lot.lot_number} has no dose bags yet: they are created at harvest",
        )
    if bag_no is not None:
        bags = [b for b in bags if b.bag_no == bag_no]
        if not bags:
            raise NotFound("bag", f"{lot.lot_number}/B{bag_no}")
        if bags[0].state in DONE_BAG_STATES:
            raise RuleViolation(
                "bag", "bag-finished", f"bag {bag_no} is {bags[0].state}: it needs no label"
            )
    else:
        bags = [b for b in bags if b.state not in DONE_BAG_STATES]
        if not bags:
            raise RuleViolation(
                "kind", "no-dose-bags", f"every bag of lot {lot.lot_number} is infused or discarded"
            )
    storage = f"Store {product.storage}" if product.storage else ""
    return [
        content.DoseBagLabel(
            payload=encode(LabelRef(kind, lot.lot_number, lot.coi, b.bag_no, b.bag_count), key),
            bag_no=b.bag_no,
            bag_count=b.bag_count,
            volume_ml=b.volume_ml,
            car_viable_cells=b.car_viable_cells,
            cryopreserved_on=harvest.cryopreserved_on,
            expires_on=harvest.expires_on,
            storage=storage,
            **common,  # type: ignore[arg-type]
        )
        for b in bags
    ]


def preview_labels(
    lot_number: str, kind: str, *, db: Database, actor: Actor, bag_no: int | None = None
) -> list[Label]:
    """Label content without printing (nothing recorded)."""
    actor.require("label.print")
    with db.read() as s:
        return build_labels(s, db, get_lot_row(s, lot_number), parse_kind(kind), bag_no)


# -- printing ---------------------------------------------------------------------------------


def _previous_prints(session: Session, lot: Lot, kind: LabelKind) -> dict[str, LabelPrint]:
    rows = session.exec(
        select(LabelPrint)
        .where(LabelPrint.lot_pk == lot.id, LabelPrint.kind == kind.value)
        .order_by(col(LabelPrint.id))
    ).all()
    first: dict[str, LabelPrint] = {}
    for r in rows:
        first.setdefault(r.object_ref, r)
    return first


def print_labels(
    cmd: PrintLabels,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    deliver: Callable[[bytes], None] | None = None,
) -> PrintResult:
    """Render the labels and record each one printed, in one transaction. ``deliver`` (writing
    the file) runs before the commit: if it fails nothing is recorded."""
    actor.require("label.print")
    kind = parse_kind(cmd.kind)
    fmt = parse_format(cmd.output_format)
    stock = get_stock(cmd.stock or DEFAULT_STOCK[kind])
    if not 1 <= cmd.copies <= MAX_COPIES:
        raise RuleViolation("copies", "copies-range", f"copies must be 1-{MAX_COPIES}")
    if cmd.dpi is not None and cmd.dpi not in (150, 203, 300, 600):
        raise RuleViolation("dpi", "dpi-value", "dpi is one of 150, 203, 300, 600")
    reason = check_text("reprint_reason", (cmd.reprint_reason or "").strip() or None)
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        labels = build_labels(s, db, lot, kind, cmd.bag_no)
        earlier = _previous_prints(s, lot, kind)
        reprinted = [lb.ref.object_ref for lb in labels if lb.ref.object_ref in earlier]
        if reprinted and reason is None:
            first = earlier[reprinted[0]]
            raise RuleViolation(
                "reprint_reason",
                "reprint-reason-required",
                f"{kind} label(s) for {', '.join(reprinted)} were already printed "
                f"(first on {db.local(first.printed_at):%Y-%m-%d %H:%M} by {first.printed_by}); "
                "a reprint needs --reprint-reason",
            )
        if reason is not None and not reprinted:
            raise RuleViolation(
                "reprint_reason",
                "not-a-reprint",
                f"no {kind} label was printed for this object before: drop --reprint-reason",
            )
        data = render([lb for lb in labels for _ in range(cmd.copies)], stock, fmt, dpi=cmd.dpi)
        views = []
        for lb in labels:
            ref = lb.ref
            row = LabelPrint(
                lot_pk=lot.id,  # type: ignore[arg-type]
                kind=kind.value,
                object_ref=ref.object_ref,
                payload=lb.payload,
                output_format=fmt.value,
                stock=stock.name,
                copies=cmd.copies,
                reprint_reason=reason if ref.object_ref in earlier else None,
                printed_by=actor.username,
                printed_at=now,
            )
            s.add(row)
            s.flush()
            tx.audit(
                "label.reprinted" if row.reprint_reason else "label.printed",
                "labelprint",
                row.id or 0,
                lot_number=lot.lot_number,
                new={
                    "kind": row.kind,
                    "object": row.object_ref,
                    "payload": row.payload,
                    "format": row.output_format,
                    "stock": row.stock,
                    "copies": row.copies,
                },
                reason=row.reprint_reason,
            )
            views.append(LabelPrintView.of(row, lot.lot_number))
        if deliver is not None:
            deliver(data)
        tx.commit()
    return PrintResult(lot.lot_number, kind.value, stock.name, fmt.value, tuple(views), data)


def label_history(lot_number: str, *, db: Database, actor: Actor) -> list[LabelPrintView]:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        rows = s.exec(
            select(LabelPrint).where(LabelPrint.lot_pk == lot.id).order_by(col(LabelPrint.id))
        ).all()
        return [LabelPrintView.of(r, lot.lot_number) for r in rows]


def send_to_printer(data: bytes, command: str) -> None:
    """Pipe ``data`` to the site's label printer command (``label_printer``)."""
    if not command.strip():
        raise RuleViolation(
            "printer", "no-label-printer", "no label_printer is configured (MFG_LABEL_PRINTER)"
        )
    try:
        done = subprocess.run(
            shlex.split(command), input=data, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuleViolation("printer", "printer-failed", f"{command!r}: {e}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuleViolation(
            "printer",
            "printer-failed",
            f"{command!r} exited {done.returncode}: {err[-1] if err else 'no message'}",
        )


# -- scanning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    ref: LabelRef
    lot: Lot
    subject: Subject
    bag: DoseBag | None
    first_print: LabelPrint
    times_printed: int
    checks: tuple[str, ...]
    last_printed_at: datetime | None = None


def resolve_payload(
    session: Session,
    db: Database,
    payload: str,
    *,
    expect_lot: str | None = None,
    expect_subject: str | None = None,
) -> Resolved:
    """Decode, verify and look up a payload; a RuleViolation (field ``payload``) otherwise."""
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
    if lot.coi != identity.coi(ref.coi, "payload"):
        raise RuleViolation(
            "payload",
            "payload-coi-mismatch",
            f"the label's COI {ref.coi} is not lot {lot.lot_number}'s ({lot.coi}): "
            "chain of identity broken, quarantine the container",
        )
    checks.append("COI matches the lot")
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    want = identity.lot_number(expect_lot, "expect_lot") if expect_lot is not None else None
    if want is not None and want != lot.lot_number:
        raise RuleViolation(
            "payload",
            "wrong-lot",
            f"STOP: this label is of lot {lot.lot_number} (subject {subject.subject_id}), not of lot {want}",
        )
    who = None if expect_subject is None else identity.subject_id(expect_subject, "expect_subject")
    if who is not None and who != subject.subject_id:
        raise RuleViolation(
            "payload",
            "wrong-subject",
            f"STOP: this label belongs to subject {subject.subject_id}, not {who}",
        )
    if expect_lot is not None:
        checks.append("expected lot")
    if expect_subject is not None:
        checks.append("expected subject")
    bag = None
    if ref.kind is LabelKind.DOSE_BAG:
        bag = session.exec(
            select(DoseBag).where(DoseBag.lot_pk == lot.id, DoseBag.bag_no == ref.item_no)
        ).first()
        if bag is None or bag.bag_count != ref.item_count:
            raise RuleViolation(
                "payload",
                "payload-unknown-bag",
                f"lot {lot.lot_number} has no bag {ref.item} (it has "
                f"{bag.bag_count if bag else 'no such'} bags)",
            )
    prints = session.exec(
        select(LabelPrint)
        .where(LabelPrint.lot_pk == lot.id, LabelPrint.payload == payload.strip())
        .order_by(col(LabelPrint.id))
    ).all()
    if not prints:
        raise RuleViolation(
            "payload",
            "label-never-printed",
            f"CellTrail never printed this {ref.kind} label of {ref.object_ref}: "
            "do not use the container until QA has checked its identity",
        )
    checks.append("printed by CellTrail")
    return Resolved(
        ref, lot, subject, bag, prints[0], len(prints), tuple(checks), prints[-1].printed_at
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
        hold = holds.status_in(s, r.lot)
        return ScanView(
            payload=payload.strip(),
            kind=r.ref.kind.value,
            object_ref=r.ref.object_ref,
            lot_number=r.lot.lot_number,
            coi=r.lot.coi,
            coi_eye_readable=parse_coi(r.lot.coi).eye_readable,
            subject_id=r.subject.subject_id,
            product_name=product.name,
            lot_state=r.lot.state,
            bag_no=r.bag.bag_no if r.bag else None,
            bag_count=r.bag.bag_count if r.bag else None,
            bag_state=r.bag.state if r.bag else None,
            bag_location=r.bag.location if r.bag else None,
            first_printed_at=r.first_print.printed_at,
            first_printed_by=r.first_print.printed_by,
            times_printed=r.times_printed,
            checks=r.checks,
            warnings=outdated_content(s, db, r),
            on_hold=hold.on_hold,
            hold_reasons=tuple(x.message for x in hold.active),
        )


__all__ = [
    "OutputFormat",
    "PrintLabels",
    "PrintResult",
    "ScanView",
    "build_labels",
    "label_history",
    "preview_labels",
    "print_labels",
    "resolve_payload",
    "scan",
    "send_to_printer",
]
