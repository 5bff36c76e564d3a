"""Import of historical lots from a CSV file (labs moving from spreadsheets).

Columns, exactly: ``lot_id, subject_id, site, indication, weight_kg, dose_level, source,
apheresis_date, thaw_date, harvest_date, car_viable_cells, state, termination_cause`` and then one
column per test code of the product's specification (``APPEAR ... BEADS``) holding the result as
entered: empty when not tested, ``pending`` when pending. Results are parsed and judged by
``mfg.domain.results.parse_result``, exactly as typed-in results are.

The whole file is validated first; any bad row refuses the import, listing every bad row and
field, and nothing is written. Otherwise everything is written in ONE transaction: subjects
created (or matched by id: a conflicting attribute is an error), lots with their lot numbers (the
file's ``lot_id`` when it is a valid lot number, else a new one) and newly allocated COI codes
(year of day 0), the current harvest, the release results. Each created record gets its own
audit event (``subject.imported``, ``lot.imported``, ``harvest.imported``, ``result.imported``,
citing the file row) and the import one ``lots.imported`` event recording the file's SHA-256; a
file whose SHA-256 was imported before is refused.

The file gives CAR+ viable cells only, so the harvest is stored with ``total_viable_cells`` =
those cells and ``car_pct`` = 100 (CAR+ viable cells = floor(total x pct / 100) is then exactly
the file's number). No dose bags and no dispositions are created: historical bags are not in
this inventory and a disposition needs an e-signature nobody gave here.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, cast, func, insert
from sqlmodel import select

from mfg import audit
from mfg.domain import dose, identity, ids
from mfg.domain.dates import parse_date
from mfg.domain.expansion import check_not_future, day0_for
from mfg.domain.lifecycle import LotState, TerminationCause, parse_source
from mfg.domain.numbers import parse_cells, parse_decimal
from mfg.domain.specs import Product
from mfg.errors import RuleViolation
from mfg.services.lots import pin_spec
from mfg.services.subjects import SITE_RE, check_indication
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, Harvest, Lot, ReleaseResult, Subject

BASE_COLUMNS = (
    "lot_id",
    "subject_id",
    "site",
    "indication",
    "weight_kg",
    "dose_level",
    "source",
    "apheresis_date",
    "thaw_date",
    "harvest_date",
    "car_viable_cells",
    "state",
    "termination_cause",
)
HARVEST_REQUIRED = frozenset(
    {"harvested", "in_release_testing", "released", "conditionally_released", "rejected"}
)
NO_HARVEST = frozenset({"registered", "in_expansion"})
MAX_ERRORS_LISTED = 1000

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class RowError:
    row: int  # line in the file (the header is line 1)
    lot_id: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        lot = f" ({self.lot_id})" if self.lot_id else ""
        return f"row {self.row}{lot}: {self.field}: {self.message} [{self.rule}]"


class ImportRejected(RuleViolation):
    """The file has bad rows: every one is listed in ``errors``; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        rows = len({e.row for e in errors})
        super().__init__(
            "file",
            "import-invalid",
            f"{rows} bad row{'s' if rows != 1 else ''} ({len(errors)} problems); "
            "nothing was imported",
        )
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    file: str
    sha256: str
    lots: int
    subjects_created: int
    subjects_matched: int
    results: int
    lot_numbers: tuple[str, ...] = field(repr=False, default=())


