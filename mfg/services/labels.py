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
from datetime import date, datetime

from sqlmodel import Session, col, select

from labels import content, layouts
from labels.content import Label
from labels.payload import LabelKind, LabelRef, encode, parse_kind
from labels.render import OutputFormat, parse_format, render
from labels.stocks import DEFAULT_STOCK, get_stock
from mfg.domain import isbt128
from mfg.domain.lifecycle import NOT_FOR_INFUSION
from mfg.domain.printers import parse_routes, printer_for
from mfg.domain.text import check_text
from mfg.errors import NotFound, RuleViolation
from mfg.services.label_control import lot_prints, require_approved
from mfg.services.lots import current_harvest, get_lot_row, product_for_lot
from mfg.services.scanning import Resolved, ScanView, resolve_payload, scan, site_key
from mfg.services.therapy import lot_coi
from mfg.services.uow import Actor, Database
from mfg.store.tables import DoseBag, Harvest, LabelPrint, Lot, Subject

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
    send: bool = False  # the caller sends the output to ``PrintResult.printer``


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
    layout_version: int | None = None
    isbt128: str | None = None

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
            layout_version=row.layout_version,
            isbt128=row.isbt128,
        )


@dataclass(frozen=True)
class PrintResult:
    lot_number: str
    kind: str
    stock: str
    output_format: str
    prints: tuple[LabelPrintView, ...]
    data: bytes
    printer: str | None = None  # the command routed for this kind and stock, when sent

    @property
    def payloads(self) -> tuple[str, ...]:
        return tuple(p.payload for p in self.prints)


# -- building label content -------------------------------------------------------------------


def _bags(session: Session, lot: Lot) -> list[DoseBag]:
    return list(
        session.exec(
            select(DoseBag).where(DoseBag.lot_pk == lot.id).order_by(col(DoseBag.bag_no))
        ).all()
    )


def utc_offset(db: Database, on: date | None) -> str:
    """The site's UTC offset at 23:59 of ``on`` (or today), as printed after label times."""
    return isbt128.utc_offset(db.settings.zone, on or date.today())


def _bags_to_label(
    session: Session, lot: Lot, harvest: Harvest | None, bag_no: int | None
) -> list[DoseBag]:
    """The dose bags still in use (or the one asked for) of a harvested lot."""
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
    return bags


def build_labels(
    session: Session, db: Database, lot: Lot, kind: LabelKind, bag_no: int | None = None
) -> list[Label]:
    """The label content of ``kind`` for ``lot``: one label, or one per dose bag still in use."""
    subject = session.get(Subject, lot.subject_pk)
    assert subject is not None
    product = product_for_lot(db, session, lot)
    codes = layouts.product_codes(product.code)
    coi = lot_coi(session, lot)
    key = site_key(db)
    common = {
        "product_name": product.name,
        "product_short": product.code,
        "lot_number": lot.lot_number,
        "coi": coi.content,
        "subject_id": subject.subject_id,
        "initials": subject.initials,
        "dob": subject.dob,
        "facility": db.settings.site_name,
    }
    if bag_no is not None and kind is not LabelKind.DOSE_BAG:
        raise RuleViolation("bag", "bag-only-for-dose-bags", "--bag applies to dose-bag labels")
    if kind is not LabelKind.DOSE_BAG:
        payload = encode(LabelRef(kind, lot.lot_number, coi.content), key)
        harvest = current_harvest(session, lot)
        extra: dict[str, object] = {}
        if kind in (LabelKind.APHERESIS_BAG, LabelKind.PBMC_VIAL):
            extra["collected_on"] = lot.apheresis_on
        elif kind is LabelKind.CULTURE:
            extra.update(day0=lot.day0, source=lot.source)
        elif kind is LabelKind.QC_SAMPLE:
            extra["sampled_on"] = harvest.harvested_on if harvest else None
        message, code = layouts.isbt_message(
            coi, codes, kind, lot.lot_number, collected_on=lot.apheresis_on
        )
        cls = content.LABEL_CLASSES[kind]
        fields: dict[str, object] = {
            "payload": payload,
            "isbt128": message,
            "isbt_product": code,
            "zone": utc_offset(db, lot.apheresis_on),
            **common,
            **extra,
        }
        return [cls(**fields)]  # type: ignore[arg-type]
    if lot.state in NOT_FOR_INFUSION:  # its bags are destroyed, never issued (a scan stops them)
        raise RuleViolation(
            "kind",
            "lot-not-for-infusion",
            f"lot {lot.lot_number} is {lot.state}: its dose bags are never issued, thawed or "
            "infused, so no dose-bag label is printed for them",
        )
    harvest = current_harvest(session, lot)
    bags = _bags_to_label(session, lot, harvest, bag_no)
    assert harvest is not None
    storage = f"Store {product.storage}" if product.storage else ""
    out: list[Label] = []
    for b in bags:
        message, code = layouts.isbt_message(
            coi, codes, kind, lot.lot_number, bag_no=b.bag_no, expires_on=harvest.expires_on
        )
        out.append(
            content.DoseBagLabel(
                payload=encode(
                    LabelRef(kind, lot.lot_number, coi.content, b.bag_no, b.bag_count), key
                ),
                isbt128=message,
                isbt_product=code,
                zone=utc_offset(db, harvest.expires_on),
                bag_no=b.bag_no,
                bag_count=b.bag_count,
                volume_ml=b.volume_ml,
                car_viable_cells=b.car_viable_cells,
                cryopreserved_on=harvest.cryopreserved_on,
                expires_on=harvest.expires_on,
                storage=storage,
                **common,  # type: ignore[arg-type]
            )
        )
    return out


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


