"""The records issues 10 and 12 added (holds, OOS administrations, the site time zone, staged
imports, harvest and weight four-eyes checks, log-in sessions, password history), tampered with
nothing but SQL on SQLite and PostgreSQL: `mfg audit verify` exits 1 naming the record, the
field and the event; the untouched database verifies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mfg.services import accounts, holds, importer, release, subjects, users
from tests.reports import scenario
from tests.robustness.support import sql, verify
from tests.services.test_holds import released_with_bags
from tests.support import world
from tests.support.constants import NOW, PASSWORD

LATER = NOW + timedelta(days=3)
NEW_PASSWORD = "another-long-passphrase-7"


@pytest.fixture
def scene(db, actors, tmp_path):  # type: ignore[no-untyped-def]
    """A released lot under an OOS administration with a hold lifted and one standing; a subject
    whose weight nobody verified yet; an import approved and one rejected; a session closed
    and one open; a password changed."""
    qa, tech = actors["qa"], actors["tech"]
    lot, _bags = released_with_bags(db, actors)
    release.add_result(release.AddResult(lot, "STER", "Growth"), db=db, actor=tech, now=LATER)
    release.correct_result(  # after the release: a late correction
        release.AddResult(lot, "VIAB", "88.8"), "transcription", db=db, actor=tech, now=LATER
    )
    holds.administer_oos(lot, "Dr. A. Chen", "no alternative", PASSWORD, db=db, actor=qa, now=LATER)
    holds.place_hold(lot, "freezer excursion", PASSWORD, db=db, actor=qa, now=LATER)
    holds.lift_hold(lot, "log reviewed", PASSWORD, db=db, actor=qa, now=LATER)
    holds.place_hold(lot, "label mix-up suspected", PASSWORD, db=db, actor=qa, now=LATER)
    world.subject(db, tech, "S-002")
    world.lot(db, tech, "S-002")  # registered, nothing recorded yet
    subjects.update_weight("S-001", 63.0, NOW.date(), "re-weighed", db=db, actor=tech, now=LATER)
    path = scenario.write_csv(tmp_path / "h1.csv", [scenario.row("BH002-25-0001", "H-001")])
    scenario.import_file(db, actors, path)
    path = scenario.write_csv(tmp_path / "h2.csv", [scenario.row("BH002-25-0002", "H-002")])
    staged = importer.import_lots(path, db=db, actor=qa, now=NOW)
    importer.reject_import(staged.id, "wrong product", db=db, actor=actors["qa2"], now=NOW)
    token = accounts.open_session(db, tech, kind="cli", host="bench-1", now=NOW)
    accounts.close_session(db, token, reason="logout", now=NOW)
    accounts.open_session(db, qa, kind="tui", host="qa-desk", now=NOW)
    users.change_own_password(db, "tech2", PASSWORD, NEW_PASSWORD, now=NOW)
    r = verify(db, qa)
    assert r.ok, (r.problem, r.record_problems)
    return {"lot": lot}


OPEN_HOLD = "(SELECT max(id) FROM lothold)"
EVENT = r"\(event \d+\)"

# A token that starts with "ab" and always differs from the stored one (its last digit flipped
# between 0 and 1): 'ab' || substr(token, 3) alone left a token that already began with "ab"
# unchanged (1 run in 256: the forged insert then hit the unique index, the swap changed nothing).
_OTHER_TOKEN = (
    "'ab' || substr(token_sha256, 3, 61) "
    "|| CASE WHEN substr(token_sha256, 64) = '0' THEN '1' ELSE '0' END"
)

CASES = {
    "a QA hold deleted (the lot can be issued again)": (
        [f"DELETE FROM lothold WHERE id = {OPEN_HOLD}"],
        rf"^hold \d+: the audit trail created it {EVENT} but it no longer exists",
    ),
    "a QA hold lifted in SQL": (
        [
            "UPDATE lothold SET lifted_at = placed_at, lifted_by = 'qa', lifted_name = "
            f"'Quinn Quality', lift_reason = 'ok' WHERE id = {OPEN_HOLD}"
        ],
        rf'^hold \d+: lifted_by is "qa" but the audit trail recorded null {EVENT}',
    ),
    "a hold inserted already lifted (it hides nothing, but nobody placed it)": (
        [
            "INSERT INTO lothold (lot_pk, reason, placed_by, placed_name, placed_at, placed_hash, "
            "lifted_by, lifted_name, lifted_at, lift_reason, lifted_hash, row_version) SELECT "
            "lot_pk, 'x', placed_by, placed_name, placed_at, placed_hash, placed_by, placed_name, "
            f"placed_at, 'y', placed_hash, 1 FROM lothold WHERE id = {OPEN_HOLD}"
        ],
        r"^hold \d+: exists but no audit event created it",
    ),
    "who placed a hold": (
        ["UPDATE lothold SET placed_name = 'Somebody Else'"],
        rf'^hold \d+: placed_name is "Somebody Else" but the audit trail recorded "Quinn Quality"'
        rf" {EVENT}",
    ),
    "the site's clock moved": (
        ["UPDATE sitesetting SET value = 'Pacific/Kiritimati'"],
        rf'^site setting site_timezone: value is "Pacific/Kiritimati" but the audit trail '
        rf'recorded "[^"]+" {EVENT}',
    ),
    "a harvest's four-eyes check faked": (
        ["UPDATE harvest SET verified_by = 'tech'"],
        rf'^harvest \d+: verified_by is "tech" but the audit trail recorded "tech2" {EVENT}',
    ),
    "a weight nobody verified made verified": (
        [
            "UPDATE subject SET weight_verified_by = 'tech2', weight_verified_at = created_at "
            "WHERE subject_id = 'S-002'"
        ],
        rf'^subject S-002: weight_verified_by is "tech2" but the audit trail recorded null {EVENT}',
    ),
    "a changed weight's verification restored": (
        [
            "UPDATE subject SET weight_verified_by = 'tech2', weight_verified_at = created_at "
            "WHERE subject_id = 'S-001'"
        ],
        rf'^subject S-001: weight_verified_by is "tech2" but the audit trail recorded null {EVENT}',
    ),
    "who entered a weight": (
        ["UPDATE subject SET weight_recorded_by = 'tech2' WHERE subject_id = 'S-001'"],
        rf'^subject S-001: weight_recorded_by is "tech2" but the audit trail recorded "tech" {EVENT}',
    ),
    "an OOS administration's physician": (
        ["UPDATE oosadministration SET physician = 'Dr. Nobody'"],
        rf'^OOS administration \d+: physician is "Dr. Nobody" but the audit trail recorded '
        rf'"Dr. A. Chen" {EVENT}',
    ),
    "an OOS administration's holds widened": (
        ["UPDATE oosadministration SET holds_covered = '[\"anything\"]'"],
        r'^OOS administration \d+: holds_covered is \["anything"\] but the audit trail recorded '
        r"\[",
    ),
    "an OOS administration inserted (a held lot's bags could be issued)": (
        [
            "INSERT INTO oosadministration (lot_pk, physician, reason, holds_covered, signed_by, "
            "printed_name, signed_at, record_hash) SELECT lot_pk, 'Dr. Nobody', reason, "
            "holds_covered, signed_by, printed_name, signed_at, record_hash "
            "FROM oosadministration"
        ],
        r"^OOS administration \d+: exists but no audit event created it",
    ),
    "an OOS administration moved to another lot (that lot's held bags could be issued)": (
        ["UPDATE oosadministration SET lot_pk = (SELECT min(id) FROM lot WHERE historical)"],
        rf'^OOS administration \d+: lot_pk is "BH002-25-0001" but the audit trail recorded '
        rf'"[^"]+" {EVENT}',
    ),
    "a QA hold moved to another lot (the held lot is free again)": (
        [
            f"UPDATE lothold SET lot_pk = (SELECT min(id) FROM lot WHERE historical) WHERE id = {OPEN_HOLD}"
        ],
        rf'^hold \d+: lot_pk is "BH002-25-0001" but the audit trail recorded "[^"]+" {EVENT}',
    ),
    "an OOS administration deleted": (
        ["DELETE FROM oosadministration"],
        rf"^OOS administration \d+: the audit trail created it {EVENT} but it no longer exists",
    ),
    "an approved import inserted (lots without an import the trail knows)": (
        [
            "INSERT INTO importbatch (file_name, sha256, content, product_code, lot_count, state, "
            "staged_by, staged_at, decided_by, decided_name, decided_at, decision_reason, "
            "record_hash, row_version) SELECT 'forged.csv', sha256, content, product_code, "
            "lot_count, state, staged_by, staged_at, decided_by, decided_name, decided_at, "
            "decision_reason, record_hash, row_version FROM importbatch WHERE state = 'approved'"
        ],
        r"^import \d+: exists but no audit event created it",
    ),
    "the site time zone deleted (times shown in another zone)": (
        ["DELETE FROM sitesetting"],
        rf"^site setting site_timezone: the audit trail created it {EVENT} but it no longer",
    ),
    "a rejected import reopened": (
        ["UPDATE importbatch SET state = 'staged' WHERE state = 'rejected'"],
        rf'^import \d+: state is "staged" but the audit trail recorded "rejected" {EVENT}',
    ),
    "an import's approver": (
        ["UPDATE importbatch SET decided_by = 'qa' WHERE state = 'approved'"],
        rf'^import \d+: decided_by is "qa" but the audit trail recorded "qa2" {EVENT}',
    ),
    "a staged file's content": (
        ["UPDATE importbatch SET content = content || 'x'"],
        rf"^import \d+: content does not hash to the sha256 [0-9a-f]+\.\.\. import.staged "
        rf"recorded {EVENT}",
    ),
    "an imported lot unlinked from its import": (
        ["UPDATE lot SET import_pk = NULL WHERE historical"],
        rf"^lot BH002-25-0001: import_pk is null but the audit trail recorded \d+ {EVENT}",
    ),
    "a session forged for QA": (
        [
            "INSERT INTO user_session (token_sha256, username, kind, host, opened_at, "
            f"last_seen_at) SELECT {_OTHER_TOKEN}, 'qa', kind, host, opened_at, "
            "last_seen_at FROM user_session WHERE closed_at IS NULL"
        ],
        r"^session \d+: exists but no audit event created it",
    ),
    "a session's token swapped": (
        [f"UPDATE user_session SET token_sha256 = {_OTHER_TOKEN} WHERE closed_at IS NULL"],
        rf'^session \d+: token_sha256 is "ab[0-9a-f]+" but the audit trail recorded "[0-9a-f]+" '
        rf"{EVENT}",
    ),
    "a closed session reopened": (
        ["UPDATE user_session SET closed_at = NULL, close_reason = NULL"],
        rf"^session \d+: closed_at is null but the audit trail recorded \"[^\"]+\" {EVENT}",
    ),
    "password history deleted (an old password is allowed again)": (
        ["DELETE FROM password_history"],
        rf"^password history tech2@\S+: the audit trail created it {EVENT} but it no longer",
    ),
    "a lot just registered marked released": (
        ["UPDATE lot SET state = 'released' WHERE state = 'registered'"],
        rf'^lot \S+: state is "released" but the audit trail recorded "registered" {EVENT}',
    ),
    "a lot just registered made historical (out of the success rate)": (
        ["UPDATE lot SET historical = true WHERE state = 'registered'"],
        rf"^lot \S+: historical is (1|true) but the audit trail recorded false {EVENT}",
    ),
    "a lot just registered given a termination cause": (
        ["UPDATE lot SET termination_cause = 'manufacturing' WHERE state = 'registered'"],
        rf'^lot \S+: termination_cause is "manufacturing" but the audit trail recorded null'
        rf" {EVENT}",
    ),
    "an imported harvest given a reason for harvesting out of the window": (
        [
            "UPDATE harvest SET window_reason = 'approved by phone' WHERE lot_pk = "
            "(SELECT id FROM lot WHERE lot_number = 'BH002-25-0001')"
        ],
        rf'^harvest \d+: window_reason is "approved by phone" but the audit trail recorded null'
        rf" {EVENT}",
    ),
    "a failing sterility result marked superseded (it drops out of review and the COA)": (
        [
            "UPDATE releaseresult SET superseded_by_id = id WHERE id = "
            "(SELECT max(id) FROM releaseresult WHERE test_code = 'STER')"
        ],
        rf'^result \d+: superseded_by_id is "\d+" but the audit trail recorded null {EVENT}',
    ),
    "a pending result's place swapped with the value that replaced it": (
        [
            "UPDATE releaseresult SET supersedes_id = NULL, superseded_by_id = (SELECT min(id) "
            "FROM releaseresult WHERE test_code = 'STER') WHERE id = (SELECT max(id) FROM "
            "releaseresult WHERE test_code = 'STER')",
            "UPDATE releaseresult SET superseded_by_id = NULL, supersedes_id = (SELECT max(id) "
            "FROM releaseresult WHERE test_code = 'STER') WHERE id = (SELECT min(id) FROM "
            "releaseresult WHERE test_code = 'STER')",
        ],
        rf"^result \d+: (supersedes_id|superseded_by_id) is \S+ but the audit trail recorded "
        rf"\S+ {EVENT}",
    ),
    "a result corrected after the release no longer marked late (the COA stops saying so)": (
        [
            "UPDATE releaseresult SET after_disposition = false WHERE test_code = 'VIAB' "
            "AND correction_reason IS NOT NULL"
        ],
        rf"^result \d+: after_disposition is (0|false) but the audit trail recorded true {EVENT}",
    ),
    "an imported result marked entered after the disposition": (
        [
            "UPDATE releaseresult SET after_disposition = true WHERE lot_pk = "
            "(SELECT id FROM lot WHERE lot_number = 'BH002-25-0001')"
        ],
        rf"^result \d+: after_disposition is (1|true) but the audit trail recorded false {EVENT}",
    ),
    "password history rewritten": (
        ["UPDATE password_history SET password_hash = 'x'"],
        r'^password history tech2@\S+: password_hash is "[0-9a-f]{64}" but the audit trail '
        r"recorded",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_named_with_record_field_and_event(db, actors, scene, case):
    statements, pattern = CASES[case]
    for s in statements:
        sql(db, s)
    r = verify(db, actors["qa"])
    assert not r.ok and r.first_bad_seq is None, r.problem  # the chain is whole: records differ
    assert any(re.search(pattern, p) for p in r.record_problems), r.record_problems


def test_the_demo_database_verifies(db):
    """`mfg tui --demo`'s seed: every record it writes is what the trail says (all its lots)."""
    from mfg import demo
    from mfg.domain.permissions import Role
    from mfg.services.uow import Actor

    demo.seed_demo(db, now=NOW)
    r = verify(db, Actor("qa", "Quinn Quality", Role.QA))
    assert r.ok, (r.problem, r.record_problems)
    assert r.records_checked > 100


