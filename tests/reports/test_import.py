"""Import of historical lots on SQLite and PostgreSQL: all or nothing, audited, judged as typed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlmodel import func, select

from mfg import audit
from mfg.domain.ids import parse_coi
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import audit_trail, importer
from mfg.store.tables import AuditEvent, Harvest, Lot, ReleaseResult, Subject
from tests.reports import scenario
from tests.reports.scenario import HISTORY, d, row, write_csv
from tests.support import world
from tests.support.constants import NOW


def n_rows(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def counts(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(n_rows(db, t) for t in (Subject, Lot, Harvest, ReleaseResult, AuditEvent))


def test_import_writes_every_row_in_one_audited_transaction(db, actors, tmp_path):
    path = write_csv(tmp_path / "history.csv", HISTORY)
    before = n_rows(db, AuditEvent)
    res = scenario.import_file(db, actors, path)
    assert res.lots == 11 and res.subjects_created == 10 and res.subjects_matched == 0
    assert res.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert res.lot_numbers[9] == "BH002-25-0012"  # "LAB 2025/10" got the next number
    with db.read() as s:
        lots = {lot.lot_number: lot for lot in s.exec(select(Lot)).all()}
        assert set(lots) == set(scenario.EXPECTED_LOTS)
        cryo = lots["BH002-25-0012"]
        assert cryo.source == "cryo-pbmc" and cryo.day0.isoformat() == d(0)
        # one CoI per therapy event: the subject with two lots has one for both
        assert len({lot.coi for lot in lots.values()}) == 10
        for lot in lots.values():
            assert parse_coi(lot.coi).year == 25
        terminated = lots["BH002-25-0009"]
        assert terminated.state == "terminated" and terminated.termination_cause == "manufacturing"
        results = s.exec(select(ReleaseResult)).all()
        assert len(results) == res.results == 9 * 12
        endo = [r for r in results if r.test_code == "ENDO" and r.value_text == "<0.5"]
        assert endo and all(r.qualifier == "<" and r.evaluation == "pass" for r in endo)
        viab = next(
            r for r in results if r.lot_pk == lots["BH002-25-0005"].id and r.test_code == "VIAB"
        )
        assert viab.evaluation == "fail" and viab.value_num == 61.0
        ster = next(
            r for r in results if r.lot_pk == lots["BH002-25-0006"].id and r.test_code == "STER"
        )
        assert ster.evaluation == "pending"
        h = s.exec(select(Harvest).where(Harvest.lot_pk == lots["BH002-25-0004"].id)).one()
        assert (h.total_viable_cells, h.car_pct, h.harvest_day) == (139_000_000, 100.0, 12)
        events = s.exec(select(AuditEvent).where(AuditEvent.seq > before)).all()
    actions = [e.action for e in events]
    assert actions.count("lot.imported") == 11
    assert actions.count("subject.imported") == 10
    assert actions.count("therapy_event.started") == 10
    assert actions.count("harvest.imported") == 9
    assert actions.count("result.imported") == 108
    assert actions[0] == "import.staged" and actions[-1] == "import.approved"
    assert actions[-2] == "lots.imported" and actions.count("lots.imported") == 1
    summary = json.loads(events[-2].new_values)
    assert summary["sha256"] == res.sha256 and summary["lots"] == 11
    lot_event = next(e for e in events if e.entity_id == "BH002-25-0012")
    assert json.loads(lot_event.new_values)["file_lot_id"] == "LAB 2025/10"
    assert json.loads(lot_event.new_values)["file_row"] == 11
    assert events[0].username == "qa" and all(e.username == "qa2" for e in events[1:])
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems[:5])


def test_the_same_lots_twice_are_refused_whatever_the_bytes(db, actors, tmp_path):
    """Duplicates are found by the lots (same lot id, or same subject + day 0 + source), not by
    the file's SHA-256: one extra blank line, or a new lab id, does not import them again."""
    path = write_csv(tmp_path / "history.csv", HISTORY[:2])
    scenario.import_file(db, actors, path)
    before = counts(db)
    again = tmp_path / "again.csv"
    again.write_text(path.read_text() + "\n", encoding="utf-8")
    relabelled = write_csv(tmp_path / "relabelled.csv", [dict(HISTORY[0], lot_id="LAB 77")])
    for p in (path, again, relabelled):
        with pytest.raises(importer.ImportRejected) as e:
            importer.import_lots(p, db=db, actor=actors["qa"], now=NOW)
        assert {x.rule for x in e.value.errors} == {"lot-exists"}
    assert counts(db) == before


