"""The reports' SQL (Core, no ORM): per-lot rows for the tables, grouped outcome inputs for the
success rate, and day histograms for the time summary.

Nothing here imports pandas. The success rate never brings one row per lot into Python: lots
are grouped in SQL by everything their outcome depends on (state, termination cause, harvest day,
whether the CAR+ viable cells reach the target dose, the failing and the pending tests, the
spec) and by the strata asked for; ``mfg.domain.outcome.decide`` is then called once per group.
The target dose of each (spec, dose level, weight) comes from ``mfg.domain.dose`` and is joined
in as a small table of values, so SQL only compares it with the harvest's CAR+ viable cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from mfg.domain import dose
from mfg.domain.specs import Product
from mfg.store.bulk import insert_rows, select_rows
from mfg.store.tables import Disposition, Harvest, Lot, ReleaseResult, Subject
from mfg.store.types import unreadable

ProductLoader = Callable[[str, str], Product]

_lot, _subj, _hv = Lot.__table__, Subject.__table__, Harvest.__table__  # type: ignore[attr-defined]
_rr, _disp = ReleaseResult.__table__, Disposition.__table__  # type: ignore[attr-defined]


LotIds = tuple[int, int]  # a range of lot ids, both ends included


def _open_results(lot_ids: LotIds | None = None) -> Any:
    """Per lot, the current failing and pending test codes as comma-joined text (no order)."""
    r = _rr
    query = (
        select(
            r.c.lot_pk,
            func.aggregate_strings(
                case((r.c.evaluation == "fail", r.c.test_code), else_=None), ","
            ).label("fail_codes"),
            func.aggregate_strings(
                case((r.c.evaluation == "pending", r.c.test_code), else_=None), ","
            ).label("pending_codes"),
        )
        .where(r.c.evaluation.in_(("fail", "pending")), r.c.superseded_by_id.is_(None))
        .group_by(r.c.lot_pk)
    )
    if lot_ids is not None:
        query = query.where(r.c.lot_pk.between(*lot_ids))
    return query.subquery("res")


def _first_disposition() -> Any:
    d = _disp
    return (
        select(
            d.c.lot_pk,
            func.min(d.c.decided_at).label("disposition_at"),
            func.max(case((d.c.exception, 1), else_=0)).label("exception"),
        )
        .group_by(d.c.lot_pk)
        .subquery("disp")
    )


def _current_harvest() -> ColumnElement[bool]:
    return and_(_hv.c.lot_pk == _lot.c.id, _hv.c.superseded_by_id.is_(None))


def lot_query() -> Select[Any]:
    """Every lot with its subject, current harvest, non-passing current results (aggregated per
    lot in SQL: only ``fail`` / ``pending`` rows leave the database) and dispositions."""
    lt, s, h = _lot, _subj, _hv
    res, disp = _open_results(), _first_disposition()
    return (
        select(
            lt.c.lot_number,
            lt.c.product_code,
            lt.c.spec_version,
            lt.c.source,
            lt.c.day0,
            lt.c.state,
            lt.c.termination_cause,
            s.c.subject_id,
            s.c.site,
            s.c.indication,
            s.c.weight_kg,
            s.c.dose_level,
            h.c.harvested_on,
            h.c.total_viable_cells,
            h.c.car_pct,
            res.c.fail_codes,
            res.c.pending_codes,
            disp.c.disposition_at,
            disp.c.exception,
        )
        .select_from(lt)
        .join(s, s.c.id == lt.c.subject_pk)
        .outerjoin(h, _current_harvest())
        .outerjoin(res, res.c.lot_pk == lt.c.id)
        .outerjoin(disp, disp.c.lot_pk == lt.c.id)
    )


def fetch_rows(conn: Connection, query: Select[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and plain tuples, straight from the DB-API cursor (no result processing)."""
    return list(query.selected_columns.keys()), select_rows(conn, query)


# ---------------------------------------------------------------------------------------------
# The success rate: lots grouped by their outcome inputs


def _days_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    days: ColumnElement[Any] = later - earlier  # PostgreSQL: date - date is a number of days
    return days


