"""Writing an approved import: subjects, historical lots, harvests and results in bulk, each
record with its own audit event, inside the approver's write transaction (``importer``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlmodel import select

from mfg.domain import dose, ids
from mfg.domain.import_rows import ImportRow
from mfg.domain.specs import Product
from mfg.services import therapy
from mfg.services.import_events import CHUNK, AuditBatch, ResultJson
from mfg.services.lots import pin_spec
from mfg.services.uow import Tx
from mfg.store import bulk
from mfg.store.tables import Harvest, Lot, ReleaseResult, Subject, TherapyEvent


@dataclass(frozen=True)
class ImportResult:
    file: str
    sha256: str
    lots: int
    subjects_created: int
    subjects_matched: int
    results: int
    batch: int = 0
    lot_numbers: tuple[str, ...] = ()


def _inserted(
    session: Any,
    table: Any,
    rows: list[dict[str, Any]],
    key: tuple[str, ...],
    scope: str,
    fixed: dict[str, Any] | None = None,
    wrote: Callable[[int], None] | None = None,
) -> list[int]:
    """Insert ``rows`` (one executemany per chunk; ``fixed``: every row's values too; ``wrote``
    told each chunk's size once it is in) and return their ids, in the order given.

    No per-row round trip (RETURNING on SQLite runs row by row). Under the write lock nobody
    else inserts, and each new row's id is past every id before it (SQLite gives the largest
    rowid + 1; a PostgreSQL sequence counts up), so when the ids past the table's largest
    before the insert are one unbroken run as long as ``rows`` (``_dense_ids``: a count, a
    minimum and a maximum), they are the rows' ids in order. Otherwise the rows are read back
    by ``key`` (unique among the new rows) in that range of the primary key and, should a new
    row's id not lie past it (a PostgreSQL sequence set back by hand), by the values of
    ``scope`` they have. ``mfg audit verify`` compares every record with its event.
    """
    if not rows:
        return []
    conn = session.connection()
    before = conn.execute(select(func.max(table.c.id))).scalar_one() or 0
    for k in range(0, len(rows), CHUNK):
        chunk = rows[k : k + CHUNK]
        bulk.insert_rows(conn, table, chunk, fixed)
        if wrote is not None:
            wrote(len(chunk))
    dense = _dense_ids(conn, table, before, len(rows))
    if dense is not None:
        return dense
    cols = [table.c.id, *(table.c[c] for c in key)]
    found_ids = {
        tuple(found[1:]): found[0]
        for found in bulk.select_rows(conn, select(*cols).where(table.c.id > before))
    }
    if len(found_ids) != len(rows):
        wanted = sorted({r[scope] for r in rows})
        for k in range(0, len(wanted), 900):
            query = select(*cols).where(table.c[scope].in_(wanted[k : k + 900]))
            for found in session.execute(query):
                found_ids[tuple(found[1:])] = found[0]
    get = itemgetter(*key)
    if len(key) == 1:
        return [found_ids[(get(r),)] for r in rows]
    return [found_ids[get(r)] for r in rows]


def _dense_ids(conn: Any, table: Any, before: int, n: int) -> list[int] | None:
    """The ids past ``before`` when they are exactly ``n`` consecutive ones, else None."""
    pk = table.c.id
    count, low, high = conn.execute(
        select(func.count(), func.min(pk), func.max(pk)).where(pk > before)
    ).one()
    if count != n or low is None or high - low + 1 != n:
        return None
    return list(range(low, high + 1))


def _next_seq(session: Any, column: Any, prefix: str, start: int) -> int:
    last = session.exec(
        select(func.max(cast(func.substr(column, start, 6), Integer))).where(
            column.like(prefix + "%")
        )
    ).one()
    try:
        return int(last) + 1 if last else 1
    except ValueError:
        return 1


@dataclass
class _Job:
    """What the writing steps share: the transaction, the rows, the audit batch."""

    tx: Tx
    rows: list[ImportRow]
    product: Product
    origin: str
    batch_pk: int
    events: AuditBatch
    wrote: Callable[[int], None] | None = None  # records written (progress), chunk by chunk

    @property
    def who(self) -> str:
        return self.tx.actor.username if self.tx.actor else "system"


def _subjects(job: _Job, new: dict[str, ImportRow], existing: dict[str, Subject]) -> dict[str, int]:
    """New subjects (weight dated at the subject's first day 0 in the file): their pks."""
    first_day0: dict[str, date] = {}
    for r in job.rows:
        first_day0[r.subject_id] = min(first_day0.get(r.subject_id, r.day0), r.day0)
    values: list[dict[str, Any]] = [
        {
            "subject_id": sid,
            "site": r.site,
            "indication": r.indication,
            "weight_kg": r.weight_kg,
            "weight_on": first_day0[sid],
            "dose_level": r.dose_level,
            "initials": None,
            "dob": None,
            "created_at": job.tx.now,
            "row_version": 1,
            "weight_recorded_by": job.who,
        }
        for sid, r in new.items()
    ]
    pks = {sid: subj.id or 0 for sid, subj in existing.items()}
    table = Subject.__table__  # type: ignore[attr-defined]
    for pk, v in zip(
        _inserted(job.tx.session, table, values, ("subject_id",), "subject_id", None, job.wrote),
        values,
        strict=True,
    ):
        pks[v["subject_id"]] = pk
        job.events.add(
            "subject.imported",
            "subject",
            v["subject_id"],
            new={k: x for k, x in v.items() if k not in ("created_at", "row_version")}
            | {"file_row": new[v["subject_id"]].line},
            reason=f"imported from {job.origin}",
        )
    return pks


_Event = tuple[int, str]  # a therapy event's pk and CoI


def _current_events(job: _Job, subject_pks: list[int]) -> dict[int, _Event]:
    """The subjects' current (newest) therapy events, read in chunks, not one query a lot."""
    table = TherapyEvent.__table__  # type: ignore[attr-defined]
    found: dict[int, _Event] = {}
    for k in range(0, len(subject_pks), 900):
        query = (
            select(table.c.subject_pk, table.c.id, table.c.coi)
            .where(table.c.subject_pk.in_(subject_pks[k : k + 900]))
            .order_by(table.c.id)
        )
        for subject, pk, coi in job.tx.session.execute(query):
            found[subject] = (pk, coi)  # ascending ids: the newest wins
    return found


def _events(job: _Job, subject_pk: dict[str, int], fin: str) -> dict[int, _Event]:
    """The therapy event each subject's imported lots join: the subject's current one, else a
    new one (a new CoI: FIN + year of the subject's first day 0 in the file + sequence, as at
    registration), inserted in bulk and each audited in the batch."""
    first: dict[int, ImportRow] = {}
    for r in job.rows:
        first.setdefault(subject_pk[r.subject_id], r)
    events = _current_events(job, sorted(first))
    issuer = therapy.CoiIssuer(job.tx.session, fin)  # sequences read once, under the write lock
    reason = f"historical lot imported from {job.origin}"
    values: list[dict[str, Any]] = []
    owners: list[ImportRow] = []
    for pk, r in first.items():
        if pk not in events:
            coi = issuer.issue(r.day0.year).content
            values.append(
                {
                    "subject_pk": pk,
                    "coi": coi,
                    "reason": reason,
                    "started_by": job.who,
                    "started_at": job.tx.now,
                }
            )
            owners.append(r)
    table = TherapyEvent.__table__  # type: ignore[attr-defined]
    for new_pk, r, v in zip(
        _inserted(job.tx.session, table, values, ("coi",), "coi"), owners, values, strict=True
    ):
        events[v["subject_pk"]] = (new_pk, v["coi"])
        job.events.add(
            "therapy_event.started",
            "therapy_event",
            v["coi"],
            new={"subject_id": r.subject_id, "coi": v["coi"]},
            reason=reason,
        )
    return events


def _numbers(job: _Job, subject_pk: dict[str, int], fin: str) -> list[tuple[str, _Event]]:
    """Lot number (the file's when valid, else the next of the product's year of day 0) and the
    therapy event (the CoI) per row: the subject's, or a new one, as registration does it."""
    s, code = job.tx.session, job.product.code
    lot_seq: dict[str, int] = {}
    kept: dict[str, int] = {}
    for r in job.rows:
        if r.lot_number:
            prefix, _, seq = r.lot_number.rpartition("-")
            kept[prefix + "-"] = max(kept.get(prefix + "-", 0), int(seq))
    events = _events(job, subject_pk, fin)
    out: list[tuple[str, _Event]] = []
    for r in job.rows:
        yy = r.day0.year % 100
        if r.lot_number is None:
            prefix = f"{code}-{yy:02d}-"
            if prefix not in lot_seq:
                lot_seq[prefix] = max(
                    _next_seq(s, Lot.lot_number, prefix, len(prefix) + 1), kept.get(prefix, 0) + 1
                )
            r.lot_number = ids.lot_number(code, yy, lot_seq[prefix])
            lot_seq[prefix] += 1
        out.append((r.lot_number, events[subject_pk[r.subject_id]]))
    return out


def _lots(job: _Job, subject_pk: dict[str, int], fin: str) -> dict[str, int]:
    """The historical lots (never issuable: ``Lot.historical``): their pks by lot number."""
    p, now = job.product, job.tx.now
    values: list[dict[str, Any]] = [
        {
            "lot_number": number,
            "coi": event[1],
            "therapy_event_pk": event[0],
            "subject_pk": subject_pk[r.subject_id],
            "product_code": p.code,
            "spec_version": p.spec_version,
            "source": r.source,
            "apheresis_on": r.apheresis_on,
            "thaw_on": r.thaw_on,
            "day0": r.day0,
            "state": r.state,
            "termination_cause": r.termination_cause,
            "termination_reason": f"historical lot imported from {job.origin}"
            if r.termination_cause
            else None,
        }
        for r, (number, event) in zip(job.rows, _numbers(job, subject_pk, fin), strict=True)
    ]
    fixed = {
        "registered_at": now,
        "registered_by": job.who,
        "state_changed_at": now,
        "row_version": 1,
        "historical": True,
        "import_pk": job.batch_pk,
    }
    table = Lot.__table__  # type: ignore[attr-defined]
    pks: dict[str, int] = {}
    new_ids = _inserted(
        job.tx.session, table, values, ("lot_number",), "lot_number", fixed, job.wrote
    )
    for pk, r, v in zip(new_ids, job.rows, values, strict=True):
        pks[v["lot_number"]] = pk
        job.events.add(
            "lot.imported",
            "lot",
            v["lot_number"],
            lot_number=v["lot_number"],
            new={
                **{k: v[k] for k in ("lot_number", "coi", "source", "apheresis_on", "thaw_on")},
                **{k: v[k] for k in ("day0", "state", "termination_cause")},
                "historical": fixed["historical"],
                "termination_reason": v.get("termination_reason"),
                "subject_id": r.subject_id,
                "product": p.code,
                "spec_version": p.spec_version,
                "spec_sha256": p.sha256,
                "file_lot_id": r.lot_id,
                "file_row": r.line,
                "import": job.batch_pk,
            },
            reason=f"imported from {job.origin}",
        )
    return pks


def _harvests(job: _Job, lot_pk: dict[str, int]) -> None:
    """The file gives CAR+ viable cells only: total viable = those cells, CAR+ 100 %."""
    p = job.product
    harvested = [r for r in job.rows if r.harvested_on is not None]
    values = []
    for r in harvested:
        assert r.harvested_on is not None and r.car_viable_cells is not None
        day = (r.harvested_on - r.day0).days
        target = dose.target_dose_cells(p, r.dose_level, r.weight_kg)
        values.append(
            {
                "lot_pk": lot_pk[r.lot_number or ""],
                "harvested_on": r.harvested_on,
                "harvest_day": day,
                "total_viable_cells": r.car_viable_cells,
                "car_pct": 100.0,
                "bag_count": dose.default_bag_count(r.car_viable_cells // target),
                "bag_volume_ml": p.bag_volume_ml,
                "cryopreserved_on": r.harvested_on,
                "expires_on": r.harvested_on + timedelta(days=p.shelf_life_days),
                "window_reason": None
                if p.in_window(day)
                else f"historical lot imported from {job.origin}",
            }
        )
    table = Harvest.__table__  # type: ignore[attr-defined]
    fixed = {"recorded_by": job.who, "recorded_at": job.tx.now}
    new_ids = _inserted(job.tx.session, table, values, ("lot_pk",), "lot_pk", fixed, job.wrote)
    for pk, r, v in zip(new_ids, harvested, values, strict=True):
        keys = ("harvested_on", "total_viable_cells", "car_pct", "bag_volume_ml")
        job.events.add(
            "harvest.imported",
            "harvest",
            pk,
            lot_number=r.lot_number,
            new={
                **{k: v[k] for k in keys},
                "day": v["harvest_day"],
                "car_viable_cells": r.car_viable_cells,
                "bags": v["bag_count"],
                "cryopreserved_on": v["cryopreserved_on"],
                "expires_on": v["expires_on"],
                "window_reason": v["window_reason"],  # checked against the row by verify
                "file_row": r.line,
            },
            reason=f"imported from {job.origin}",
        )


def _results(job: _Job, lot_pk: dict[str, int]) -> int:
    values, owners = [], []
    for r in job.rows:
        pk = lot_pk[r.lot_number or ""]
        for code, parsed in r.results:
            values.append(
                {
                    "lot_pk": pk,
                    "test_code": code,
                    "value_text": parsed.value_text,
                    "value_num": parsed.value_num,
                    "qualifier": parsed.qualifier,
                    "unit": parsed.unit,
                    "evaluation": parsed.evaluation._value_,  # (.value: a property, slower)
                }
            )
            owners.append((r, code, parsed))
    fixed = {
        "tested_on": None,
        "method_ref": None,
        "entered_by": job.who,
        "entered_at": job.tx.now,
        "verified_by": None,
        "after_disposition": False,
        "row_version": 1,
    }
    table = ReleaseResult.__table__  # type: ignore[attr-defined]
    key = ("lot_pk", "test_code")
    new_ids = _inserted(job.tx.session, table, values, key, "lot_pk", fixed, job.wrote)
    add, reason, memo = job.events.add, f"imported from {job.origin}", ResultJson()
    for pk, (r, code, parsed), v in zip(new_ids, owners, values, strict=True):
        add(
            "result.imported",
            "release_result",
            pk,
            lot_number=r.lot_number,
            new_text=memo.text(code, parsed, v, r.line),
            reason=reason,
        )
    return len(values)


def write_import(
    tx: Tx,
    rows: list[ImportRow],
    new_subjects: dict[str, ImportRow],
    existing: dict[str, Subject],
    product: Product,
    *,
    batch_pk: int,
    file_name: str,
    sha: str,
    fin: str,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportResult:
    """Write every row of an approved import; the caller audits the approval and commits.
    ``progress("writing", records written, records)`` as each chunk of a table is in (up to
    ``CHUNK`` records: a bar that moves through the 120,000 results of 10,000 lots)."""
    pin_spec(tx.session, product, tx.now)
    tx.session.flush()
    total = len(new_subjects) + len(rows) + sum(1 + len(r.results) for r in rows if r.harvested_on)
    done = 0

    def wrote(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("writing", done, total)

    job = _Job(
        tx,
        rows,
        product,
        f"{file_name} (sha256 {sha[:12]}, import {batch_pk})",
        batch_pk,
        AuditBatch(tx, tx.actor.username if tx.actor else "system", tx.now),
        wrote,
    )
    wrote(0)
    subject_pk = _subjects(job, new_subjects, existing)
    lot_pk = _lots(job, subject_pk, fin)
    _harvests(job, lot_pk)
    n_results = _results(job, lot_pk)
    matched = len({r.subject_id for r in rows}) - len(new_subjects)
    job.events.add(
        "lots.imported",
        "import",
        sha,
        new={
            "file": file_name,
            "sha256": sha,
            "import": batch_pk,
            "product": product.code,
            "spec_version": product.spec_version,
            "lots": len(rows),
            "subjects_created": len(new_subjects),
            "subjects_matched": matched,
            "results": n_results,
            "first_lot": rows[0].lot_number,
            "last_lot": rows[-1].lot_number,
        },
    )
    job.events.flush(tx.session)
    return ImportResult(
        file=file_name,
        sha256=sha,
        lots=len(rows),
        subjects_created=len(new_subjects),
        subjects_matched=matched,
        results=n_results,
        batch=batch_pk,
        lot_numbers=tuple(r.lot_number or "" for r in rows),
    )