def test_subjects_are_matched_by_id_and_a_conflict_is_an_error(db, actors, tmp_path):
    world.subject(db, actors["tech"], "H-001", weight_kg=70.0, site="BJ01", dose_level="DL2")
    # the site in any case is the subject's site (canonical, as subject add takes it)
    ok = write_csv(tmp_path / "ok.csv", [row("BH002-25-0001", "H-001", site="bj01")])
    res = scenario.import_file(db, actors, ok)
    assert res.subjects_created == 0 and res.subjects_matched == 1
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            row(
                "BH002-25-0002",
                "H-001",
                weight_kg="71",
                dose_level="DL3",
                apheresis_date=d(20),
                harvest_date=d(32),
            )
        ],
    )
    before = counts(db)
    with pytest.raises(importer.ImportRejected) as e:
        importer.import_lots(bad, db=db, actor=actors["qa"], now=NOW)
    assert {(x.row, x.field, x.rule) for x in e.value.errors} == {
        (2, "weight_kg", "subject-conflict"),
        (2, "dose_level", "subject-conflict"),
    }
    assert counts(db) == before


def test_new_subjects_and_sites_that_look_like_others_are_refused(db, actors, tmp_path):
    """The import keeps ``mfg subject add``'s rules: a new subject id or site that looks like an
    existing one, or like another new one in the same file, refuses the file; nothing is written."""
    world.subject(db, actors["tech"], "H-001", weight_kg=70.0, site="BJ01", dose_level="DL2")
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            row("BH002-25-0002", "H-0O1", apheresis_date=d(1)),  # looks like H-001 (stored)
            row("BH002-25-0003", "H-020", site="GZ03", apheresis_date=d(2)),
            row("BH002-25-0004", "H-02O", site="GZ03", apheresis_date=d(3)),  # like row 3's
            row("BH002-25-0005", "H-030", site="BJO1", apheresis_date=d(4)),  # like BJ01
            row("BH002-25-0006", "H-040", site="GZO3", apheresis_date=d(5)),  # like row 3's GZ03
        ],
    )
    before = counts(db)
    with pytest.raises(importer.ImportRejected) as e:
        importer.import_lots(bad, db=db, actor=actors["qa"], now=NOW)
    found = {(x.row, x.field, x.rule): x.message for x in e.value.errors}
    assert set(found) == {
        (2, "subject_id", "subject-lookalike"),
        (4, "subject_id", "subject-lookalike"),
        (5, "site", "site-lookalike"),
        (6, "site", "site-lookalike"),
    }
    assert "'H-0O1' looks like subject 'H-001'" in found[(2, "subject_id", "subject-lookalike")]
    assert "subject 'H-020' in row 3" in found[(4, "subject_id", "subject-lookalike")]
    assert "'BJO1' looks like the site 'BJ01'" in found[(5, "site", "site-lookalike")]
    assert "'GZO3' looks like the site 'GZ03'" in found[(6, "site", "site-lookalike")]
    assert counts(db) == before


def test_a_site_stored_before_codes_were_canonical_keeps_its_spelling(db, actors, tmp_path):
    """A subject stored at ``bj01`` (before site codes were canonical) is matched by a row at
    BJ01, and a new subject at BJ01 is stored at ``bj01``: one site, one stratum."""
    world.subject(db, actors["tech"], "H-001", weight_kg=70.0, site="BJ01", dose_level="DL2")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE subject SET site = 'bj01'")
    rows = [row("BH002-25-0001", "H-001"), row("BH002-25-0002", "H-002", apheresis_date=d(1))]
    res = scenario.import_file(db, actors, write_csv(tmp_path / "ok.csv", rows))
    assert res.subjects_created == 1 and res.subjects_matched == 1
    with db.read() as s:
        assert sorted(s.exec(select(Subject.subject_id, Subject.site)).all()) == [
            ("H-001", "bj01"),
            ("H-002", "bj01"),
        ]