def stratum(dialect: str, key: str) -> ColumnElement[Any]:
    """The SQL expression of one stratum key (``definitions.STRATA``)."""
    day0 = _lot.c.day0
    if key == "quarter":  # "2025-Q3", as the lot table shows it
        if dialect == "sqlite":
            month = cast(func.strftime("%m", day0), Integer)
            return func.strftime("%Y", day0) + "-Q" + cast((month + 2) // 3, String)
        year = cast(cast(func.extract("year", day0), Integer), String)
        return year + "-Q" + cast(cast(func.extract("quarter", day0), Integer), String)
    column: ColumnElement[Any]
    if key == "source":
        column = _lot.c.source
    else:
        by_key = {"dose_level": _subj.c.dose_level, "site": _subj.c.site}
        column = by_key.get(key, _subj.c.indication)
    return column


# (spec, dose level, weight) -> target dose: a temporary table with a primary key, so that each
# lot finds its target by index (a VALUES list would be scanned once per lot). Created inside
# the report's read transaction, which ends with a rollback: it never outlives the report.
# SQLite keeps it WITHOUT ROWID, the rows in the key's own B-tree: one look-up per lot instead of
# the key's index and then the row (a half's grouped query at 100,000 lots in sqlite3: 232 ->
# 218 ms, medians of 7).
_targets = Table(
    "report_targets",
    MetaData(),
    Column("t_code", String, primary_key=True),
    Column("t_version", String, primary_key=True),
    Column("t_level", String, primary_key=True),
    Column("t_weight", Float, primary_key=True),
    Column("t_target", BigInteger, nullable=False),
    Column("t_first", Integer, nullable=False),  # the harvest window of the spec
    Column("t_last", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    sqlite_with_rowid=False,
)


# What the targets are worked out for, each read from an index alone (``ix_lot_spec``,
# ``ix_subject_dose``; migration 0007): on SQLite a scan of the tables, 54 ms at 100,000 lots.
SPECS_PRESENT = select(_lot.c.product_code, _lot.c.spec_version).distinct()
PEOPLE_PRESENT = select(_subj.c.dose_level, _subj.c.weight_kg).distinct()


def target_rows(conn: Connection, products: ProductLoader) -> list[dict[str, Any]]:
    """The target dose from ``mfg.domain.dose`` for every (spec, dose level, weight) present (a
    few thousand rows), with the spec's harvest window."""
    specs = conn.execute(SPECS_PRESENT).all()
    people = conn.execute(PEOPLE_PRESENT).all()
    rows: list[dict[str, Any]] = []
    for code, version in specs:
        product = products(code, version)
        for level, weight in people:
            if level in product.dose_levels:
                target = dose.target_dose_cells(product, level, weight)
                rows.append(
                    {
                        "t_code": code,
                        "t_version": version,
                        "t_level": level,
                        "t_weight": weight,
                        "t_target": target,
                        "t_first": product.window_first_day,
                        "t_last": product.window_last_day,
                    }
                )
    return rows


def target_table(conn: Connection, rows: list[dict[str, Any]]) -> Any:
    """``report_targets`` on ``conn`` (a temporary table: each connection has its own), filled
    with ``rows`` (``target_rows``)."""
    _targets.drop(conn, checkfirst=True)
    _targets.create(conn)
    insert_rows(conn, _targets, rows)
    return _targets


def lot_id_span(conn: Connection) -> LotIds | None:
    """The smallest and largest lot id (None: no lots): by the primary key, no scan."""
    lo, hi = conn.execute(select(func.min(_lot.c.id), func.max(_lot.c.id))).one()
    return None if lo is None else (int(lo), int(hi))


def outcome_groups(
    conn: Connection,
    targets: list[dict[str, Any]],
    by: Sequence[str],
    lot_ids: LotIds | None = None,
) -> list[Any]:
    """One row per distinct (strata..., outcome inputs) with its number of lots ``n``, over the
    lots whose id is in ``lot_ids`` (None: every lot); ``targets`` from ``target_rows``.

    The inputs: state, termination cause, harvest day, dose met (NULL: no harvest or no target
    for the lot's dose level), the window of the lot's spec (NULL with the target: a decision
    that needs the window always has a target), failing and pending test codes."""
    lt, s, h, dialect = _lot, _subj, _hv, conn.dialect.name
    res, t = _open_results(lot_ids), target_table(conn, targets)
    # CAR+ viable cells = floor(total x CAR% / 100) reach an integer target exactly when the
    # unfloored product does; the target itself is the domain's.
    car = h.c.total_viable_cells * h.c.car_pct / 100.0
    dose_met = case(
        (h.c.id.is_(None) | t.c.t_target.is_(None), literal(None)),
        (car >= t.c.t_target, literal(1)),
        else_=literal(0),
    )
    keys = [stratum(dialect, k).label(k) for k in by]
    inputs = [
        t.c.t_first,
        t.c.t_last,
        lt.c.state,
        lt.c.termination_cause,
        _days_between(dialect, h.c.harvested_on, lt.c.day0).label("harvest_day"),
        dose_met.label("dose_met"),
        res.c.fail_codes,
        res.c.pending_codes,
    ]
    query = (
        select(*keys, *inputs, func.count().label("n"))
        .select_from(lt)
        .join(s, s.c.id == lt.c.subject_pk)
        .outerjoin(h, _current_harvest())
        .outerjoin(res, res.c.lot_pk == lt.c.id)
        .outerjoin(
            t,
            and_(
                t.c.t_code == lt.c.product_code,
                t.c.t_version == lt.c.spec_version,
                t.c.t_level == s.c.dose_level,
                t.c.t_weight == s.c.weight_kg,
            ),
        )
        .group_by(*keys, *inputs)
    )
    if lot_ids is not None:
        query = query.where(lt.c.id.between(*lot_ids))
    return list(conn.execute(query).all())


# ---------------------------------------------------------------------------------------------
# Days from day 0 to the first disposition (the time summary; the harvest days are a key of
# the outcome groups)


def disposition_days(
    conn: Connection, zone: tzinfo, lot_ids: LotIds | None = None
) -> list[tuple[int, int]]:
    """(days from day 0 to the first disposition's date in the site's zone, lots), over the
    lots whose id is in ``lot_ids`` (None: every lot)."""
    first_q = select(_disp.c.lot_pk, func.min(_disp.c.decided_at).label("at")).group_by(
        _disp.c.lot_pk
    )
    if lot_ids is not None:
        first_q = first_q.where(_disp.c.lot_pk.between(*lot_ids))
    first = first_q.subquery("first_disp")
    if conn.dialect.name == "sqlite":
        at = _disp.c.decided_at
        span = conn.execute(select(func.min(at), func.max(at))).one()
        # the wall-clock day of a stored UTC time: one julianday() with the zone's shift
        local_day = func.julianday(
            first.c.at, _sqlite_shift(first.c.at, zone, span), "start of day"
        )
        days = cast(local_day - func.julianday(_lot.c.day0), Integer).label("days")
    else:
        local = cast(func.timezone(str(zone), first.c.at), _date_type())
        days = _days_between(conn.dialect.name, local, _lot.c.day0).label("days")
    query = (
        select(days, func.count())
        .select_from(first.join(_lot, _lot.c.id == first.c.lot_pk))
        .group_by(days)
    )
    return [(int(d), int(n)) for d, n in conn.execute(query)]


def _date_type() -> Any:
    from sqlalchemy import Date

    return Date()


def _sqlite_shift(at: Any, zone: tzinfo, span: Any) -> ColumnElement[Any]:
    """SQLite keeps UTC without a zone: the ``date()`` modifier that moves a stored UTC time to
    the site's wall clock, one offset per stretch between the zone's transitions."""
    lo, hi = (_parse_utc(x) for x in span)
    if lo is None or hi is None:
        return literal("+0 seconds")
    segments = utc_offsets(zone, lo, hi)
    # In time order: the last stretch whose start is <= at applies.
    whens = [
        (at >= literal(start.strftime("%Y-%m-%d %H:%M:%S.%f"), String), literal(mod))
        for start, mod in reversed(segments[1:])
    ]
    if not whens:
        return literal(segments[0][1])
    return case(*whens, else_=literal(segments[0][1]))


def _parse_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    except ValueError:
        raise unreadable(value, "time") from None


def utc_offsets(zone: tzinfo, lo: datetime, hi: datetime) -> list[tuple[datetime, str]]:
    """(UTC start, ``'+N seconds'``) for each stretch of constant UTC offset of ``zone`` between
    ``lo`` and ``hi`` (daily steps, each change found to the second by bisection)."""

    def offset(ts: int) -> int:
        delta = datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    start, end = int(lo.timestamp()), int(hi.timestamp()) + 1
    out = [(start, offset(start))]
    t = start
    while t < end:
        nxt = min(t + 86_400, end)
        if offset(nxt) != out[-1][1]:
            a, b = t, nxt  # offset(a) is the current one, offset(b) is not
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == out[-1][1] else (a, mid)
            out.append((b, offset(b)))
        t = nxt
    return [(datetime.fromtimestamp(ts, UTC), f"{off:+d} seconds") for ts, off in out]
