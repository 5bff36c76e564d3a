"""Data in and out: import of historical lots, an OOS result, the sponsor export, the report,
and the audit trail verified after the whole flow."""

from __future__ import annotations

import json
from datetime import timedelta

from mfg.services import audit_trail, counts, harvest, importer, lots, release, reporting, subjects
from mfg.validation.context import CONFORMING_RESULTS, GROWTH, Oq, refused
from mfg.validation.registry import oq_check


@oq_check(
    "Import",
    "Historical lots imported from CSV, once, approved by a second QA person",
    "staged; the stager cannot approve; 1 lot imported on approval; the same lots again refused",
)
def import_once(oq: Oq) -> tuple[bool, str]:
    cols = list(importer.BASE_COLUMNS) + list(CONFORMING_RESULTS)
    hist_day0 = oq.today - timedelta(days=400)
    row = {
        "lot_id": "OQ-HIST-1", "subject_id": "OQ-H01", "site": "OQ", "indication": "SLE",
        "weight_kg": "70", "dose_level": "DL2", "source": "apheresis",
        "apheresis_date": hist_day0.isoformat(), "thaw_date": "",
        "harvest_date": (hist_day0 + timedelta(days=12)).isoformat(),
        "car_viable_cells": "2.0e8", "state": "released", "termination_cause": "",
        **CONFORMING_RESULTS,
    }  # fmt: skip
    path = oq.settings.home / "oq-import.csv"
    lines = [",".join(cols), ",".join(str(row.get(k, "")) for k in cols)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    staged = importer.import_lots(path, db=oq.db, actor=oq.qa, now=oq.now)
    alone, obs1 = refused(
        lambda: importer.approve_import(staged.id, oq.password, db=oq.db, actor=oq.qa, now=oq.now)
    )
    res = importer.approve_import(staged.id, oq.password, db=oq.db, actor=oq.qa2, now=oq.now)
    oq.imported = res.lots
    again, obs = refused(lambda: importer.import_lots(path, db=oq.db, actor=oq.qa, now=oq.now))
    return (
        res.lots == 1 and alone and again,
        f"staged; approved by the stager: {obs1}; {res.lots} lot imported by a second QA person "
        f"({', '.join(res.lot_numbers)}); same lots again: {obs}",
    )


@oq_check(
    "OOS",
    "An out-of-specification result opens a deviation",
    "viability 61 % (spec >= 70 %) evaluates fail and an OOS deviation is opened",
)
def oos(oq: Oq) -> tuple[bool, str]:
    db, tech, now = oq.db, oq.tech, oq.now
    subjects.add_subject(
        subjects.AddSubject("OQ-003", "OQ", "SLE", 62.5, "DL2"), db=db, actor=tech, now=now
    )
    lot3 = lots.register_lot(
        lots.RegisterLot("OQ-003", "apheresis", apheresis_on=oq.day0), db=db, actor=tech, now=now
    ).lot_number
    for day, (total, viable) in GROWTH.items():
        counts.record_count(
            counts.RecordCount(lot3, total, viable, day=day), db=db, actor=tech, now=now
        )
    harvest.record_harvest(
        harvest.RecordHarvest(lot3, oq.today, 3_000_000_000, 30.0), db=db, actor=tech, now=now
    )
    v = release.add_result(release.AddResult(lot3, "VIAB", "61 %"), db=db, actor=tech, now=now)
    devs = release.list_deviations(db=db, actor=oq.qa, lot_number=lot3)
    ok = v.evaluation == "fail" and any(d.kind == "OOS" for d in devs)
    return (
        ok,
        f"VIAB 61 % evaluates {v.evaluation}; deviations: "
        + ", ".join(f"{d.number} {d.kind} {d.test_code}" for d in devs),
    )


@oq_check(
    "Export",
    "Sponsor export is de-identified",
    "no initials or date of birth in the exported lot table",
)
def export(oq: Oq) -> tuple[bool, str]:
    path = oq.settings.home / "oq-export.csv"
    n = reporting.export_lots("csv", str(path), db=oq.db, actor=oq.qa)
    header = path.read_text(encoding="utf-8").splitlines()[0].lower().split(",")
    leaked = [h for h in header if h in ("initials", "dob", "date_of_birth")]
    return n >= 1 and not leaked, f"{n} lots exported; identifying columns: {leaked or 'none'}"


@oq_check(
    "Report",
    "Success-rate report",
    "the released OQ lot and the imported one counted as successes",
)
def report(oq: Oq) -> tuple[bool, str]:
    res = reporting.success_rate(db=oq.db, actor=oq.qa)
    data = res.data
    overall = data.get("overall", data) if isinstance(data, dict) else data
    text = json.dumps(overall, default=str)[:300]
    want = 1 + oq.imported
    return f'"successes": {want}' in text, f"{len(res.lots)} lot(s); {text}"


@oq_check(
    "Audit trail",
    "Audit verify after the whole flow",
    "chain intact; every record matches its trail",
)
def audit_after_the_flow(oq: Oq) -> tuple[bool, str]:
    v = audit_trail.verify(db=oq.db, actor=oq.qa)
    return (
        v.ok,
        f"chain intact: {v.ok}, {v.events} events; {v.records_checked} records match the trail",
    )