def test_existing_lot_number_is_refused(db, actors, tmp_path):
    scenario.import_file(db, actors, write_csv(tmp_path / "a.csv", [row("BH002-25-0001")]))
    before = counts(db)
    with pytest.raises(importer.ImportRejected) as e:
        importer.import_lots(
            write_csv(tmp_path / "b.csv", [row("bh002-25-0001", "H-002", apheresis_date=d(1))]),
            db=db,
            actor=actors["qa"],
            now=NOW,
        )
    assert [(x.row, x.field, x.rule) for x in e.value.errors] == [(2, "lot_id", "lot-exists")]
    assert counts(db) == before


BAD_ROWS: list[tuple[dict[str, str], str, str]] = [
    (row(""), "lot_id", "lot-id-required"),
    (row("X1", subject_id="bad id!"), "subject_id", "subject-id-format"),
    (row("X1b", subject_id="bad-id\n"), "subject_id", "id-control-character"),
    (row("X1c", apheresis_date="0001-01-01"), "apheresis_date", "day0-implausible"),
    (row("X1d", apheresis_date="1926-01-01"), "apheresis_date", "day0-implausible"),
    (row("X1e", apheresis_date="2026-11-20"), "apheresis_date", "day0-too-recent"),
    (row("X2", site=""), "site", "id-required"),
    (row("X2b", site="-BJ"), "site", "site-format"),
    (row("X3", indication="RA"), "indication", "unknown-indication"),
    (row("X4", weight_kg="12"), "weight_kg", "weight-range"),
    (row("X5", weight_kg="seventy"), "weight_kg", "number-format"),
    (row("X6", dose_level="DL9"), "dose_level", "unknown-dose-level"),
    (row("X7", source="leukapheresis"), "source", "unknown-source"),
    (row("X8", apheresis_date="03/03/2025"), "apheresis_date", "date-format"),
    (row("X9", apheresis_date="2099-01-01"), "apheresis_date", "date-in-future"),
    (row("X10", apheresis_date=""), "apheresis_date", "day0-missing"),
    (row("X11", thaw_date=d(1)), "thaw_date", "thaw-not-for-fresh"),
    (row("X12", source="cryo-pbmc", thaw_date=""), "thaw_date", "day0-missing"),
    (row("X13", state="shipped"), "state", "unknown-state"),
    (row("X14", state="terminated"), "termination_cause", "termination-cause-required"),
    (
        row("X15", termination_cause="manufacturing"),
        "termination_cause",
        "cause-only-for-terminated",
    ),
    (
        row("X16", harvest_date="", car_viable_cells="", **dict.fromkeys(scenario.TEST_CODES, "")),
        "harvest_date",
        "harvest-required",
    ),
    (
        row("X17", state="in_expansion", **dict.fromkeys(scenario.TEST_CODES, "")),
        "harvest_date",
        "harvest-not-yet",
    ),
    (row("X18", car_viable_cells=""), "car_viable_cells", "cells-required"),
    (row("X19", harvest_date=d(-1)), "harvest_date", "harvest-before-day-0"),
    (row("X20", car_viable_cells="-5"), "car_viable_cells", "count-positive"),
    (row("X21", car_viable_cells="2.5"), "car_viable_cells", "count-whole"),
    (row("X22", VIAB="abc"), "VIAB", "result-format"),
    (row("X23", ENDO="0.2 mg"), "ENDO", "wrong-unit"),
    (row("X24", STER="maybe"), "STER", "not-an-allowed-value"),
    (row("X25", VIAB="<80"), "VIAB", "censored-undecidable"),
    (row("X26", STER="pending"), "STER", "released-with-pending"),
    (
        row(
            "X27",
            state="terminated",
            termination_cause="manufacturing",
            harvest_date="",
            car_viable_cells="",
        ),
        "APPEAR",
        "result-without-harvest",
    ),
    (row("X28", VIAB="101"), "VIAB", "percent-range"),
    (row("X29", harvest_date=""), "car_viable_cells", "cells-without-harvest"),
    # the lab's lot id: a lookalike of a lot number or an escape sequence is never a "lab id"
    (row("BH002-25-0101 "), "lot_id", "id-surrounding-space"),
    (row("BH002-25-0102\u200b"), "lot_id", "id-control-character"),
    (row("LAB\x1b[2J-1"), "lot_id", "id-control-character"),
    (row("L" * 41), "lot_id", "id-too-long"),
]


