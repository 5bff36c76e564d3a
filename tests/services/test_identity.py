"""One canonical identity (issue 10): subject ids, lot numbers, COI codes and user names compare
in one form everywhere; lookalikes and inputs a database would choke on are refused by the
rules, on SQLite and PostgreSQL alike, with nothing personal in any message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from mfg.domain.custody import Location
from mfg.errors import CellTrailError, RuleViolation
from mfg.services import board, custody, lookup, lots, subjects, users
from mfg.services import labels as label_svc
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, Subject, User
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support import world
from tests.support.constants import NOW, PASSWORD


def n(db: Database, table: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def add(db: Database, actor: Actor, subject_id: str) -> subjects.SubjectView:
    return world.subject(db, actor, subject_id)


def refused(db: Database, rule: str, fn, *args, **kw) -> CellTrailError:  # type: ignore[no-untyped-def]
    before = (n(db, Subject), n(db, User), n(db, AuditEvent))
    with pytest.raises(CellTrailError) as e:
        fn(*args, **kw)
    assert e.value.rule == rule, e.value
    assert (n(db, Subject), n(db, User), n(db, AuditEvent)) == before
    for personal in ("AB", "1988"):  # the builders' initials and year of birth
        assert personal not in str(e.value)
    return e.value


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("s-003", "subject-exists"),  # one letter case: the same subject
        ("S-0O3", "subject-lookalike"),  # O for 0
        ("S003", "subject-lookalike"),  # separators dropped
        ("S-03", "subject-lookalike"),  # a leading zero fewer: the same number to a person
        ("5-003", "subject-lookalike"),  # 5 for S
        ("S-900\n", "id-control-character"),  # prints exactly as S-900
        (" S-900", "id-surrounding-space"),
        ("S-9\u200b00", "id-control-character"),  # zero-width space
        ("S-9\x0000", "id-control-character"),  # NUL
        ("S" * 40 + "\n", "id-too-long"),  # crashed PostgreSQL (exit 3, SQL parameters shown)
        ("S" * 41, "id-too-long"),
        ("S\u00e9-1", "subject-id-format"),
    ],
)
def test_subject_ids_compare_in_one_canonical_form(db, actors, typed, rule):
    add(db, actors["tech"], "S-003")
    e = refused(db, rule, add, db, actors["tech"], typed)
    if rule == "subject-lookalike":
        assert "S-003" in e.message  # names the existing record


def test_lookups_use_the_canonical_form(db, actors):
    add(db, actors["tech"], "s-010")
    assert subjects.show_subject("S-010", db=db, actor=actors["qa"]).subject_id == "S-010"
    assert subjects.show_subject("s-010", db=db, actor=actors["qa"]).subject_id == "S-010"
    with pytest.raises(RuleViolation) as e:
        subjects.show_subject("S-010\n", db=db, actor=actors["qa"])
    assert e.value.rule == "id-control-character"


def test_bedside_check_refuses_another_patients_bag_and_accepts_the_same_in_any_case(db, actors):
    tech = actors["tech"]
    lot = harvested(db, actors, "S-001")
    enter(db, actors, lot, PASSING)
    sign(db, actors, lot, "release")
    add(db, tech, "S-002")
    world.approve_label_layouts(db, NOW)
    (p1, p2, *_) = label_svc.print_labels(
        label_svc.PrintLabels(lot, "dose-bag"), db=db, actor=tech, now=NOW
    ).payloads
    for p in (p1, p2):
        custody.store_bag(p, Location("T1", "R1", "B1", "A1"), db=db, actor=tech, now=NOW)
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(p1, db=db, actor=tech, now=NOW, subject_id="S-002")
    assert e.value.rule == "wrong-subject"
    with pytest.raises(RuleViolation) as e:
        custody.issue_bag(p1, db=db, actor=tech, now=NOW, subject_id="S-001\n")
    assert e.value.rule == "id-control-character"
    custody.issue_bag(p1, db=db, actor=tech, now=NOW, subject_id="s-001")
    custody.thaw_bag(p1, db=db, actor=tech, now=NOW)
    with pytest.raises(RuleViolation) as e:
        custody.infuse_bag(p1, "S-002", db=db, actor=tech, now=NOW)
    assert e.value.rule == "wrong-subject"
    assert custody.infuse_bag(p1, "s-001", db=db, actor=tech, now=NOW).state == "infused"
    with pytest.raises(RuleViolation) as e:
        label_svc.scan(p2, db=db, actor=tech, expect_subject="S-002")
    assert e.value.rule == "wrong-subject"
    assert label_svc.scan(p2, db=db, actor=tech, expect_subject="s-001", expect_lot=lot.lower())


def test_search_and_find_use_the_canonical_form(db, actors):
    tech = actors["tech"]
    lv, _ = world.harvested_lot(db, tech, "S-020")
    rows = board.board(db=db, actor=tech, now=NOW, search="s-020", active_only=False).rows
    assert [r.lot_number for r in rows] == [lv.lot_number]
    assert board.board(db=db, actor=tech, now=NOW, search="S_020", active_only=False).rows == ()
    assert lookup.find_lot(lv.lot_number.lower(), db=db, actor=tech) is not None
    assert lookup.find_lot(lv.coi_eye_readable.lower(), db=db, actor=tech) is not None
    with pytest.raises(RuleViolation):
        lookup.find_lot(lv.lot_number + "\n", db=db, actor=tech)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("qa\n", "id-control-character"),
        ("QA", "username-taken"),
        ("q\u200ba", "id-control-character"),
        ("qa.", "username-lookalike"),
        ("x" * 33, "id-too-long"),
    ],
)
def test_user_names_compare_in_one_canonical_form(db, actors, name, rule):
    refused(
        db,
        rule,
        users.add_user,
        db,
        actor=actors["admin"],
        username=name,
        full_name="Quentin A",
        role="qa",
        password=PASSWORD,
        now=NOW,
    )


def test_login_uses_the_canonical_user_name(db, actors):
    assert users.login(db, "QA", PASSWORD, now=NOW).username == "qa"
    with pytest.raises(RuleViolation) as e:
        users.login(db, "qa\n", PASSWORD, now=NOW)
    assert e.value.rule == "id-control-character"


def test_cli_refuses_a_long_id_with_a_newline_without_personal_data(
    db, actors, tmp_path: Path, cli_clock
):
    """On PostgreSQL this crashed (exit 3) and printed the SQL parameters, initials and date of
    birth included, to the terminal and the error log."""
    from mfg.cli import app

    url = db.engine.url.render_as_string(hide_password=False)
    home = tmp_path / "home"
    env = {"MFG_HOME": str(home), "MFG_PASSWORD": PASSWORD, "MFG_USER": "tech"}
    args = ["subject", "add", "S" * 40 + "\n", "--site", "BJ01", "--indication", "SLE"]
    args += ["--weight-kg", "60", "--dose-level", "DL1", "--initials", "QZ"]
    args += ["--dob", "1971-03-04", "--db", url]
    r = CliRunner().invoke(app, args, env=env)
    assert r.exit_code == 1, r.output
    assert "id-too-long" in r.stderr
    log = home / "logs" / "errors.log"
    for text in (r.output, r.stderr, log.read_text() if log.exists() else ""):
        assert "QZ" not in text and "1971" not in text
    assert n(db, Subject) == 0


def test_engine_hides_sql_parameters(db, actors):
    """Whatever fails inside the database, its message carries no parameter values."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as e, db.engine.begin() as conn:
        conn.execute(text("SELECT no_such_column FROM subject WHERE site = :p"), {"p": "QZ-1971"})
    assert "QZ-1971" not in str(e.value)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("bj01", "BJ01"), ("  BJ01 ", "BJ01"), ("sh  02", "SH 02"), ("BJ02", "BJ02")],
)
def test_site_codes_are_stored_in_one_canonical_form(db, actors, typed, stored):
    add(db, actors["tech"], "S-001")  # at site BJ01
    v = world.subject(db, actors["tech"], "S-002", site=typed)
    assert v.site == stored
    made = world.lot(db, actors["tech"], "S-002").lot_number
    found = lots.list_lots(db=db, actor=actors["qa"], site=typed.lower())  # as typed, any case
    assert [x.lot_number for x in found] == [made]


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("BJO1", "site-lookalike"),  # O for 0: one site under two codes splits the report's strata
        ("BJ 01", "site-lookalike"),
        ("B-J-1", "site-lookalike"),
        ("8J01", "site-lookalike"),
        ("BJ01\x1b[2J", "id-control-character"),
        ("-BJ", "site-format"),
        ("", "id-required"),
    ],
)
def test_a_site_code_that_looks_like_another_is_refused(db, actors, typed, rule):
    add(db, actors["tech"], "S-001")  # at site BJ01
    e = refused(db, rule, world.subject, db, actors["tech"], "S-002", site=typed)
    assert e.field == "site"
    if rule == "site-lookalike":
        assert "'BJ01'" in e.message


def test_a_site_stored_before_codes_were_canonical_stays_one_site(db, actors):
    """A subject at ``bj01`` (written before; here in SQL): BJ01 is that site, not a new one."""
    add(db, actors["tech"], "S-001")
    with db.engine.begin() as c:
        c.execute(Subject.__table__.update().values(site="bj01"))  # type: ignore[attr-defined]
    assert world.subject(db, actors["tech"], "S-002", site="BJ01").site == "bj01"
