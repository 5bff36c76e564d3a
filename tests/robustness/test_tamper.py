"""Tamper evidence: records and audit rows changed directly in SQL show in `mfg audit verify`.

Every test runs on SQLite and on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from mfg.services import counts, harvest, subjects
from tests.robustness.support import (
    attack,
    count_and_its_event_times_ten,
    scalar,
    sql,
    verify,
)
from tests.support import world
from tests.support.constants import NOW, PASSWORD


@pytest.fixture
def scene(db, actors):  # type: ignore[no-untyped-def]
    """A harvested lot with a corrected count and a changed weight, plus a second lot."""
    tech = actors["tech"]
    lv, _hv = world.harvested_lot(db, tech)
    g = counts.growth(lv.lot_number, db=db, actor=tech, now=NOW)
    world.subject(db, tech, "S-002")
    lv2 = world.lot(db, tech, "S-002")
    c = counts.record_count(
        counts.RecordCount(lv2.lot_number, 110_000_000, 100_000_000, day=0),
        db=db,
        actor=tech,
        now=NOW,
    )
    counts.correct_count(
        c.id,
        counts.RecordCount(lv2.lot_number, 120_000_000, 100_000_000, day=0),
        "typo in total",
        db=db,
        actor=tech,
        now=NOW,
    )
    subjects.update_weight(
        "S-002", 70.5, date(2026, 11, 20), "re-weighed", db=db, actor=tech, now=NOW
    )
    harvest.correct_harvest(
        harvest.RecordHarvest(lv.lot_number, _hv.harvested_on, 3_100_000_000, 31.0),
        "transcription",
        db=db,
        actor=actors["qa"],
        now=NOW,
    )
    return {"lot": lv.lot_number, "lot2": lv2.lot_number, "count_id": g.counts[-1].id}


def test_untouched_database_verifies_including_every_record(db, actors, scene):
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)
    # 6 users + 2 subjects + 2 therapy events + 1 spec pin + 2 lots + 5 + 2 counts + 2 harvests
    # + 4 dose bags + the site time zone (site settings are checked too)
    assert r.records_checked == 27
    assert r.record_problems == ()


@pytest.mark.parametrize(
    ("statement", "entity", "field"),
    [
        (
            "UPDATE cellcount SET viable_cells = viable_cells * 10 WHERE id = :cid",
            "count",
            "viable_cells",
        ),
        ("UPDATE lot SET state = 'released' WHERE lot_number = :lot", "lot", "state"),
        ("UPDATE lot SET coi = 'W00012699999X' WHERE lot_number = :lot", "lot", "coi"),
        ("UPDATE harvest SET car_pct = 55.5 WHERE superseded_by_id IS NULL", "harvest", "car_pct"),
        ("UPDATE subject SET weight_kg = 99 WHERE subject_id = 'S-001'", "subject", "weight_kg"),
        (
            "UPDATE subject SET dose_level = 'DL3' WHERE subject_id = 'S-001'",
            "subject",
            "dose_level",
        ),
        ("UPDATE app_user SET role = 'admin' WHERE username = 'tech'", "user", "role"),
        (
            "UPDATE cellcount SET superseded_by_id = NULL WHERE superseded_by_id IS NOT NULL",
            "count",
            "superseded_by_id",
        ),
    ],
)
def test_record_changed_in_sql_is_named(db, actors, scene, statement, entity, field):
    sql(db, statement, cid=scene["count_id"], lot=scene["lot"])
    r = verify(db, actors["qa"])
    assert not r.ok
    assert r.first_bad_seq is None  # the chain itself is whole: the record was changed
    assert any(p.startswith(f"{entity} ") and f"{field} is" in p for p in r.record_problems), (
        r.record_problems
    )


def test_count_deleted_in_sql_is_named(db, actors, scene):
    sql(db, "DELETE FROM cellcount WHERE id = :cid", cid=scene["count_id"])
    r = verify(db, actors["qa"])
    assert not r.ok
    assert f"count {scene['count_id']}: the audit trail created it" in r.record_problems[0]
    assert "deleted outside CellTrail" in r.record_problems[0]


def test_lot_inserted_in_sql_is_named(db, actors, scene):
    pk = scalar(db, "SELECT subject_pk FROM lot WHERE lot_number = :lot", lot=scene["lot"])
    ev = scalar(db, "SELECT therapy_event_pk FROM lot WHERE lot_number = :lot", lot=scene["lot"])
    sql(
        db,
        "INSERT INTO lot (lot_number, coi, therapy_event_pk, subject_pk, product_code, "
        "spec_version, source, day0, state, registered_at, registered_by, state_changed_at, "
        "row_version) VALUES ('BH002-26-0999', 'CHA999026000099', :ev, :pk, 'BH002', '1', "
        "'apheresis', '2026-11-14', 'registered', :at, 'tech', :at, 1)",
        ev=ev,
        pk=pk,
        at=NOW,
    )
    r = verify(db, actors["qa"])
    assert not r.ok
    assert any(
        p.startswith("lot BH002-26-0999: exists but no audit event created it")
        for p in r.record_problems
    ), r.record_problems


def test_count_inserted_in_sql_is_named(db, actors, scene):
    pk = scalar(db, "SELECT id FROM lot WHERE lot_number = :lot", lot=scene["lot2"])
    sql(
        db,
        "INSERT INTO cellcount (lot_pk, expansion_day, measured_on, total_cells, viable_cells, "
        "recorded_by, recorded_at) VALUES (:pk, 3, '2026-11-17', 5000, 4000, 'tech', :at)",
        pk=pk,
        at=NOW,
    )
    new_id = scalar(db, "SELECT max(id) FROM cellcount")
    r = verify(db, actors["qa"])
    assert f"count {new_id}: exists but no audit event created it (inserted outside CellTrail)" in (
        r.record_problems
    )


def _chain_broken(db, actors):  # type: ignore[no-untyped-def]
    r = verify(db, actors["qa"])
    assert not r.ok and r.first_bad_seq is not None
    return r


def test_audit_value_edited_in_sql_breaks_the_chain_at_that_event(db, actors, scene):
    seq = scalar(db, "SELECT min(seq) FROM auditevent WHERE action = 'count.recorded'")
    row = scalar(db, "SELECT new_values FROM auditevent WHERE seq = :s", s=seq)
    v = json.loads(row)
    v["viable_cells"] = 1
    attack(db, "UPDATE auditevent SET new_values = :v WHERE seq = :s", v=json.dumps(v), s=seq)
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == seq and "changed after it was written" in r.problem


@pytest.mark.parametrize(
    "column, value",
    [
        ("new_values", "{not json"),
        ("new_values", "[" * 100_000 + "]" * 100_000),  # deeper than any decoder recurses
        ("old_values", '{"a": ' * 50_000 + "1" + "}" * 50_000),
    ],
    ids=["malformed", "deep-array", "deep-object"],
)
def test_audit_values_that_are_not_json_are_reported_not_a_crash(db, actors, scene, column, value):
    """An event's values replaced in SQL by text that no JSON decoder reads (malformed, or
    nested past the decoder's recursion limit) crashed `mfg audit verify` and `mfg audit log`
    with an internal error. Verify names the event; the log shows a note, not the text."""
    from mfg.services import audit_trail

    seq = scalar(db, "SELECT min(seq) FROM auditevent WHERE action = 'count.recorded'")
    attack(db, f"UPDATE auditevent SET {column} = :v WHERE seq = :s", v=value, s=seq)
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == seq and "changed after it was written" in r.problem
    (event,) = [e for e in audit_trail.audit_log(db=db, actor=actors["qa"]) if e.seq == seq]
    shown = event.new if column == "new_values" else event.old
    assert shown == f"(not JSON: {len(value):,} characters)"


def test_record_and_its_audit_event_both_edited_still_shows(db, actors, scene):
    """The careful tamperer edits the row AND the event: the hash chain catches the event."""
    seq = count_and_its_event_times_ten(db, scene["count_id"])
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == seq


def test_audit_row_deleted_in_sql(db, actors, scene):
    attack(db, "DELETE FROM auditevent WHERE seq = 5")
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == 5 and "missing" in r.problem


def test_audit_row_inserted_in_sql(db, actors, scene):
    last = scalar(db, "SELECT max(seq) FROM auditevent")
    h = scalar(db, "SELECT hash FROM auditevent WHERE seq = :s", s=last)
    attack(
        db,
        "INSERT INTO auditevent (seq, at, username, action, entity, entity_id, old_values, "
        "new_values, prev_hash, hash) VALUES (:s, :at, 'qa', 'lot.state_changed', 'lot', :lot, "
        "'null', '{\"state\": \"released\"}', :p, :h)",
        s=last + 1,
        at=NOW,
        lot=scene["lot"],
        p=h,
        h="f" * 64,
    )
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == last + 1


def test_audit_rows_reordered_in_sql(db, actors, scene):
    attack(db, "UPDATE auditevent SET seq = -1 WHERE seq = 7")
    attack(db, "UPDATE auditevent SET seq = 7 WHERE seq = 8")
    attack(db, "UPDATE auditevent SET seq = 8 WHERE seq = -1")
    r = _chain_broken(db, actors)
    assert r.first_bad_seq == 7


def test_cli_verify_names_the_changed_record(db, actors, scene, tmp_path, monkeypatch, cli_clock):
    from mfg.cli import app

    monkeypatch.setenv("MFG_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(db.settings.audit_key_path))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--user", "qa", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "records match the trail" in ok.output
    sql(db, "UPDATE cellcount SET viable_cells = 1 WHERE id = :c", c=scene["count_id"])
    bad = runner.invoke(app, ["audit", "verify", "--user", "qa", "--db", url])
    assert bad.exit_code == 1
    assert (
        f"count {scene['count_id']}: viable_cells is 1 but the audit trail recorded" in bad.stderr
    )
    assert "[record-differs-from-trail]" in bad.stderr


def test_result_changed_in_sql_is_named(db, actors):
    from mfg.services import release

    lv, _ = world.harvested_lot(db, actors["tech"])
    release.add_result(
        release.AddResult(lv.lot_number, "VIAB", "91.2 %"), db=db, actor=actors["tech"], now=NOW
    )
    release.verify_result(lv.lot_number, "VIAB", db=db, actor=actors["tech2"], now=NOW)
    release.add_result(
        release.AddResult(lv.lot_number, "STER", "pending"), db=db, actor=actors["tech"], now=NOW
    )
    release.add_result(
        release.AddResult(lv.lot_number, "STER", "No growth"), db=db, actor=actors["tech"], now=NOW
    )
    release.correct_result(
        release.AddResult(lv.lot_number, "VIAB", "92.0 %"),
        "typo",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    assert verify(db, actors["qa"]).ok
    rid = scalar(db, "SELECT max(id) FROM releaseresult WHERE test_code = 'VIAB'")
    sql(
        db,
        "UPDATE releaseresult SET value_text = '99.9 %', evaluation = 'pass' WHERE id = :i",
        i=rid,
    )
    r = verify(db, actors["qa"])
    assert not r.ok and r.first_bad_seq is None
    assert any(p.startswith(f'result {rid}: value_text is "99.9 %"') for p in r.record_problems), (
        r.record_problems
    )


def test_dose_bag_custody_changed_in_sql_is_named(db, actors):
    from tests.release.conftest import ready_lot, sign

    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    world.stored_bag(db, actors["tech"], lot)
    assert verify(db, actors["qa"]).ok
    sql(db, "UPDATE dosebag SET location = 'LN2-9/R9/B99/Z9' WHERE bag_no = 1")
    sql(db, "UPDATE dosebag SET state = 'infused' WHERE bag_no = 2")
    r = verify(db, actors["qa"])
    assert not r.ok
    assert any(p.startswith(f"dose bag {lot}/B1: location is") for p in r.record_problems), (
        r.record_problems
    )
    assert (
        f'dose bag {lot}/B2: state is "infused" but the audit trail recorded "created"'
        in " ".join(r.record_problems)
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE auditevent SET new_values = '{x' WHERE seq = "
        "(SELECT min(seq) FROM auditevent WHERE action LIKE 'bag.%')",
        "UPDATE auditevent SET old_values = '[1]' WHERE seq = "
        "(SELECT max(seq) FROM auditevent WHERE action LIKE 'bag.%')",
        "UPDATE custodyevent SET details = :deep WHERE id = (SELECT min(id) FROM custodyevent)",
        "UPDATE coarevision SET content_json = :deep",
    ],
    ids=["bag-event-not-json", "bag-event-a-list", "custody-details-deep", "coa-content-deep"],
)
def test_custody_and_coa_values_that_are_no_json_object_are_named_not_a_crash(
    db, actors, statement
):
    """The per-event custody check read an event's values with ``.get`` and the custody
    details and COA content with ``json.loads``: values no JSON object (or nested past the
    decoder's recursion) crashed `mfg audit verify` instead of being reported."""
    from tests.release.conftest import ready_lot, sign

    lot = ready_lot(db, actors)
    sign(db, actors, lot)  # the release writes the COA's first revision
    world.stored_bag(db, actors["tech"], lot)
    assert verify(db, actors["qa"]).ok
    deep = "[" * 100_000 + "]" * 100_000
    if "auditevent" in statement:
        attack(db, statement)
    else:
        sql(db, statement, deep=deep)
    r = verify(db, actors["qa"])
    assert not r.ok and (r.first_bad_seq is not None or r.record_problems), r


def test_disposition_and_label_print_changed_in_sql_are_named(db, actors):
    from mfg.services import labels
    from tests.release.conftest import ready_lot, sign

    lot = ready_lot(db, actors)
    world.approve_label_layouts(db)  # labelled in quarantine, then rejected
    labels.print_labels(labels.PrintLabels(lot, "dose-bag"), db=db, actor=actors["tech"], now=NOW)
    sign(db, actors, lot, "reject", reason="matrix")
    assert verify(db, actors["qa"]).ok
    sql(db, "UPDATE disposition SET decision = 'released'")
    sql(db, "UPDATE labelprint SET object_ref = 'BH002-26-9999/B1' WHERE id = 1")
    problems = " | ".join(verify(db, actors["qa"]).record_problems)
    assert (
        'disposition 1: decision is "released" but the audit trail recorded "rejected"' in problems
    )
    assert 'label print 1: object_ref is "BH002-26-9999/B1"' in problems


@pytest.mark.parametrize(
    "edit, attack_trail",
    [
        # a harvest's event made to name itself as its replacement: the walk to the first
        # harvest looped for ever and verify never answered
        (
            "UPDATE auditevent SET new_values = '{\"replaced_by\": ' || entity_id || '}' "
            "WHERE seq = (SELECT min(seq) FROM auditevent WHERE action = 'harvest.recorded')",
            True,
        ),
        # a list where a result's test code was: the fold used it as a key (TypeError)
        (
            "UPDATE auditevent SET new_values = '{\"test_code\": [1]}' "
            "WHERE seq = (SELECT min(seq) FROM auditevent WHERE action = 'result.added')",
            True,
        ),
        # a lot number of digits int() refuses ("²".isdigit() is true): the problems' sort
        ("UPDATE lot SET lot_number = '²' WHERE id = (SELECT min(id) FROM lot)", False),
    ],
    ids=["harvest-replaces-itself", "test-code-a-list", "superscript-lot-number"],
)
def test_values_celltrail_never_writes_are_reported_not_a_crash_or_a_hang(
    db, actors, edit, attack_trail
):
    from tests.release.conftest import enter

    lot = world.harvested_lot(db, actors["tech"])[0].lot_number
    enter(db, actors, lot, {"VIAB": "91.5"})
    assert verify(db, actors["qa"]).ok
    (attack if attack_trail else sql)(db, edit)
    r = verify(db, actors["qa"])
    assert not r.ok
    if attack_trail:
        assert r.first_bad_seq is not None  # the chain still names the edited event


def test_text_in_a_number_column_is_reported_not_a_crash(db, actors):
    """SQLite keeps 'x' in an integer column (PostgreSQL refuses it): the bag check
    subtracted it."""
    from sqlalchemy.exc import DataError

    from tests.release.conftest import ready_lot, sign

    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    world.stored_bag(db, actors["tech"], lot)
    edit = "UPDATE dosebag SET car_viable_cells = 'x' WHERE bag_no = 1"
    if db.dialect == "postgresql":  # the column's type refuses the edit itself
        with pytest.raises(DataError):
            sql(db, edit)
        return
    sql(db, edit)
    r = verify(db, actors["qa"])
    assert not r.ok and any("car_viable_cells" in p for p in r.record_problems), r
