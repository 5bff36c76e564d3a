"""Scanning ISBT 128 (Data Matrix compound message, a lone CoI) and therapy events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.domain import isbt128
from mfg.domain.ids import coi_from_content
from mfg.errors import NotPermitted, RuleViolation
from mfg.services import custody, therapy
from mfg.services import labels as label_svc
from mfg.store.tables import AuditEvent, TherapyEvent
from tests.labels.helpers import harvested_with_labels, n_rows, set_lot_state
from tests.support import world
from tests.support.constants import NOW


def _messages(db, lot: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.isbt128 or "" for p in label_svc.label_history(lot, db=db, actor=_qa(db))]


def _qa(db):  # type: ignore[no-untyped-def]
    from mfg.domain.permissions import Role
    from mfg.services.uow import Actor

    return Actor("qa", "Quinn Quality", Role.QA)


def test_the_data_matrix_of_each_bag_resolves_to_that_bag(db, actors):
    tech = actors["tech"]
    lot, payloads = harvested_with_labels(db, tech)
    messages = _messages(db, lot)
    assert len(messages) == len(payloads) == 4
    for n, msg in enumerate(messages, 1):
        parts = isbt128.parse(msg)
        assert [p.spec.number for p in parts] == ["040", "003", "005", "035"]
        assert parts[1].fields["division"] == isbt128.division_code(n)
        v = label_svc.scan(msg, db=db, actor=tech, expect_lot=lot)
        assert (v.kind, v.bag_no, v.lot_number, v.object_ref) == ("dose-bag", n, lot, f"{lot}/B{n}")
        assert "printed by CellTrail" in v.checks and v.coi == parts[0].content


def test_custody_accepts_the_data_matrix(db, actors):
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    set_lot_state(db, lot, "released")
    from mfg.domain.custody import parse_location

    msg = _messages(db, lot)[0]
    v = custody.store_bag(
        msg, parse_location("LN2-1", "R1", "B1", "A1"), db=db, actor=tech, now=NOW
    )
    assert (v.bag_no, v.state) == (1, "stored")


def test_a_lone_coi_names_the_lot_until_the_event_has_two(db, actors):
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    coi = coi_from_content(_messages(db, lot)[0][9:24])
    v = label_svc.scan(coi.structure, db=db, actor=tech)
    assert (v.lot_number, v.kind, v.bag_no, v.first_printed_at) == (lot, "coi", None, None)
    assert v.warnings  # says it names the event, not a container
    second = world.lot(db, tech)  # a re-manufacture: the same therapy event, the same CoI
    assert second.coi == coi.content
    with pytest.raises(RuleViolation) as e:
        label_svc.scan(coi.structure, db=db, actor=tech)
    assert e.value.rule == "coi-several-lots" and second.lot_number in e.value.message
    # the compound message still names exactly its lot (035)
    assert label_svc.scan(_messages(db, lot)[0], db=db, actor=tech).lot_number == lot


def test_foreign_or_altered_isbt_strings_are_refused(db, actors):
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    msg = _messages(db, lot)[0]
    cases = [
        (msg.replace("=+04000", "=+05000"), "count"),
        (msg[:-1], "length"),
        (msg.replace("&/CHA9990", "&/CHA9991"), "unknown-coi"),
        (msg.replace("A0&>", "Z0&>"), "payload-unknown-bag"),  # bag 26 of a 4-bag lot
        (msg[:34] + "&>0100012359" + msg[46:], "label-never-printed"),  # another expiry
        (msg.replace("BH002260001", "BH002260009"), "coi-lot-mismatch"),
        ("=<YA0051A0", "no-coi"),
    ]
    for text, rule in cases:
        with pytest.raises(RuleViolation) as e:
            label_svc.scan(text, db=db, actor=tech)
        assert e.value.rule == rule, text


def test_a_new_therapy_event_gives_later_lots_a_new_coi(db, actors):
    tech, qa = actors["tech"], actors["qa"]
    world.subject(db, tech)
    first = world.lot(db, tech)
    before = (n_rows(db, TherapyEvent), n_rows(db, AuditEvent))
    with pytest.raises(NotPermitted):
        therapy.start_event("S-001", "retreatment", db=db, actor=tech, now=NOW)
    with pytest.raises(RuleViolation) as e:
        therapy.start_event("S-001", "  ", db=db, actor=qa, now=NOW)
    assert e.value.rule == "reason-required"
    assert (n_rows(db, TherapyEvent), n_rows(db, AuditEvent)) == before
    ev = therapy.start_event("S-001", "retreatment after relapse", db=db, actor=qa, now=NOW)
    assert ev.coi != first.coi and ev.lots == ()
    later = world.lot(db, tech, now=NOW + timedelta(minutes=1))
    assert later.coi == ev.coi
    events = therapy.list_events("S-001", db=db, actor=qa)
    assert [(e.coi, e.lots) for e in events] == [
        (first.coi, (first.lot_number,)),
        (ev.coi, (later.lot_number,)),
    ]


def test_letter_case_of_a_scan(db, actors):
    """A lone CoI is an identifier: any letter case is its canonical form (as typed ids are). A
    compound message is case-sensitive (a division code is upper + lower case): a lower-case
    scan (Caps Lock, a scanner set to lower case) is refused naming 040 and the rule, no row."""
    tech = actors["tech"]
    lot, _ = harvested_with_labels(db, tech)
    msg = _messages(db, lot)[0]
    coi = coi_from_content(msg[9:24])
    for typed in (coi.structure.lower(), coi.content.lower(), coi.eye_readable.lower()):
        v = label_svc.scan(typed, db=db, actor=tech)
        assert (v.lot_number, v.kind, v.coi) == (lot, "coi", coi.content), typed
    before = n_rows(db, AuditEvent)
    with pytest.raises(RuleViolation) as e:
        label_svc.scan(msg.lower(), db=db, actor=tech)
    assert (e.value.field, e.value.rule) == ("isbt128", "case")
    assert "040 Chain of Identity Identifier" in e.value.message
    assert n_rows(db, AuditEvent) == before


@pytest.mark.parametrize("pdc, ctype", [("ZZ", "1"), ("", "1"), ("YA0031", "1"), ("YA003", "")])
def test_a_product_code_of_the_wrong_length_is_refused_not_an_index_error(pdc, ctype):
    with pytest.raises(RuleViolation) as e:
        isbt128.product_code(pdc, ctype)
    assert (e.value.field, e.value.rule) == ("isbt128", "length")
