"""Record-versus-trail check: every current record must match what its audit events recorded.

The hash chain (``mfg.audit``) proves the trail itself was not edited. This module closes the other
door: a row changed, inserted or deleted directly in SQL, without an audit event, shows here,
naming the record and the field (21 CFR 11.10(a), (e); EU GMP Annex 11 section 9).

For each checked entity the trail is folded, oldest event first, into the newest value of every
field it recorded; a correction event (``new`` carries ``replaced_by``) also gives the
replacement record its values and marks the original as superseded. Then each row is compared
with the folded values: only fields the trail recorded are compared, so derived or cosmetic
columns never cause false alarms. A row the trail never mentions was inserted outside CellTrail;
a record the trail created but that no longer exists was deleted outside CellTrail.

Entities are described declaratively in ``SPECS``; add one when a new audited table lands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, SQLModel, col, select

from mfg import audit
from mfg.store.tables import (
    AuditEvent,
    CellCount,
    Deviation,
    Disposition,
    DoseBag,
    Harvest,
    LabelPrint,
    Lot,
    ReleaseResult,
    Subject,
    User,
)

MISSING = object()


@dataclass(frozen=True)
class EntitySpec:
    """How one audited entity maps between its audit events and its table."""

    entity: str  # AuditEvent.entity
    table: type[SQLModel]
    key: str  # column whose value is AuditEvent.entity_id
    fields: dict[str, str]  # key in the event's ``new`` -> column
    # an event with one of these actions creates the record (needed to call a row "deleted")
    creates: frozenset[str] = frozenset()
    # extra per-event folding: (event, folded state of this record) -> None
    extra: Callable[[AuditEvent, dict[str, Any]], None] | None = None
    label: str = ""
    replacement_keys: tuple[str, ...] = ("replaced_by",)
    # compare superseded_by_id with the corrections in the trail (off where a service
    # supersedes without naming the replacement in the event, e.g. a pending result)
    check_superseded: bool = True
    # rows keyed as the events name them, when that is not a single column (dose bags)
    rows: Callable[[Session], dict[str, Any]] | None = None
    # records created without an event of their own (dose bags, made by the harvest): no
    # "inserted outside" check; a record without events must still hold these values
    untracked_defaults: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.label or self.entity


def _lot_extra(e: AuditEvent, state: dict[str, Any]) -> None:
    if e.action == "lot.terminated" and e.reason is not None:
        state["termination_reason"] = e.reason


def _bag_rows(session: Session) -> dict[str, Any]:
    lots = {lot.id: lot.lot_number for lot in session.exec(select(Lot)).all()}
    return {f"{lots.get(b.lot_pk)}/B{b.bag_no}": b for b in session.exec(select(DoseBag)).all()}


def _user_extra(e: AuditEvent, state: dict[str, Any]) -> None:
    if e.action == "user.locked":
        state["locked"] = True
    elif e.action == "user.added":
        state.setdefault("locked", False)
        state.setdefault("active", True)


SPECS: list[EntitySpec] = [
    EntitySpec(
        "lot",
        Lot,
        "lot_number",
        {
            "lot_number": "lot_number",
            "coi": "coi",
            "source": "source",
            "apheresis_on": "apheresis_on",
            "thaw_on": "thaw_on",
            "day0": "day0",
            "product": "product_code",
            "spec_version": "spec_version",
            "state": "state",
            "termination_cause": "termination_cause",
            "cause": "termination_cause",
        },
        creates=frozenset({"lot.registered", "lot.imported"}),
        extra=_lot_extra,
    ),
    EntitySpec(
        "subject",
        Subject,
        "subject_id",
        {
            "subject_id": "subject_id",
            "site": "site",
            "indication": "indication",
            "weight_kg": "weight_kg",
            "weight_on": "weight_on",
            "dose_level": "dose_level",
            "initials": "initials",
            "dob": "dob",
        },
        creates=frozenset({"subject.added", "subject.imported"}),
    ),
    EntitySpec(
        "count",
        CellCount,
        "id",
        {
            "day": "expansion_day",
            "measured_on": "measured_on",
            "total_cells": "total_cells",
            "viable_cells": "viable_cells",
            "volume_ml": "volume_ml",
            "method": "method",
        },
        creates=frozenset({"count.recorded", "count.imported"}),
    ),
    EntitySpec(
        "harvest",
        Harvest,
        "id",
        {
            "harvested_on": "harvested_on",
            "day": "harvest_day",
            "total_viable_cells": "total_viable_cells",
            "car_pct": "car_pct",
            "bags": "bag_count",
            "bag_volume_ml": "bag_volume_ml",
            "cryopreserved_on": "cryopreserved_on",
            "expires_on": "expires_on",
        },
        creates=frozenset({"harvest.recorded", "harvest.imported"}),
    ),
    EntitySpec(
        "release_result",
        ReleaseResult,
        "id",
        {
            "test_code": "test_code",
            "value": "value_text",
            "value_num": "value_num",
            "qualifier": "qualifier",
            "unit": "unit",
            "evaluation": "evaluation",
            "tested_on": "tested_on",
            "method_ref": "method_ref",
            "verified_by": "verified_by",
        },
        creates=frozenset({"result.added", "result.imported"}),
        label="result",
        check_superseded=False,
    ),
    EntitySpec(
        "deviation",
        Deviation,
        "number",
        {
            "number": "number",
            "kind": "kind",
            "classification": "classification",
            "description": "description",
        },
        creates=frozenset({"deviation.opened"}),
    ),
    EntitySpec(
        "disposition",
        Disposition,
        "id",
        {"decision": "decision", "exception": "exception"},
        creates=frozenset({"lot.disposition"}),
        check_superseded=False,
    ),
    EntitySpec(
        "labelprint",
        LabelPrint,
        "id",
        {"kind": "kind", "object": "object_ref", "payload": "payload"},
        creates=frozenset({"label.printed", "label.reprinted"}),
        label="label print",
        check_superseded=False,
    ),
    EntitySpec(
        "dosebag",
        DoseBag,
        "id",
        {"state": "state", "location": "location"},
        label="dose bag",
        check_superseded=False,
        rows=_bag_rows,
        untracked_defaults={"state": "created", "location": None},
    ),
    EntitySpec(
        "user",
        User,
        "username",
        {
            "username": "username",
            "full_name": "full_name",
            "role": "role",
            "active": "active",
            "locked": "locked",
        },
        creates=frozenset({"user.added"}),
        extra=_user_extra,
    ),
]


def register(spec: EntitySpec) -> None:
    """Add (or replace) the spec of an entity; modules of later features call this."""
    SPECS[:] = [s for s in SPECS if s.entity != spec.entity] + [spec]


@dataclass(frozen=True)
class RecordProblem:
    entity: str
    record: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entity} {self.record}: {self.problem}"


@dataclass
class _Folded:
    values: dict[str, Any] = field(default_factory=dict)
    created: bool = False
    superseded_by: Any = MISSING
    supersedes: Any = MISSING
    last_seq: int = 0


def _norm(value: Any) -> Any:
    """A column value as the trail stores it (JSON types)."""
    if isinstance(value, datetime):
        return audit.iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _same(stored: Any, recorded: Any) -> bool:
    a = _norm(stored)
    if isinstance(a, bool) or isinstance(recorded, bool):
        return (
            bool(a) == bool(recorded) if a is not None and recorded is not None else a is recorded
        )
    if isinstance(a, (int, float)) and isinstance(recorded, (int, float)):
        return float(a) == float(recorded)
    return bool(a == recorded)


def _show(value: Any) -> str:
    return json.dumps(_norm(value), ensure_ascii=False)


def fold(spec: EntitySpec, events: Iterable[AuditEvent]) -> dict[str, _Folded]:
    """The newest recorded values per record id of ``spec``'s entity."""
    out: dict[str, _Folded] = {}
    for e in events:
        if e.entity != spec.entity:
            continue
        rec = out.setdefault(e.entity_id, _Folded())
        rec.last_seq = e.seq
        if e.action in spec.creates:
            rec.created = True
        new = audit.decode(e.new_values)
        if isinstance(new, dict):
            replacement = next((new[k] for k in spec.replacement_keys if k in new), None)
            values = {k: v for k, v in new.items() if k in spec.fields}
            if replacement is not None:
                # A correction: the replacement record carries the new values.
                rec.superseded_by = replacement
                nxt = out.setdefault(str(replacement), _Folded())
                nxt.created = True
                nxt.supersedes = e.entity_id
                nxt.last_seq = e.seq
                for k, v in values.items():
                    nxt.values[spec.fields[k]] = v
            else:
                for k, v in values.items():
                    rec.values[spec.fields[k]] = v
        if spec.extra is not None:
            spec.extra(e, rec.values)
    return out