@dataclass
class _Row:
    line: int
    lot_id: str
    lot_number: str | None  # None: allocate
    subject_id: str
    site: str
    indication: str
    weight_kg: float
    dose_level: str
    source: str
    apheresis_on: date | None
    thaw_on: date | None
    day0: date
    harvested_on: date | None
    car_viable_cells: int | None
    state: str
    termination_cause: str | None
    results: list[tuple[str, Any]]  # (code, ParsedResult)


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []

    def add(self, line: int, lot_id: str, e: RuleViolation, field: str | None = None) -> None:
        self.items.append(RowError(line, lot_id, field or e.field, e.rule, e.message))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_table(data: bytes, product: Product) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of the file; refuses a file that is not CSV with exactly the columns."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RuleViolation("file", "file-encoding", f"not UTF-8 text ({e.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RuleViolation("file", "file-empty", "the file is empty") from None
    except csv.Error as e:
        raise RuleViolation("file", "csv-format", str(e)) from None
    expected = [*BASE_COLUMNS, *product.test_codes]
    dupes = sorted({h for h in header if header.count(h) > 1})
    missing = [c for c in expected if c not in header]
    unknown = [h for h in header if h not in expected]
    if dupes or missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        if dupes:
            parts.append("repeated " + ", ".join(dupes))
        raise RuleViolation(
            "columns",
            "import-columns",
            f"{'; '.join(parts)} (expected exactly: {', '.join(expected)})",
        )
    rows: list[dict[str, str]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                rows.append({})  # blank line: skipped, but keeps line numbers right
                continue
            if len(values) != len(header):
                rows.append({"__width__": str(len(values))})
                continue
            rows.append(dict(zip(header, values, strict=True)))
    except csv.Error as e:
        raise RuleViolation("file", "csv-format", f"line {reader.line_num}: {e}") from None
    return header, rows


def _parse_row(
    line: int, raw: dict[str, str], product: Product, today: date, errors: _Errors
) -> _Row | None:
    from mfg.domain.results import parse_result

    lot_id = raw.get("lot_id", "")
    before = len(errors.items)

    def fail(field: str, rule: str, message: str) -> None:
        errors.items.append(RowError(line, lot_id, field, rule, message))

    def attempt(fn: Callable[[], Any], field: str | None = None) -> Any:
        try:
            return fn()
        except RuleViolation as e:
            errors.add(line, lot_id, e, field)
            return None

    def text(name: str) -> str:
        return raw.get(name, "").strip()

    lot_number: str | None = None
    if not lot_id or lot_id.isspace():
        fail("lot_id", "lot-id-required", "every row needs the lab's lot id")
    else:
        try:
            lot_number = identity.lot_number(lot_id, "lot_id")
        except RuleViolation:
            lot_number = None  # the lab's own id: a CellTrail lot number is allocated
    subject_id = (
        attempt(lambda: identity.subject_id(raw.get("subject_id", ""), "subject_id"), "subject_id")
        or ""
    )
    site = text("site")
    if not SITE_RE.fullmatch(site):
        fail("site", "site-format", f"{site!r}: 1-40 letters, digits or spaces")
    indication = attempt(lambda: check_indication(text("indication")))
    weight = attempt(
        lambda: dose.check_weight(float(parse_decimal(text("weight_kg"), "weight_kg"))),
        "weight_kg",
    )
    level = attempt(lambda: dose.check_dose_level(product, text("dose_level")))
    source = attempt(lambda: parse_source(text("source")).value)

    def day(name: str) -> date | None:
        if not text(name):
            return None
        return attempt(lambda: check_not_future(parse_date(text(name), name), today, name))

    dates_before = len(errors.items)
    aph, thaw = day("apheresis_date"), day("thaw_date")
    day0 = None
    if source is not None and len(errors.items) == dates_before:
        day0 = attempt(lambda: day0_for(source, aph, thaw))
    harvested = day("harvest_date")
    state_text = text("state").lower()
    state: str | None = None
    try:
        state = LotState(state_text).value
    except ValueError:
        fail(
            "state",
            "unknown-state",
            f"{state_text!r} is not one of {', '.join(s.value for s in LotState)}",
        )
    cause_text = text("termination_cause").lower().replace("-", "_")
    cause: str | None = None
    if state == LotState.TERMINATED:
        try:
            cause = TerminationCause(cause_text).value
        except ValueError:
            fail(
                "termination_cause",
                "termination-cause-required",
                f"{cause_text!r}: a terminated lot needs manufacturing or not_evaluable",
            )
    elif cause_text:
        fail(
            "termination_cause",
            "cause-only-for-terminated",
            f"a {state or 'non-terminated'} lot has no termination cause",
        )
    cells_text = text("car_viable_cells")
    cells = attempt(lambda: parse_cells(cells_text, "car_viable_cells")) if cells_text else None
    if state in HARVEST_REQUIRED and not text("harvest_date"):
        fail("harvest_date", "harvest-required", f"a {state} lot was harvested: give the date")
    if state in NO_HARVEST and text("harvest_date"):
        fail("harvest_date", "harvest-not-yet", f"a {state} lot has no harvest yet")
    if text("harvest_date") and not cells_text:
        fail("car_viable_cells", "cells-required", "a harvest needs its CAR+ viable cells")
    if cells_text and not text("harvest_date"):
        fail("car_viable_cells", "cells-without-harvest", "CAR+ viable cells need a harvest date")
    if harvested is not None and day0 is not None and harvested < day0:
        fail("harvest_date", "harvest-before-day-0", f"{harvested} precedes day 0 ({day0})")
    results: list[tuple[str, Any]] = []
    for test in product.tests:
        value = raw.get(test.code, "")
        if not value.strip():
            continue
        if not text("harvest_date"):
            fail(test.code, "result-without-harvest", "release results need a harvested lot")
            continue
        try:
            parsed = parse_result(test, value)
        except RuleViolation as e:
            errors.add(line, lot_id, e, test.code)
            continue
        if state == LotState.RELEASED and parsed.evaluation.value == "pending":
            fail(
                test.code,
                "released-with-pending",
                "a lot released with results pending is conditionally_released",
            )
        results.append((test.code, parsed))
    if len(errors.items) != before:
        return None
    assert day0 is not None and state is not None and source is not None
    return _Row(
        line=line,
        lot_id=lot_id,
        lot_number=lot_number,
        subject_id=subject_id,
        site=site.strip(),
        indication=indication,
        weight_kg=weight,
        dose_level=level,
        source=source,
        apheresis_on=aph,
        thaw_on=thaw,
        day0=day0,
        harvested_on=harvested,
        car_viable_cells=cells,
        state=state,
        termination_cause=cause,
        results=results,
    )


SUBJECT_FIELDS = ("site", "indication", "weight_kg", "dose_level")


def _check_subjects(
    rows: list[_Row], existing: dict[str, Subject], errors: _Errors
) -> dict[str, _Row]:
    """First row of each new subject; conflicting attributes (file or database) are errors."""
    first: dict[str, _Row] = {}
    for r in rows:
        known = existing.get(r.subject_id)
        for name in SUBJECT_FIELDS:
            mine = getattr(r, name)
            if known is not None and getattr(known, name) != mine:
                errors.items.append(
                    RowError(
                        r.line,
                        r.lot_id,
                        name,
                        "subject-conflict",
                        f"subject {r.subject_id} exists with {name} {getattr(known, name)!r}, "
                        f"not {mine!r}",
                    )
                )
            elif known is None and r.subject_id in first:
                other = first[r.subject_id]
                if getattr(other, name) != mine:
                    errors.items.append(
                        RowError(
                            r.line,
                            r.lot_id,
                            name,
                            "subject-conflict",
                            f"subject {r.subject_id} has {name} {getattr(other, name)!r} in row "
                            f"{other.line}, not {mine!r}",
                        )
                    )
        if known is None:
            first.setdefault(r.subject_id, r)
    return first


class _AuditBatch:
    """Per-record audit events appended to the chain in bulk, inside the write transaction.

    Same fields, sequence and hash as ``mfg.audit.append`` (it uses ``audit.event_hash``), but
    one read of the chain head and one multi-row insert instead of a query per event.
    """

    def __init__(self, session: Any, username: str, now: datetime) -> None:
        last = session.exec(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)  # type: ignore[attr-defined]
        ).first()
        self.seq = last[0] if last else 0
        self.prev = last[1] if last else audit.GENESIS
        self.username = username
        self.at = now.astimezone(UTC)
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        action: str,
        entity: str,
        entity_id: str | int,
        *,
        lot_number: str | None = None,
        new: Any = None,
        reason: str | None = None,
    ) -> None:
        self.seq += 1
        e = SimpleNamespace(
            seq=self.seq,
            at=self.at,
            username=self.username,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            lot_number=lot_number,
            old_values=audit.canonical_json(None),
            new_values=audit.canonical_json(new),
            reason=reason,
        )
        e.prev_hash = self.prev
        e.hash = audit.event_hash(e, self.prev)  # type: ignore[arg-type]
        self.prev = e.hash
        self.rows.append(vars(e))

    def flush(self, session: Any) -> None:
        table = AuditEvent.__table__  # type: ignore[attr-defined]
        for k in range(0, len(self.rows), 5000):
            session.execute(insert(table), self.rows[k : k + 5000])
        self.rows.clear()


def _inserted(
    session: Any, table: Any, rows: list[dict[str, Any]], key: tuple[str, ...], scope: str
) -> list[int]:
    """Insert ``rows`` (one executemany per chunk) and return their ids, in the order given.

    The ids are read back by ``key`` (unique among the new rows), restricted to the values of
    ``scope`` the new rows have: no per-row round trip (RETURNING on SQLite runs row by row).
    """
    for k in range(0, len(rows), 5000):
        session.execute(insert(table), rows[k : k + 5000])
    wanted = sorted({r[scope] for r in rows})
    ids: dict[tuple[Any, ...], int] = {}
    cols = [table.c.id, *(table.c[c] for c in key)]
    for k in range(0, len(wanted), 900):
        query = select(*cols).where(table.c[scope].in_(wanted[k : k + 900]))
        for found in session.execute(query):
            ids[tuple(found[1:])] = found[0]
    return [ids[tuple(r[c] for c in key)] for r in rows]


def _already_imported(session: Any, sha: str) -> bool:
    hit = session.execute(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "lots.imported", AuditEvent.entity_id == sha)  # type: ignore[arg-type]
    ).scalar_one()
    return int(hit) > 0


