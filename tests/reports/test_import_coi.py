"""The CoIs an approved import issues (in bulk, one sequence read per year) on SQLite and
PostgreSQL: a known subject's lots join its newest therapy event, new subjects get the next
CoIs of their first day 0's year in file order, and registration carries on after them."""

from __future__ import annotations

import json

from sqlmodel import col, select

from mfg.domain.ids import parse_coi
from mfg.services import audit_trail, therapy
from mfg.store.tables import AuditEvent, Lot, Subject, TherapyEvent
from tests.reports import scenario
from tests.reports.scenario import row, write_csv
from tests.support import world
from tests.support.constants import NOW


def _coi(fin: str, yy: int, seq: int) -> str:
    return f"CH{fin}{yy:02d}{seq:06d}"


def test_import_cois_join_the_newest_event_and_continue_the_sequence(db, actors, tmp_path):
    fin, tech = db.settings.facility_id, actors["tech"]
    world.subject(db, tech, "H-001", weight_kg=70.0)
    world.lot(db, tech, "H-001")  # event CoI 26/1
    newest = therapy.start_event("H-001", "retreatment", db=db, actor=actors["qa"], now=NOW)
    assert newest.coi == _coi(fin, 26, 2)
    world.subject(db, tech, "H-050", weight_kg=70.0)
    world.lot(db, tech, "H-050")  # CoI 26/3
    with db.read() as s:
        seq_before = s.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc())).first()
    history = [
        row("LAB-1", "H-001"),  # the known subject: joins its newest event, no new CoI
        row("LAB-2", "H-002"),  # first 2025 CoI of this site
        row("LAB-3", "H-004", apheresis_date="2026-06-01", harvest_date="2026-06-13"),
        row("LAB-4", "H-003"),  # second 2025 CoI (file order)
        row("LAB-5", "H-002", apheresis_date="2025-05-01", harvest_date="2025-05-13"),
    ]
    res = scenario.import_file(db, actors, write_csv(tmp_path / "h.csv", history))
    assert res.subjects_created == 3 and res.subjects_matched == 1
    with db.read() as s:
        subject_ids = {subj.id: subj.subject_id for subj in s.exec(select(Subject))}
        by_subject: dict[str, set[str]] = {}
        for lot in s.exec(select(Lot).where(col(Lot.historical))):
            ev = s.get(TherapyEvent, lot.therapy_event_pk)
            assert ev is not None and ev.coi == lot.coi  # the lot shows its event's CoI
            by_subject.setdefault(subject_ids[lot.subject_pk], set()).add(lot.coi)
        started = s.exec(
            select(AuditEvent)
            .where(AuditEvent.seq > (seq_before or 0), AuditEvent.action == "therapy_event.started")
            .order_by(col(AuditEvent.seq))
        ).all()
    assert by_subject == {
        "H-001": {newest.coi},
        "H-002": {_coi(fin, 25, 1)},
        "H-004": {_coi(fin, 26, 4)},
        "H-003": {_coi(fin, 25, 2)},
    }
    # one audited event per new CoI, in file order, each naming its subject
    assert [(e.entity_id, json.loads(e.new_values)["subject_id"]) for e in started] == [
        (_coi(fin, 25, 1), "H-002"),
        (_coi(fin, 26, 4), "H-004"),
        (_coi(fin, 25, 2), "H-003"),
    ]
    # registration after the import carries on after the imported CoIs
    world.subject(db, tech, "H-060", weight_kg=70.0)
    later = world.lot(db, tech, "H-060")
    assert parse_coi(later.coi).content == _coi(fin, 26, 5)
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems[:5])
