"""The import file's format and its rows, validated without any database (pure rules).

Columns, exactly: ``lot_id, subject_id, site, indication, weight_kg, dose_level, source,
apheresis_date, thaw_date, harvest_date, car_viable_cells, state, termination_cause`` and then one
column per test code of the product's specification holding the result as entered: empty when not
tested, ``pending`` when pending. Results are judged by ``mfg.domain.results.parse_result``,
exactly as typed-in results are.

Imported lots are HISTORICAL: records of the past, never a product in this inventory. So a row
is refused when its day 0 is recent enough for the lot to be live (``LIVE_DAYS``: a lot whose day
0 is within the last 60 days is registered with ``mfg lot register``, which accepts exactly those)
or earlier than any plausible date (``EARLIEST_DAY0``: lot numbers and COI codes carry a
two-digit year, so 1926 would be numbered in the 2026 series; no CAR-T lot was made before 2000).
Duplicates are found by the lots themselves: the same lot id, or the same subject + day 0 +
source, twice in the file (the service also checks the database).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from mfg.domain import dose, identity
from mfg.domain.dates import parse_date
from mfg.domain.expansion import check_not_future, day0_for
from mfg.domain.indications import check_indication
from mfg.domain.lifecycle import LotState, Source, TerminationCause
from mfg.domain.numbers import parse_cells, parse_decimal
from mfg.domain.results import Evaluation, ParsedResult, parse_result
from mfg.domain.specs import Product
from mfg.errors import RuleViolation

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
LIVE_DAYS = 60  # mfg lot register accepts a day 0 up to 60 days ago; older ones are imported
EARLIEST_DAY0 = date(2000, 1, 1)
LAB_ID_MAX = 40  # the lab's own lot id (kept with the imported lot)


@dataclass(frozen=True)
class RowError:
    row: int  # line in the file (the header is line 1)
    lot_id: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        shown = self.lot_id if self.lot_id.isprintable() else identity.shown(self.lot_id, 30)
        lot = f" ({shown})" if self.lot_id else ""
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


@dataclass
class ImportRow:
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


class Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []

    def add(self, line: int, lot_id: str, e: RuleViolation, field: str | None = None) -> None:
        self.items.append(RowError(line, lot_id, field or e.field, e.rule, e.message))


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
    _check_header(header, [*BASE_COLUMNS, *product.test_codes])
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


def _check_header(header: list[str], expected: list[str]) -> None:
    dupes = sorted({h for h in header if header.count(h) > 1})
    missing = [c for c in expected if c not in header]
    unknown = [h for h in header if h not in expected]
    if not (dupes or missing or unknown):
        return
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unknown:
        parts.append(
            "unknown " + ", ".join(u if u.isprintable() else identity.shown(u, 30) for u in unknown)
        )
    if dupes:
        parts.append("repeated " + ", ".join(dupes))
    raise RuleViolation(
        "columns",
        "import-columns",
        f"{'; '.join(parts)} (expected exactly: {', '.join(expected)})",
    )


def check_historical_day0(day0: date, today: date, field: str = "day0") -> date:
    """An imported lot is a record of the past: day 0 neither live nor implausibly early."""
    if day0 < EARLIEST_DAY0:
        raise RuleViolation(
            field,
            "day0-implausible",
            f"day 0 {day0} is before {EARLIEST_DAY0}: not a plausible CAR-T lot (lot numbers "
            "carry a two-digit year)",
        )
    if (today - day0).days <= LIVE_DAYS:
        raise RuleViolation(
            field,
            "day0-too-recent",
            f"day 0 {day0} is within the last {LIVE_DAYS} days: the lot may be live; register "
            "it with `mfg lot register` instead of importing it",
        )
    return day0


class _Row:
    """One raw row being validated: its text, and the errors it collects."""

    def __init__(self, line: int, raw: dict[str, str], today: date, errors: Errors) -> None:
        self.line, self.raw, self.today, self.errors = line, raw, today, errors
        self.lot_id = raw.get("lot_id", "")

    def fail(self, field: str, rule: str, message: str) -> None:
        self.errors.items.append(RowError(self.line, self.lot_id, field, rule, message))

    def attempt(self, fn: Callable[[], Any], field: str | None = None) -> Any:
        try:
            return fn()
        except RuleViolation as e:
            self.errors.add(self.line, self.lot_id, e, field)
            return None

    def text(self, name: str) -> str:
        return self.raw.get(name, "").strip()

    def day(self, name: str) -> date | None:
        if not self.text(name):
            return None
        on: date | None = self.attempt(
            lambda: check_not_future(parse_date(self.text(name), name), self.today, name)
        )
        return on


def _who(r: _Row, product: Product) -> dict[str, Any]:
    lot_number = None
    if not r.lot_id or r.lot_id.isspace():
        r.fail("lot_id", "lot-id-required", "every row needs the lab's lot id")
    elif r.attempt(lambda: identity.check_text(r.lot_id, "lot_id", LAB_ID_MAX, "lot id"), "lot_id"):
        # the rules of every id first (no surrounding space, invisible or control character):
        # 'BH002-25-0007 ' is refused, never taken for a lab's own id next to BH002-25-0007
        try:
            lot_number = identity.lot_number(r.lot_id, "lot_id")
        except RuleViolation:
            lot_number = None  # the lab's own id: a CellTrail lot number is allocated
    subject_id = r.attempt(
        lambda: identity.subject_id(r.raw.get("subject_id", ""), "subject_id"), "subject_id"
    )
    site = r.attempt(lambda: identity.site(r.text("site"), "site"), "site")  # as subject add
    return {
        "lot_number": lot_number,
        "subject_id": subject_id or "",
        "site": site or "",
        "indication": r.attempt(lambda: check_indication(r.text("indication"))),
        "weight_kg": r.attempt(
            lambda: dose.check_weight(float(parse_decimal(r.text("weight_kg"), "weight_kg"))),
            "weight_kg",
        ),
        "dose_level": r.attempt(lambda: dose.check_dose_level(product, r.text("dose_level"))),
        "source": r.attempt(lambda: _source(r.text("source"))),
    }


def _source(text: str) -> str:
    try:
        return Source(text.lower()).value
    except ValueError:
        raise RuleViolation(
            "source", "unknown-source", f"{identity.shown(text)} is not one of apheresis, cryo-pbmc"
        ) from None


def _dates(r: _Row, source: str | None) -> dict[str, Any]:
    before = len(r.errors.items)
    aph, thaw = r.day("apheresis_date"), r.day("thaw_date")
    day0 = None
    if source is not None and len(r.errors.items) == before:
        found: date | None = r.attempt(lambda: day0_for(source, aph, thaw))
        if found is not None:
            field = "apheresis_date" if source == Source.APHERESIS else "thaw_date"
            day0 = r.attempt(lambda: check_historical_day0(found, r.today, field))
    return {
        "apheresis_on": aph,
        "thaw_on": thaw,
        "day0": day0,
        "harvested_on": r.day("harvest_date"),
    }


def _state(r: _Row) -> dict[str, Any]:
    state_text = r.text("state").lower()
    state: str | None = None
    try:
        state = LotState(state_text).value
    except ValueError:
        r.fail(
            "state",
            "unknown-state",
            f"{identity.shown(state_text)} is not one of {', '.join(s.value for s in LotState)}",
        )
    cause_text = r.text("termination_cause").lower().replace("-", "_")
    cause: str | None = None
    if state == LotState.TERMINATED:
        try:
            cause = TerminationCause(cause_text).value
        except ValueError:
            r.fail(
                "termination_cause",
                "termination-cause-required",
                f"{identity.shown(cause_text)}: a terminated lot needs manufacturing or "
                "not_evaluable",
            )
    elif cause_text:
        r.fail(
            "termination_cause",
            "cause-only-for-terminated",
            f"a {state or 'non-terminated'} lot has no termination cause",
        )
    return {"state": state, "termination_cause": cause}


def _harvest(r: _Row, state: str | None, day0: date | None, harvested: date | None) -> Any:
    cells_text = r.text("car_viable_cells")
    cells = r.attempt(lambda: parse_cells(cells_text, "car_viable_cells")) if cells_text else None
    has_date = bool(r.text("harvest_date"))
    if state in HARVEST_REQUIRED and not has_date:
        r.fail("harvest_date", "harvest-required", f"a {state} lot was harvested: give the date")
    if state in NO_HARVEST and has_date:
        r.fail("harvest_date", "harvest-not-yet", f"a {state} lot has no harvest yet")
    if has_date and not cells_text:
        r.fail("car_viable_cells", "cells-required", "a harvest needs its CAR+ viable cells")
    if cells_text and not has_date:
        r.fail("car_viable_cells", "cells-without-harvest", "CAR+ viable cells need a harvest date")
    if harvested is not None and day0 is not None and harvested < day0:
        r.fail("harvest_date", "harvest-before-day-0", f"{harvested} precedes day 0 ({day0})")
    return cells


# Results already parsed in this file, by (test code, text as typed): ``parse_result`` is a pure
# function of the two, and a lab's results repeat (No growth, Negative, <0.5, 92.5): 120,000
# results of 10,000 lots were most of the validation's time, and it runs at staging and again
# at approval. A refused text is parsed (and reported) again on each row.
Known = dict[tuple[str, str], ParsedResult]


def _results(r: _Row, product: Product, state: str | None, known: Known) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    harvested = bool(r.text("harvest_date"))
    released = state == LotState.RELEASED
    raw = r.raw
    for test in product.tests:
        code = test.code
        value = raw.get(code, "")
        if not value.strip():
            continue
        if not harvested:
            r.fail(code, "result-without-harvest", "release results need a harvested lot")
            continue
        parsed = known.get((code, value))
        if parsed is None:
            try:
                parsed = known[code, value] = parse_result(test, value)
            except RuleViolation as e:
                r.errors.add(r.line, r.lot_id, e, code)
                continue
        if released and parsed.evaluation is Evaluation.PENDING:
            r.fail(
                code,
                "released-with-pending",
                "a lot released with results pending is conditionally_released",
            )
        out.append((code, parsed))
    return out


def parse_row(
    line: int,
    raw: dict[str, str],
    product: Product,
    today: date,
    errors: Errors,
    known: Known | None = None,
) -> ImportRow | None:
    """One row of the file, validated; None (and its errors in ``errors``) if it is bad.
    ``known``: the results parsed in the rows before (``parse_rows``)."""
    r = _Row(line, raw, today, errors)
    before = len(errors.items)
    who = _who(r, product)
    dates = _dates(r, who["source"])
    state = _state(r)
    cells = _harvest(r, state["state"], dates["day0"], dates["harvested_on"])
    results = _results(r, product, state["state"], {} if known is None else known)
    if len(errors.items) != before:
        return None
    return ImportRow(
        line=line,
        lot_id=r.lot_id,
        **who,
        **dates,
        car_viable_cells=cells,
        **state,
        results=results,
    )


def parse_rows(
    raw_rows: list[dict[str, str]],
    product: Product,
    today: date,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[ImportRow], Errors]:
    """Every row of the file (blank lines skipped), duplicates within the file found."""
    errors = Errors()
    rows: list[ImportRow] = []
    known: Known = {}
    total = len(raw_rows)
    for i, raw in enumerate(raw_rows):
        line = i + 2
        if "__width__" in raw:
            errors.items.append(
                RowError(
                    line, "", "row", "row-width", f"{raw['__width__']} values, not the header's"
                )
            )
        elif raw:
            parsed = parse_row(line, raw, product, today, errors, known)
            if parsed is not None:
                rows.append(parsed)
        if progress and (i % 500 == 0 or i == total - 1):
            progress(i + 1, total)
    find_duplicates(rows, errors)
    return rows, errors


def lot_key(r: ImportRow) -> tuple[str, date, str]:
    """What makes two records the same lot whatever their ids: subject, day 0, source."""
    return (r.subject_id, r.day0, r.source)


def find_duplicates(rows: list[ImportRow], errors: Errors) -> None:
    by_id: dict[str, int] = {}
    by_key: dict[tuple[str, date, str], int] = {}
    for r in rows:
        lot = r.lot_number or r.lot_id
        if lot in by_id:
            errors.items.append(
                RowError(
                    r.line, r.lot_id, "lot_id", "duplicate-lot-id", f"also in row {by_id[lot]}"
                )
            )
        else:
            by_id[lot] = r.line
        key = lot_key(r)
        if key in by_key:
            errors.items.append(
                RowError(
                    r.line,
                    r.lot_id,
                    "lot_id",
                    "duplicate-lot",
                    f"the same lot (subject {r.subject_id}, day 0 {r.day0}, {r.source}) is also "
                    f"in row {by_key[key]}",
                )
            )
        else:
            by_key[key] = r.line


__all__ = [
    "BASE_COLUMNS",
    "EARLIEST_DAY0",
    "LIVE_DAYS",
    "Errors",
    "ImportRejected",
    "ImportRow",
    "RowError",
    "check_historical_day0",
    "lot_key",
    "parse_rows",
    "read_table",
]