def _rows(session: Session, spec: EntitySpec) -> dict[str, Any]:
    if spec.rows is not None:
        return spec.rows(session)
    return {str(getattr(r, spec.key)): r for r in session.exec(select(spec.table)).all()}


def check_entity(
    session: Session, spec: EntitySpec, events: Iterable[AuditEvent] | None = None
) -> tuple[list[RecordProblem], int]:
    if events is None:  # only this entity's events, oldest first (memory: one entity at a time)
        events = session.exec(
            select(AuditEvent).where(AuditEvent.entity == spec.entity).order_by(col(AuditEvent.seq))
        ).all()
    folded = fold(spec, events)
    rows = _rows(session, spec)
    problems: list[RecordProblem] = []
    columns = {c.key for c in sa_inspect(spec.table).mapper.column_attrs}
    for key, row in sorted(rows.items(), key=lambda kv: _sort_key(kv[0])):
        rec = folded.get(key)
        if spec.untracked_defaults is not None:
            if rec is None:
                rec = _Folded(values=dict(spec.untracked_defaults), created=True)
            rec.created = True
        if rec is None or not rec.created:
            problems.append(
                RecordProblem(
                    spec.name,
                    key,
                    "exists but no audit event created it (inserted outside CellTrail)",
                )
            )
            continue
        for column, recorded in sorted(rec.values.items()):
            if column not in columns:
                continue
            stored = getattr(row, column)
            if not _same(stored, recorded):
                problems.append(
                    RecordProblem(
                        spec.name,
                        key,
                        f"{column} is {_show(stored)} but the audit trail recorded "
                        f"{_show(recorded)} (event {rec.last_seq}): changed outside CellTrail",
                    )
                )
        if spec.check_superseded and "superseded_by_id" in columns:
            want = None if rec.superseded_by is MISSING else rec.superseded_by
            got = getattr(row, "superseded_by_id", None)
            if (got is None) != (want is None) or (got is not None and str(got) != str(want)):
                problems.append(
                    RecordProblem(
                        spec.name,
                        key,
                        f"superseded_by_id is {_show(got)} but the audit trail recorded "
                        f"{_show(want)}: changed outside CellTrail",
                    )
                )
    for key, rec in sorted(folded.items(), key=lambda kv: _sort_key(kv[0])):
        if rec.created and key not in rows:
            problems.append(
                RecordProblem(
                    spec.name,
                    key,
                    f"the audit trail created it (event {rec.last_seq}) but it no longer "
                    "exists (deleted outside CellTrail)",
                )
            )
    return problems, len(rows)


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


