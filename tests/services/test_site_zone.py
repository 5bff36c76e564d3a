"""The site's clock belongs to the site (issue 10): the time zone is a database setting only an
admin changes, audited; a user's MFG_SITE_TZ cannot move "today"."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from sqlmodel import func, select

from mfg.errors import NotPermitted, RuleViolation
from mfg.services import counts, site
from mfg.services.uow import Database
from mfg.store.tables import AuditEvent, CellCount
from tests.support import world

NOON_UTC = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # already 26 November in Kiritimati (+14)


def as_user_with_env_zone(db: Database, zone: str) -> Database:
    """The same database opened by a process whose environment says MFG_SITE_TZ=zone."""
    return Database(engine=db.engine, settings=dataclasses.replace(db.settings, site_timezone=zone))


def test_env_zone_cannot_move_today(db, actors):
    site.set_zone("UTC", "site in London", db=db, actor=actors["admin"], now=NOON_UTC)
    tech = actors["tech"]
    world.subject(db, tech, "S-001")
    lv = world.lot(db, tech, "S-001", day0=date(2026, 11, 20), now=NOON_UTC)
    moved = as_user_with_env_zone(db, "Pacific/Kiritimati")
    assert moved.today(NOON_UTC) == date(2026, 11, 25)
    with pytest.raises(RuleViolation) as e:
        counts.record_count(
            counts.RecordCount(lv.lot_number, 200_000_000, 190_000_000, date(2026, 11, 26)),
            db=moved,
            actor=tech,
            now=NOON_UTC,
        )
    assert e.value.rule == "date-in-future"
    with moved.read() as s:
        assert s.exec(select(func.count()).select_from(CellCount)).one() == 0


def test_only_an_admin_changes_the_zone_and_it_is_audited(db, actors):
    for who in ("tech", "qa"):
        with pytest.raises(NotPermitted):
            site.set_zone("UTC", "x", db=db, actor=actors[who], now=NOON_UTC)
    with pytest.raises(RuleViolation) as e:
        site.set_zone("Mars/Olympus", "x", db=db, actor=actors["admin"], now=NOON_UTC)
    assert e.value.rule == "unknown-time-zone"
    with pytest.raises(RuleViolation) as e:
        site.set_zone("UTC", " ", db=db, actor=actors["admin"], now=NOON_UTC)
    assert e.value.rule == "reason-required"
    v = site.set_zone("Europe/Berlin", "moved", db=db, actor=actors["admin"], now=NOON_UTC)
    assert (v.zone, v.changed_by) == ("Europe/Berlin", "admin")
    assert db.today(datetime(2026, 11, 25, 23, 30, tzinfo=UTC)) == date(2026, 11, 26)
    with db.read() as s:
        ev = s.exec(select(AuditEvent).where(AuditEvent.action == "site.timezone_changed")).one()
    assert "Europe/Berlin" in ev.new_values and ev.reason == "moved"


@pytest.mark.parametrize(
    ("zone", "says"),
    [
        ("Factory", "is not an IANA time zone (e.g."),
        ("localtime", "is not an IANA time zone (e.g."),  # would follow each server's clock
        ("posixrules", "is not an IANA time zone (e.g."),
        ("europe/berlin", "did you mean Europe/Berlin?"),
        ("Europe/Berlin ", "starts or ends with a space"),
        ("UTC\x1b[2J", "'UTC\\x1b[2J' is not an IANA time zone"),
    ],
)
def test_a_zone_that_is_not_a_place_is_refused_and_nothing_is_written(db, actors, zone, says):
    with db.read() as s:
        before = s.exec(select(func.count()).select_from(AuditEvent)).one()
    with pytest.raises(RuleViolation) as e:
        site.set_zone(zone, "moved", db=db, actor=actors["admin"], now=NOON_UTC)
    assert (e.value.field, e.value.rule) == ("zone", "unknown-time-zone")
    assert says in e.value.message, e.value.message
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(AuditEvent)).one() == before
    assert site.show_zone(db=db, actor=actors["admin"]).zone != zone