def import_lots(
    path: str | Path,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    product_code: str = "BH002",
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the whole file, then import every row in one audited transaction."""
    actor.require("import.lots")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RuleViolation("file", "file-unreadable", f"{path}: {e.strerror}") from None
    sha = _sha256(data)
    product = db.product(product_code)
    _, raw_rows = read_table(data, product)
    today = db.today(now)
    errors = _Errors()
    rows: list[_Row] = []
    total = len(raw_rows)
    for i, raw in enumerate(raw_rows):
        line = i + 2
        if not raw:
            continue
        if "__width__" in raw:
            errors.items.append(
                RowError(
                    line, "", "row", "row-width", f"{raw['__width__']} values, not the header's"
                )
            )
            continue
        parsed = _parse_row(line, raw, product, today, errors)
        if parsed is not None:
            rows.append(parsed)
        if progress and (i % 500 == 0 or i == total - 1):
            progress("validating", i + 1, total)
    seen: dict[str, int] = {}
    for r in rows:
        key = r.lot_number or r.lot_id
        if key in seen:
            errors.items.append(
                RowError(r.line, r.lot_id, "lot_id", "duplicate-lot-id", f"also in row {seen[key]}")
            )
        else:
            seen[key] = r.line
    if not rows and not errors.items:
        raise RuleViolation("file", "file-empty", "the file has no lots")

    with db.write(actor, now) as tx:
        s = tx.session
        if _already_imported(s, sha):
            raise RuleViolation(
                "file", "file-already-imported", f"a file with SHA-256 {sha} was imported before"
            )
        wanted = sorted({r.subject_id for r in rows})
        existing: dict[str, Subject] = {}
        for k in range(0, len(wanted), 900):
            for subj in s.exec(
                select(Subject).where(Subject.subject_id.in_(wanted[k : k + 900]))  # type: ignore[attr-defined]
            ).all():
                existing[subj.subject_id] = subj
        kept = sorted({r.lot_number for r in rows if r.lot_number})
        taken: set[str] = set()
        for k in range(0, len(kept), 900):
            taken.update(
                s.exec(
                    select(Lot.lot_number).where(Lot.lot_number.in_(kept[k : k + 900]))  # type: ignore[attr-defined]
                ).all()
            )
        for r in rows:
            if r.lot_number in taken:
                errors.items.append(
                    RowError(
                        r.line,
                        r.lot_id,
                        "lot_id",
                        "lot-exists",
                        f"lot {r.lot_number} is already in CellTrail",
                    )
                )
        new_subjects = _check_subjects(rows, existing, errors)
        if errors.items:
            errors.items.sort(key=lambda e: (e.row, e.field))
            raise ImportRejected(errors.items)
        result = _write(
            tx,
            rows,
            new_subjects,
            existing,
            product,
            sha,
            path.name,
            db.settings.facility_id,
            progress,
        )
        tx.commit()
        return result


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


def _write(
    tx: Any,
    rows: list[_Row],
    new_subjects: dict[str, _Row],
    existing: dict[str, Subject],
    product: Product,
    sha: str,
    file_name: str,
    fin: str,
    progress: Progress | None,
) -> ImportResult:
    s, now, who = tx.session, tx.now, tx.actor.username
    pin_spec(s, product, now)
    s.flush()
    batch = _AuditBatch(s, who, now)
    origin = f"{file_name} (sha256 {sha[:12]})"

    # Subjects: weight dated at the subject's first day 0 in the file.
    first_day0: dict[str, date] = {}
    for r in rows:
        first_day0[r.subject_id] = min(first_day0.get(r.subject_id, r.day0), r.day0)
    subject_rows = [
        {
            "subject_id": sid,
            "site": r.site,
            "indication": r.indication,
            "weight_kg": r.weight_kg,
            "weight_on": first_day0[sid],
            "dose_level": r.dose_level,
            "initials": None,
            "dob": None,
            "created_at": now,
            "row_version": 1,
        }
        for sid, r in new_subjects.items()
    ]
    subject_pk = {sid: subj.id for sid, subj in existing.items()}
    new_ids = _inserted(s, Subject.__table__, subject_rows, ("subject_id",), "subject_id")  # type: ignore[attr-defined]
    for pk, values in zip(new_ids, subject_rows, strict=True):
        subject_pk[values["subject_id"]] = pk
    for values in subject_rows:
        batch.add(
            "subject.imported",
            "subject",
            values["subject_id"],
            new={k: v for k, v in values.items() if k not in ("created_at", "row_version")}
            | {"file_row": new_subjects[values["subject_id"]].line},
            reason=f"imported from {origin}",
        )

    # Lot numbers: the file's when valid, else the next of the product's year of day 0; COI
    # codes always new (FIN + year of day 0 + sequence), as registration allocates them.
    lot_seq: dict[str, int] = {}
    coi_seq: dict[str, int] = {}
    kept_by_prefix: dict[str, int] = {}
    for r in rows:
        if r.lot_number:
            prefix, _, seq = r.lot_number.rpartition("-")
            kept_by_prefix[prefix + "-"] = max(kept_by_prefix.get(prefix + "-", 0), int(seq))
    lot_rows: list[dict[str, Any]] = []
    for r in rows:
        yy = r.day0.year % 100
        if r.lot_number is None:
            prefix = f"{product.code}-{yy:02d}-"
            if prefix not in lot_seq:
                lot_seq[prefix] = max(
                    _next_seq(s, Lot.lot_number, prefix, len(prefix) + 1),
                    kept_by_prefix.get(prefix, 0) + 1,
                )
            r.lot_number = ids.lot_number(product.code, yy, lot_seq[prefix])
            lot_seq[prefix] += 1
        cprefix = f"{fin}{yy:02d}"
        if cprefix not in coi_seq:
            coi_seq[cprefix] = _next_seq(s, Lot.coi, cprefix, 8)
        coi = ids.coi_code(fin, yy, coi_seq[cprefix])
        coi_seq[cprefix] += 1
        lot_rows.append(
            {
                "lot_number": r.lot_number,
                "coi": coi,
                "subject_pk": subject_pk[r.subject_id],
                "product_code": product.code,
                "spec_version": product.spec_version,
                "source": r.source,
                "apheresis_on": r.apheresis_on,
                "thaw_on": r.thaw_on,
                "day0": r.day0,
                "state": r.state,
                "termination_cause": r.termination_cause,
                "termination_reason": f"historical lot imported from {origin}"
                if r.termination_cause
                else None,
                "registered_at": now,
                "registered_by": who,
                "state_changed_at": now,
                "row_version": 1,
            }
        )
    lot_pk: dict[str, int] = {}
    new_ids = _inserted(s, Lot.__table__, lot_rows, ("lot_number",), "lot_number")  # type: ignore[attr-defined]
    for pk, values in zip(new_ids, lot_rows, strict=True):
        lot_pk[values["lot_number"]] = pk
    for r, values in zip(rows, lot_rows, strict=True):
        batch.add(
            "lot.imported",
            "lot",
            r.lot_number or "",
            lot_number=r.lot_number,
            new={
                "lot_number": values["lot_number"],
                "coi": values["coi"],
                "subject_id": r.subject_id,
                "source": r.source,
                "apheresis_on": r.apheresis_on,
                "thaw_on": r.thaw_on,
                "day0": r.day0,
                "product": product.code,
                "spec_version": product.spec_version,
                "spec_sha256": product.sha256,
                "state": r.state,
                "termination_cause": r.termination_cause,
                "file_lot_id": r.lot_id,
                "file_row": r.line,
                "file_sha256": sha,
            },
            reason=f"imported from {origin}",
        )
    if progress:
        progress("writing", len(rows) // 3, len(rows))

    harvested = [r for r in rows if r.harvested_on is not None]
    harvest_rows = []
    for r in harvested:
        assert r.harvested_on is not None and r.car_viable_cells is not None
        day = (r.harvested_on - r.day0).days
        target = dose.target_dose_cells(product, r.dose_level, r.weight_kg)
        in_window = product.in_window(day)
        harvest_rows.append(
            {
                "lot_pk": lot_pk[r.lot_number or ""],
                "harvested_on": r.harvested_on,
                "harvest_day": day,
                "total_viable_cells": r.car_viable_cells,
                "car_pct": 100.0,
                "bag_count": dose.default_bag_count(r.car_viable_cells // target),
                "bag_volume_ml": product.bag_volume_ml,
                "cryopreserved_on": r.harvested_on,
                "expires_on": r.harvested_on + timedelta(days=product.shelf_life_days),
                "window_reason": None if in_window else f"historical lot imported from {origin}",
                "recorded_by": who,
                "recorded_at": now,
            }
        )
    for pk, r, values in zip(
        _inserted(s, Harvest.__table__, harvest_rows, ("lot_pk",), "lot_pk"),  # type: ignore[attr-defined]
        harvested,
        harvest_rows,
        strict=True,
    ):
        batch.add(
            "harvest.imported",
            "harvest",
            pk,
            lot_number=r.lot_number,
            new={
                "harvested_on": values["harvested_on"],
                "day": values["harvest_day"],
                "total_viable_cells": values["total_viable_cells"],
                "car_pct": values["car_pct"],
                "car_viable_cells": r.car_viable_cells,
                "bags": values["bag_count"],
                "bag_volume_ml": values["bag_volume_ml"],
                "cryopreserved_on": values["cryopreserved_on"],
                "expires_on": values["expires_on"],
                "file_row": r.line,
            },
            reason=f"imported from {origin}",
        )
    if progress:
        progress("writing", 2 * len(rows) // 3, len(rows))

    result_rows = []
    result_owner = []
    for r in rows:
        for code, parsed in r.results:
            result_rows.append(
                {
                    "lot_pk": lot_pk[r.lot_number or ""],
                    "test_code": code,
                    "value_text": parsed.value_text,
                    "value_num": parsed.value_num,
                    "qualifier": parsed.qualifier,
                    "unit": parsed.unit,
                    "evaluation": parsed.evaluation.value,
                    "tested_on": None,
                    "method_ref": None,
                    "entered_by": who,
                    "entered_at": now,
                    "verified_by": None,
                    "after_disposition": False,
                    "row_version": 1,
                }
            )
            result_owner.append(r)
    for pk, r, values in zip(
        _inserted(s, ReleaseResult.__table__, result_rows, ("lot_pk", "test_code"), "lot_pk"),  # type: ignore[attr-defined]
        result_owner,
        result_rows,
        strict=True,
    ):
        batch.add(
            "result.imported",
            "release_result",
            pk,
            lot_number=r.lot_number,
            new={
                "test_code": values["test_code"],
                "value": values["value_text"],
                "value_num": values["value_num"],
                "qualifier": values["qualifier"],
                "unit": values["unit"],
                "evaluation": values["evaluation"],
                "tested_on": None,
                "method_ref": None,
                "verified_by": None,
                "file_row": r.line,
            },
            reason=f"imported from {origin}",
        )
    batch.add(
        "lots.imported",
        "import",
        sha,
        new={
            "file": file_name,
            "sha256": sha,
            "product": product.code,
            "spec_version": product.spec_version,
            "lots": len(rows),
            "subjects_created": len(new_subjects),
            "subjects_matched": len({r.subject_id for r in rows}) - len(new_subjects),
            "results": len(result_rows),
            "first_lot": rows[0].lot_number,
            "last_lot": rows[-1].lot_number,
        },
    )
    batch.flush(s)
    if progress:
        progress("writing", len(rows), len(rows))
    return ImportResult(
        file=file_name,
        sha256=sha,
        lots=len(rows),
        subjects_created=len(new_subjects),
        subjects_matched=len({r.subject_id for r in rows}) - len(new_subjects),
        results=len(result_rows),
        lot_numbers=tuple(r.lot_number or "" for r in rows),
    )