def check_records(session: Session) -> tuple[list[RecordProblem], int]:
    """Every record of every entity in ``SPECS`` against the trail: (problems, records checked)."""
    problems: list[RecordProblem] = []
    checked = 0
    for spec in SPECS:
        p, n = check_entity(session, spec)
        session.expunge_all()  # keep memory to one entity's events and rows
        problems += p
        checked += n
    return problems, checked


# -- optimistic locking ----------------------------------------------------------------------


def last_change(session: Session, entity: str, entity_id: str | int) -> AuditEvent | None:
    """The newest audit event about one record (who changed it last, and when)."""
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()


def check_version(
    session: Session,
    entity: str,
    entity_id: str | int,
    *,
    expected: int | None,
    current: int,
    changed_by: str | None = None,
    changed_at: datetime | None = None,
) -> None:
    """Refuse an edit based on an older version of the record: ``Conflict`` "changed by X at T".

    Call it inside the write transaction (after the write lock), so that the compare and the
    write that follows are atomic. ``expected=None`` means the caller did not read a version.
    """
    from mfg.errors import Conflict

    if expected is None or expected == current:
        return
    if changed_by is None or changed_at is None:
        ev = last_change(session, entity, entity_id)
        if ev is not None:
            changed_by, changed_at = ev.username, ev.at
    who = changed_by or "someone else"
    when = f" at {audit.iso_utc(changed_at)[:19].replace('T', ' ')} UTC" if changed_at else ""
    raise Conflict(
        f"{entity} {entity_id} was changed by {who}{when} (now version {current}, you edited "
        f"version {expected}): reload it and enter your change again"
    )