def _check_reprint(
    session: Session,
    db: Database,
    lot: Lot,
    kind: LabelKind,
    labels: list[Label],
    reason: str | None,
) -> dict[str, LabelPrint]:
    """The earlier prints of these objects; a reprint needs a reason, a first print none."""
    earlier = _previous_prints(session, lot, kind)
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
    return earlier


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
    printer = route_printer(db, kind, stock.name) if cmd.send else None
    if cmd.send and not printer:
        raise RuleViolation(
            "printer",
            "no-label-printer",
            f"no printer for {kind.value} on {stock.name}: set label_printers or label_printer",
        )
    with db.write(actor, now) as tx:
        s = tx.session
        lot = get_lot_row(s, cmd.lot_number)
        version = require_approved(s, kind)
        labels = build_labels(s, db, lot, kind, cmd.bag_no)
        earlier = _check_reprint(s, db, lot, kind, labels, reason)
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
                layout_version=version,
                isbt128=lb.isbt128 or None,
                printer=printer,
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
                    "layout_version": row.layout_version,
                    "isbt128": row.isbt128,
                    "printer": row.printer,
                },
                reason=row.reprint_reason,
            )
            views.append(LabelPrintView.of(row, lot.lot_number))
        if deliver is not None:
            deliver(data)
        tx.commit()
    return PrintResult(
        lot.lot_number, kind.value, stock.name, fmt.value, tuple(views), data, printer
    )


def label_history(lot_number: str, *, db: Database, actor: Actor) -> list[LabelPrintView]:
    actor.require("lot.read")
    with db.read() as s:
        lot = get_lot_row(s, lot_number)
        return [LabelPrintView.of(r, lot.lot_number) for r in lot_prints(s, lot)]


def route_printer(db: Database, kind: LabelKind, stock: str) -> str:
    """The printer command for ``kind`` on ``stock``: ``label_printers`` routes, else
    ``label_printer`` (empty when neither is configured)."""
    routes = parse_routes(db.settings.label_printers)
    return printer_for(routes, kind.value, stock, db.settings.label_printer)


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


__all__ = [
    "OutputFormat",
    "PrintLabels",
    "PrintResult",
    "Resolved",
    "ScanView",
    "build_labels",
    "label_history",
    "preview_labels",
    "print_labels",
    "resolve_payload",
    "scan",
    "send_to_printer",
]
