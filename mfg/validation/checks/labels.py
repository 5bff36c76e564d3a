"""Labels, scanning and the chain of custody of a dose bag."""

from __future__ import annotations

from datetime import timedelta

from labels.payload import LabelKind
from mfg.domain.custody import parse_location
from mfg.services import custody, label_control, labels
from mfg.validation.context import Oq, refused
from mfg.validation.model import NotAvailable
from mfg.validation.registry import oq_check


def _payload(oq: Oq) -> str:
    if not oq.payload:
        raise NotAvailable("no label was printed")
    return oq.payload


@oq_check(
    "Labels",
    "Label layouts approved by QA before first use",
    "an electronic signature per layout version",
)
def approve_layouts(oq: Oq) -> tuple[bool, str]:
    done = [
        label_control.approve_layout(
            kind.value, "OQ scratch run", oq.password, db=oq.db, actor=oq.qa, now=oq.now
        )
        for kind in LabelKind
    ]
    ok = all(v.approved_by for v in done)
    return ok, f"{len(done)} label layouts approved by {done[0].approved_by} (e-signature)"


@oq_check("Labels", "Dose-bag labels printed and recorded", "one label per dose bag, PDF output")
def print_dose_bag_labels(oq: Oq) -> tuple[bool, str]:
    res = labels.print_labels(
        labels.PrintLabels(oq.lot, "dose-bag"), db=oq.db, actor=oq.tech, now=oq.now
    )
    oq.payload = res.payloads[0] if res.payloads else ""
    ok = res.data.startswith(b"%PDF") and len(res.payloads) == oq.bags
    return ok, f"{len(res.payloads)} dose-bag label(s), PDF {len(res.data):,} bytes"


@oq_check("Labels", "A reprint without a reason is refused", "refused")
def reprint(oq: Oq) -> tuple[bool, str]:
    _payload(oq)
    return refused(
        lambda: labels.print_labels(
            labels.PrintLabels(oq.lot, "dose-bag"), db=oq.db, actor=oq.tech, now=oq.now
        )
    )


@oq_check(
    "Scan",
    "Scanning the label identifies the lot",
    "the payload resolves to the lot and subject",
)
def scan(oq: Oq) -> tuple[bool, str]:
    v = labels.scan(_payload(oq), db=oq.db, actor=oq.tech)
    return (
        v.lot_number == oq.lot and v.subject_id == "OQ-001",
        f"scan -> {v.kind} {v.object_ref}, lot {v.lot_number}, subject {v.subject_id}",
    )


@oq_check("Scan", "An altered label payload is refused", "refused")
def scan_altered(oq: Oq) -> tuple[bool, str]:
    p = _payload(oq)
    altered = p[:-2] + ("0" if p[-2] != "0" else "1") + p[-1]
    return refused(lambda: labels.scan(altered, db=oq.db, actor=oq.tech))


@oq_check(
    "Custody",
    "Dose bag stored, issued, thawed, infused; wrong patient refused",
    "stored -> issued -> thawed -> infused; infusion into another subject refused",
)
def bag_custody(oq: Oq) -> tuple[bool, str]:
    p, db, tech, now = _payload(oq), oq.db, oq.tech, oq.now
    steps = [
        custody.store_bag(
            p, parse_location("LN2-1", "R1", "B01", "A1"), db=db, actor=tech, now=now
        ).state,
        custody.issue_bag(p, db=db, actor=oq.qa, now=now, subject_id="OQ-001").state,
        custody.thaw_bag(p, db=db, actor=tech, now=now + timedelta(minutes=5)).state,
    ]
    wrong, obs = refused(
        lambda: custody.infuse_bag(p, "OQ-999", db=db, actor=tech, now=now + timedelta(minutes=10))
    )
    steps.append(
        custody.infuse_bag(p, "OQ-001", db=db, actor=tech, now=now + timedelta(minutes=12)).state
    )
    ok = wrong and steps == ["stored", "issued", "thawed", "infused"]
    return ok, " -> ".join(steps) + f"; wrong patient: {obs}"