def test_every_compared_column_of_every_record_has_a_recorded_value(db, actors, scene):
    """No column goes unchecked because the event that made a record did not name it (an
    imported result's after_disposition, a registered lot's state and 'historical' did): on a
    database with every kind of record, each rule of each row expects a value from the trail."""
    from mfg import audit
    from mfg.recordcheck import SKIP, expected
    from mfg.recordrows import _key, _load
    from mfg.recordrules import Check, Ev, Exempt
    from mfg.records import RECORDS
    from mfg.trailfold import fold

    with db.engine.connect() as c:
        trail = fold(audit.event_batches(c))
        t = _load(c)
    unchecked = set()
    for r in RECORDS:
        if r.exempt_why or r.per_event or not r.entity:
            continue
        for row in t.rows[r.table]:
            rec = trail.records.get((r.entity, _key(r, row, t)))
            if rec is None or rec.created is None:
                continue
            for column, rule in r.columns.items():
                if isinstance(rule, Exempt | Ev | Check):
                    continue
                if expected(rule, rec, row, t) is SKIP:
                    unchecked.add(f"{r.table}.{column} ({rec.created[3]})")
    assert not unchecked, sorted(unchecked)


CUSTODY_CASES = {
    "the infusion's details emptied (subject, overrun)": (
        "UPDATE custodyevent SET details = '{}' WHERE action = 'infuse'",
        r"details\.\w+ is missing but the audit trail recorded",
    ),
    "the overrun flag removed from an infusion": (
        "UPDATE custodyevent SET details = replace(details, '\"infusion_overrun\": false, ', '') "
        "WHERE action = 'infuse'",
        r"details\.infusion_overrun is missing but the audit trail recorded false",
    ),
    "a discard's reason removed": (
        "UPDATE custodyevent SET details = '{}' WHERE action = 'discard'",
        r'details\.reason is missing but the audit trail recorded "dropped"',
    ),
    "a dose bag deleted with its custody rows (out of custody and reconciliation)": (
        "DELETE FROM custodyevent WHERE bag_pk = (SELECT max(id) FROM dosebag); "
        "DELETE FROM dosebag WHERE id = (SELECT max(id) FROM dosebag)",
        r"^dose bag \S+/B\d+: harvest \d+ made it \(event \d+\) but it no longer exists",
    ),
    "every bag of the lot deleted": (
        "DELETE FROM custodyevent; DELETE FROM dosebag",
        r"^dose bag \S+/B1: harvest \d+ made it \(event \d+\) but it no longer exists",
    ),
    "a bag renumbered 0": (
        "UPDATE dosebag SET bag_no = 0 WHERE id = (SELECT max(id) FROM dosebag)",
        r"^dose bag \S+/B0: no harvest makes a bag 0 \(harvest \d+ made bags 1 to \d+\)",
    ),
    "details made a list": (
        "UPDATE custodyevent SET details = '[]' WHERE action = 'infuse'",
        r"details are \[\], not the JSON object CellTrail wrote",
    ),
}


@pytest.mark.parametrize("case", sorted(CUSTODY_CASES))
def test_custody_details_tampering_is_named(db, actors, case):
    """The bedside record: a bag issued, thawed and infused, another discarded; its custody
    rows' details emptied or cut in SQL verified clean (only keys present were compared), and
    so did bags deleted or renumbered before anything happened to them."""
    from mfg.services import custody

    tech = actors["tech"]
    _lot, bags = released_with_bags(db, actors, decision="release")
    custody.issue_bag(bags[0], db=db, actor=tech, now=NOW)
    custody.thaw_bag(bags[0], db=db, actor=tech, now=NOW)
    custody.infuse_bag(bags[0], "S-001", db=db, actor=tech, now=NOW)
    custody.discard_bag(bags[1], "dropped", db=db, actor=tech, now=NOW)
    r = verify(db, actors["qa"])
    assert r.ok, (r.problem, r.record_problems)
    statements, pattern = CUSTODY_CASES[case]
    for statement in statements.split("; "):
        sql(db, statement)
    r = verify(db, actors["qa"])
    assert not r.ok and any(re.search(pattern, p) for p in r.record_problems), r.record_problems