def test_every_bad_row_is_listed_with_its_field_and_nothing_is_written(db, actors, tmp_path):
    rows = [row("BH002-25-0001", "H-100")]  # one good row: still nothing is imported
    rows += [
        dict(r, subject_id=r["subject_id"] if "bad" in r["subject_id"] else f"B-{i}")
        for i, (r, _, _) in enumerate(BAD_ROWS)
    ]
    rows += [row("BH002-25-0001", "H-101")]  # same lot id twice
    rows += [row("BH002-25-0050", "H-100", site="SH02")]  # subject differs from row 2
    path = write_csv(tmp_path / "bad.csv", rows)
    before = counts(db)
    with pytest.raises(importer.ImportRejected) as e:
        importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    found = {(x.row, x.field, x.rule) for x in e.value.errors}
    for i, (_, field, rule) in enumerate(BAD_ROWS):
        assert (i + 3, field, rule) in found, (i + 3, field, rule, sorted(found))
    n = len(BAD_ROWS) + 2
    assert (n + 1, "lot_id", "duplicate-lot-id") in found
    assert (n + 2, "site", "subject-conflict") in found
    assert 2 not in {x.row for x in e.value.errors}
    assert e.value.rule == "import-invalid"
    assert counts(db) == before
    assert (
        str(e.value.errors[0])
        == "row 3: lot_id: every row needs the lab's lot id [lot-id-required]"
    )


def test_wrong_columns_are_refused_naming_them(db, actors, tmp_path):
    header = (*(c for c in scenario.HEADER if c != "BEADS"), "NOTE")
    path = write_csv(tmp_path / "cols.csv", [], header)
    with pytest.raises(RuleViolation) as e:
        importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    assert e.value.rule == "import-columns"
    assert "missing BEADS" in e.value.message and "unknown NOTE" in e.value.message


def test_only_qa_may_import(db, actors, tmp_path):
    path = write_csv(tmp_path / "h.csv", HISTORY[:1])
    for who in ("tech", "sponsor", "admin"):
        with pytest.raises(NotPermitted):
            importer.import_lots(path, db=db, actor=actors[who], now=NOW)
    assert n_rows(db, Lot) == 0


def test_the_cyclic_gc_is_paused_for_the_import_and_back_after_it(
    db, actors, tmp_path, monkeypatch
):
    """Building an import's rows runs with the cyclic collector paused (it rescanned every new
    row again and again), and the collector is back after a written and after a refused
    import: a TUI session goes on collecting."""
    import gc

    from mfg.services import import_writer

    seen: list[bool] = []
    write = importer.write_import

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return write(*a, **k)

    monkeypatch.setattr(importer, "write_import", spy)
    assert gc.isenabled()
    scenario.import_file(db, actors, write_csv(tmp_path / "h.csv", HISTORY[:3]))
    assert seen == [False] and gc.isenabled()

    def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk gone")

    monkeypatch.setattr(import_writer, "_results", broken)
    with pytest.raises(RuntimeError):
        scenario.import_file(db, actors, write_csv(tmp_path / "h2.csv", HISTORY[3:5]))
    assert gc.isenabled()
    with pytest.raises(importer.ImportRejected):
        importer.import_lots(
            write_csv(tmp_path / "bad.csv", [dict(HISTORY[5], subject_id="")]),
            db=db,
            actor=actors["qa"],
            now=NOW,
        )
    assert gc.isenabled()


def test_new_ids_are_found_when_they_are_not_past_the_largest(db, actors, tmp_path, monkeypatch):
    """The new rows' ids are read as the range past the table's largest id; when that range
    does not hold them all (a PostgreSQL sequence set back by hand), they are found by value,
    and every record still matches its event."""
    from mfg.services import import_writer

    ranges: list[int] = []

    def nothing_in_range(conn, query):  # type: ignore[no-untyped-def]
        ranges.append(1)
        return []

    monkeypatch.setattr(import_writer, "_dense_ids", lambda *a: None)
    monkeypatch.setattr(import_writer.bulk, "select_rows", nothing_in_range)
    res = scenario.import_file(db, actors, write_csv(tmp_path / "h.csv", HISTORY))
    assert res.lots == 11 and len(ranges) == 5  # subjects, CoIs, lots, harvests, results
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems[:5])


def test_new_ids_not_in_one_run_are_read_back_by_key(db, actors, tmp_path, monkeypatch):
    """Should the ids past the largest not be one unbroken run of the rows' number, the rows
    are read back by their key in that range: every record still matches its event."""
    from mfg.services import import_writer

    reads: list[int] = []
    select_rows = import_writer.bulk.select_rows

    def counted(conn, query):  # type: ignore[no-untyped-def]
        found = select_rows(conn, query)
        reads.append(len(found))
        return found

    monkeypatch.setattr(import_writer, "_dense_ids", lambda *a: None)
    monkeypatch.setattr(import_writer.bulk, "select_rows", counted)
    res = scenario.import_file(db, actors, write_csv(tmp_path / "h.csv", HISTORY))
    assert reads == [10, 10, 11, 9, 108] and res.results == 108
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems[:5])


def test_the_new_ids_are_the_run_past_the_largest_when_it_is_as_long_as_the_rows(sqlite_db):
    """``_dense_ids``: the ids past ``before`` when they are exactly ``n`` consecutive ones."""
    from mfg.services.import_writer import _dense_ids

    table = Subject.__table__  # type: ignore[attr-defined]
    with sqlite_db.engine.begin() as conn:
        for pk in (1, 2, 3, 4, 6):
            conn.execute(
                table.insert().values(
                    id=pk, subject_id=f"S-{pk}", site="A", indication="SLE", weight_kg=60.0,
                    weight_on=NOW.date(), dose_level="DL1", created_at=NOW, row_version=1,
                )
            )  # fmt: skip
        assert _dense_ids(conn, table, 1, 3) is None  # 2, 3, 4, 6: four, with a gap
        assert _dense_ids(conn, table, 4, 1) == [6]  # past a gap (a sequence's refused ids)
        assert _dense_ids(conn, table, 4, 2) is None
        assert _dense_ids(conn, table, 0, 4) is None
        assert _dense_ids(conn, table, 6, 1) is None  # nothing past 6
        assert _dense_ids(conn, table, 5, 1) == [6]
        conn.execute(table.delete().where(table.c.id == 6))
        assert _dense_ids(conn, table, 1, 3) == [2, 3, 4]


@pytest.mark.postgres
def test_new_ids_past_a_gap_in_the_sequence_are_the_rows_in_order(pg_db, tmp_path, monkeypatch):
    """A PostgreSQL sequence past the table's largest id (writes refused after taking ids):
    the new rows' ids start after the gap, one unbroken run, each event names its own row."""
    from sqlalchemy import text

    from mfg.services import import_writer
    from tests.conftest import add_users

    actors = add_users(pg_db)
    with pg_db.engine.begin() as conn:
        for t in ("subject", "therapy_event", "lot", "harvest", "releaseresult"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), 500)"))
    runs: list[list[int] | None] = []
    dense = import_writer._dense_ids

    def seen(*a):  # type: ignore[no-untyped-def]
        runs.append(dense(*a))
        return runs[-1]

    monkeypatch.setattr(import_writer, "_dense_ids", seen)
    scenario.import_file(pg_db, actors, write_csv(tmp_path / "h.csv", HISTORY))
    assert [r[0] if r else None for r in runs] == [501] * 5
    with pg_db.read() as s:
        first = s.exec(select(ReleaseResult).where(ReleaseResult.id == 501)).one()
        event = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "result.imported", AuditEvent.entity_id == "501"
            )
        ).one()
    assert json.loads(event.new_values)["test_code"] == first.test_code
    report = audit_trail.verify(db=pg_db, actor=actors["qa"])
    assert report.ok, (report.problem, report.record_problems[:5])


def test_audit_batch_continues_the_chain(db, actors, tmp_path):
    world.subject(db, actors["tech"], "S-1")  # an event before the import
    scenario.import_file(db, actors, write_csv(tmp_path / "h.csv", HISTORY[:3]))
    world.subject(db, actors["tech"], "S-2")  # and one after it
    with db.read() as s:
        report = audit.verify_chain(audit.chain_rows(s.connection()), db.audit_keyring())
    assert report.ok and report.events == n_rows(db, AuditEvent)


def test_progress_is_reported(db, actors, tmp_path: Path):
    seen: list[tuple[str, int, int]] = []
    scenario.import_file(
        db, actors, write_csv(tmp_path / "h.csv", HISTORY), progress=lambda *a: seen.append(a)
    )
    assert ("validating", 11, 11) in seen
    # the records as each table is written: 10 subjects, 11 lots, 9 harvests, 108 results
    writing = [done for phase, done, total in seen if phase == "writing" and total == 138]
    assert writing == [0, 10, 21, 30, 138]


def test_progress_moves_chunk_by_chunk_through_a_table(db, actors, tmp_path, monkeypatch):
    """The bar moves as each chunk of a table is in (10,000 lots are 120,000 results: one
    step per table jumped from 25,000 to 145,000 records)."""
    from mfg.services import import_writer

    monkeypatch.setattr(import_writer, "CHUNK", 50)
    seen: list[tuple[str, int, int]] = []
    scenario.import_file(
        db, actors, write_csv(tmp_path / "h.csv", HISTORY), progress=lambda *a: seen.append(a)
    )
    writing = [done for phase, done, total in seen if phase == "writing" and total == 138]
    assert writing == [0, 10, 21, 30, 80, 130, 138]  # the 108 results in 50, 50 and 8
    report = audit_trail.verify(db=db, actor=actors["qa"])
    assert report.ok and not report.record_problems, (report.problem, report.record_problems)


def test_a_spreadsheet_export_with_bom_and_crlf_imports(db, actors, tmp_path):
    text = scenario.csv_text(HISTORY[:2]).replace("\n", "\r\n")
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert scenario.import_file(db, actors, path).lots == 2


def test_a_file_with_only_the_header_is_refused(db, actors, tmp_path):
    with pytest.raises(RuleViolation) as e:
        importer.import_lots(
            write_csv(tmp_path / "empty.csv", []), db=db, actor=actors["qa"], now=NOW
        )
    assert e.value.rule == "file-empty"


def test_staging_changes_nothing_and_a_second_qa_person_approves(db, actors, tmp_path):
    """One QA person cannot import alone: the file is staged, and only another QA person's
    e-signature writes it; imported lots are historical, never issuable."""
    from mfg.errors import AuthenticationFailed
    from mfg.services import holds, lots
    from mfg.store.tables import ImportBatch
    from tests.support.constants import PASSWORD

    path = write_csv(tmp_path / "h.csv", HISTORY[:3])
    before = counts(db)
    staged = importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    assert staged.state == "staged" and staged.lots == 3
    after = counts(db)
    assert after[:4] == before[:4] and after[4] == before[4] + 1  # one audit event: staged
    assert n_rows(db, ImportBatch) == 1
    with pytest.raises(NotPermitted) as e:
        importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa"], now=NOW)
    assert e.value.rule == "import-four-eyes"
    with pytest.raises(AuthenticationFailed):
        importer.approve_import(staged.id, "not the password", db=db, actor=actors["qa2"], now=NOW)
    with pytest.raises(NotPermitted):
        importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["tech"], now=NOW)
    assert counts(db)[:4] == before[:4]
    res = importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa2"], now=NOW)
    assert res.lots == 3
    v = lots.show_lot("BH002-25-0001", db=db, actor=actors["qa"])
    assert v.historical
    st = holds.status("BH002-25-0001", db=db, actor=actors["qa"])
    assert [r.code for r in st.active] == ["historical"]
    with pytest.raises(RuleViolation) as e2:
        importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa2"], now=NOW)
    assert e2.value.rule == "import-not-staged"


def test_a_rejected_import_writes_nothing(db, actors, tmp_path):
    path = write_csv(tmp_path / "h.csv", HISTORY[:2])
    staged = importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    v = importer.reject_import(staged.id, "wrong site", db=db, actor=actors["qa2"], now=NOW)
    assert v.state == "rejected" and n_rows(db, Lot) == 0
    assert [b.state for b in importer.list_imports(db=db, actor=actors["qa"])] == ["rejected"]
