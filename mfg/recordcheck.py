"""The rules of ``mfg.records`` evaluated on the stored rows (for ``mfg.integrity``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Date, DateTime, Table
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from mfg import audit
from mfg.records import RECORDS, Check, Ev, Exempt, Last, Meta, Record, Ref, Rule, Val
from mfg.store.types import UTCDateTime
from mfg.trailfold import MISSING, SKIP, Folded, RecordProblem, Trail, fold

# -- the tables ---------------------------------------------------------------------------------


@dataclass
class Tables:
    """Every declared table's rows (plain mappings), and the lookups the rules need."""

    rows: dict[str, list[Any]]
    product_hash: Callable[[str, str], str | None] | None = None

    def by_id(self, table: str) -> dict[Any, Any]:
        cache = self.__dict__.setdefault("_by_id", {})
        if table not in cache:
            cache[table] = {r["id"]: r for r in self.rows.get(table, [])}
        return cache[table]  # type: ignore[no-any-return]

    def lot_number(self, pk: Any) -> Any:
        row = self.by_id("lot").get(pk)
        return None if row is None else row["lot_number"]


def _load(conn: Connection) -> Tables:
    import mfg.store.tables  # noqa: F401  (registers every table)

    rows: dict[str, list[Any]] = {}
    for rec in RECORDS:
        if rec.exempt_why:
            continue
        table: Table = SQLModel.metadata.tables[rec.table]
        keys = [c.name for c in table.columns]
        times = [
            i
            for i, c in enumerate(table.columns)
            if isinstance(c.type, (DateTime, Date, UTCDateTime))
        ]
        # Plain DB-API values (no per-value type processing); times as ISO text, the way the
        # trail records them (SQLite stores text, PostgreSQL gives date/datetime objects).
        cols = ", ".join(f'"{k}"' for k in keys)
        raw = conn.exec_driver_sql(f'SELECT {cols} FROM "{rec.table}"').all()
        out = []
        for r in raw:
            d = dict(zip(keys, r, strict=True))
            for i in times:
                d[keys[i]] = _iso_time(r[i])
            out.append(d)
        rows[rec.table] = out
    return Tables(rows)


def _iso_time(v: Any) -> Any:
    """A stored date or time as the trail writes it: ``2026-11-25``, ``...T09:30:00.000000Z``."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if len(v) == 10 else f"{v[:10]}T{v[11:26]}Z"
    if isinstance(v, datetime):
        return _norm(v)
    return v.isoformat()


def _key(rec: Record, row: Any, t: Tables) -> str:
    if rec.key == "spec":
        return f"{row['product_code']}/{row['spec_version']}"
    if rec.key == "bag":
        return f"{t.lot_number(row['lot_pk'])}/B{row['bag_no']}"
    if rec.key == "bag_of_event":
        bag = t.by_id("dosebag").get(row["bag_pk"]) or {"lot_pk": None, "bag_no": "?"}
        return f"{t.lot_number(bag['lot_pk'])}/B{bag['bag_no']}"
    if rec.key == "signature":
        cite = t.__dict__.setdefault(
            "_cites", {d["signature_pk"]: d["id"] for d in t.rows.get("disposition", [])}
        )
        return str(cite.get(row["id"], f"(signature {row['id']}, cited by no disposition)"))
    return str(row[rec.key])


# -- comparing -------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A stored value as the trail stores it (JSON types)."""
    if isinstance(value, datetime):
        if value.utcoffset():  # stored UTC (UTCDateTime): the fast path below is exact
            return audit.iso_utc(value)
        return value.isoformat(timespec="microseconds")[:26] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _same(stored: Any, recorded: Any) -> bool:
    a = _norm(stored)
    if isinstance(a, bool) or isinstance(recorded, bool):
        if a is None or recorded is None:
            return a is recorded
        return bool(a) == bool(recorded)
    if isinstance(a, (int, float)) and isinstance(recorded, (int, float)):
        return float(a) == float(recorded)
    return bool(a == recorded)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return json.dumps(_norm(value), ensure_ascii=False, default=str)


def _via(how: str, stored: Any) -> Any:
    if how == "sha256":
        return None if stored is None else hashlib.sha256(str(stored).encode()).hexdigest()
    if how == "list":
        return [x.strip() for x in str(stored or "").split(",") if x.strip()]
    return stored


def _path(values: dict[str, Any], key: str) -> Any:
    cur: Any = values
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def expected(rule: Rule, rec: Folded, row: Any, t: Tables) -> Any:
    """What ``rule`` says the column must hold, or SKIP when the trail recorded nothing."""
    if isinstance(rule, Val):
        for k in rule.keys:
            v = _path(rec.values, k)
            if v is not MISSING:
                return v
        return SKIP if rule.fallback is None else expected(rule.fallback, rec, row, t)
    if isinstance(rule, Meta):
        return _meta(rule.what, rec)
    if isinstance(rule, Last):
        hits = [rec.acts[a] for a in rule.actions if a in rec.acts]
        if not hits:
            return None
        newest = max(hits, key=lambda h: h[1])
        return {"by": newest[0], "at": newest[1], "reason": newest[2]}[rule.what]
    if isinstance(rule, Ref):
        return expected(rule.rule, rec, row, t)
    return SKIP


def _meta(what: str, rec: Folded) -> Any:
    c = rec.created
    if what in ("supersedes", "superseded_by"):
        v = rec.supersedes if what == "supersedes" else rec.superseded_by
        return None if v is MISSING else v
    if c is None:
        return SKIP
    by, at, reason, _action, lot = c
    if what == "correction":
        return reason if rec.correction else None
    if what.startswith("reason_if:"):  # the reason, when the record was made by that action
        return reason if not rec.correction and _action == what.split(":", 1)[1] else SKIP
    return {"by": by, "at": at, "reason": reason, "lot": lot}[what]


def _stored(rule: Rule, column: str, row: Any, t: Tables) -> Any:
    value = row[column]
    if rule is LOT_RULE or (isinstance(rule, Meta) and rule.what == "lot"):
        return t.lot_number(value)
    if isinstance(rule, Ref):
        target = t.by_id(rule.table).get(value)
        return None if target is None else target[rule.column]
    if isinstance(rule, Val) and rule.via:
        return _via(rule.via, value)
    if (
        isinstance(rule, Meta)
        and rule.what in ("supersedes", "superseded_by")
        and value is not None
    ):
        return str(value)
    return value


LOT_RULE = Meta("lot")


Plan = list[tuple[str, Callable[[Folded, Any], Any], Callable[[Any], Any], bool]]


def _want_fn(rule: Rule, t: Tables) -> Callable[[Folded, Any], Any]:
    if (
        isinstance(rule, Val)
        and len(rule.keys) == 1
        and "." not in rule.keys[0]
        and not rule.fallback
    ):
        k = rule.keys[0]
        return lambda rec, row: rec.values.get(k, SKIP)
    if isinstance(rule, Meta) and rule.what in ("by", "at", "lot", "reason"):
        i = ("by", "at", "reason", "action", "lot").index(rule.what)
        return lambda rec, row: SKIP if rec.created is None else rec.created[i]
    if isinstance(rule, Meta) and rule.what in ("supersedes", "superseded_by"):

        def link(rec: Folded, row: Any) -> Any:
            v = _meta(rule.what, rec)
            return None if v is None else str(v)

        return link
    return lambda rec, row: expected(rule, rec, row, t)


def _stored_fn(rule: Rule, column: str, t: Tables) -> Callable[[Any], Any]:
    if isinstance(rule, Meta) and rule.what == "lot":
        return lambda row: t.lot_number(row[column])
    if isinstance(rule, Ref):
        target, col_ = t.by_id(rule.table), rule.column

        def ref(row: Any) -> Any:
            hit = target.get(row[column])
            return None if hit is None else hit[col_]

        return ref
    if isinstance(rule, Val) and rule.via:
        via = rule.via
        return lambda row: _via(via, row[column])
    if isinstance(rule, Meta) and rule.what in ("supersedes", "superseded_by"):
        return lambda row: None if row[column] is None else str(row[column])
    return lambda row: row[column]


def _plan(rec_: Record, t: Tables) -> tuple[Plan, list[str]]:
    """Each compared column as (name, expected(rec, row), stored(row), from the creating
    event?) and the computed checks, built once per table."""
    plan: Plan = []
    checks: list[str] = []
    for column, rule in rec_.columns.items():
        if isinstance(rule, Exempt | Ev):
            continue
        if isinstance(rule, Check):
            if rule.name not in checks:
                checks.append(rule.name)
            continue
        plan.append(
            (column, _want_fn(rule, t), _stored_fn(rule, column, t), isinstance(rule, Meta))
        )
    return plan, checks


_LINKS = ("supersedes_id", "superseded_by_id")


def _compare(
    rec_: Record, key: str, row: Any, rec: Folded, t: Tables, plan: tuple[Plan, list[str]]
) -> list[RecordProblem]:
    out: list[RecordProblem] = []
    columns, checks = plan
    for column, want_fn, stored_fn, from_creation in columns:
        want = want_fn(rec, row)
        if want is SKIP or (want is None and rec_.loose_links and column in _LINKS):
            continue
        got = stored_fn(row)
        if (got == want and type(got) is type(want)) or _same(got, want):
            continue
        seq = rec.created_seq if from_creation else rec.last_seq
        out.append(
            RecordProblem(
                rec_.name,
                key,
                f"{column} is {_show(got)} but the audit trail recorded {_show(want)} "
                f"(event {seq}): changed outside CellTrail",
            )
        )
    for name in checks:
        out += [RecordProblem(rec_.name, key, p) for p in CHECKS[name](row, rec, t)]
    return out


def check_table(rec_: Record, trail: Trail, t: Tables) -> tuple[list[RecordProblem], int]:
    if rec_.per_event:
        return _check_per_event(rec_, trail, t)
    problems: list[RecordProblem] = []
    rows = t.rows[rec_.table]
    plan = _plan(rec_, t)
    present = set()
    for row in rows:
        key = _key(rec_, row, t)
        present.add(key)
        rec = trail.records.get((rec_.entity, key)) if rec_.entity else Folded()
        if rec_.untracked is not None:
            rec = rec or Folded()
            rec.values = {**rec_.untracked, **rec.values}
        elif rec_.entity and (rec is None or rec.created is None):
            problems.append(
                RecordProblem(
                    rec_.name,
                    key,
                    "exists but no audit event created it (inserted outside CellTrail)",
                )
            )
            continue
        assert rec is not None
        problems += _compare(rec_, key, row, rec, t, plan)
    if rec_.entity and rec_.creates:
        for (entity, key), rec in trail.records.items():
            if entity != rec_.entity or key in present or rec.created is None:
                continue
            if rec.created[3] in rec_.creates or (rec.correction and rec_.table != "signature"):
                problems.append(
                    RecordProblem(
                        rec_.name,
                        key,
                        f"the audit trail created it (event {rec.created_seq}) but it no longer "
                        "exists (deleted outside CellTrail)",
                    )
                )
    problems.sort(key=lambda p: _sort_key(p.record))
    return problems, len(rows)


def _check_per_event(rec_: Record, trail: Trail, t: Tables) -> tuple[list[RecordProblem], int]:
    """Rows that each mirror one event of their parent, in order (custody events of a bag)."""
    from mfg.domain.custody import STEPS

    leads_to = {a.value: target.value for a, (_from, target) in STEPS.items()}
    problems: list[RecordProblem] = []
    rows = sorted(t.rows[rec_.table], key=lambda r: r["id"])
    groups: dict[str, list[Any]] = {}
    for r in rows:
        groups.setdefault(_key(rec_, r, t), []).append(r)
    parents = {k for (e, k), f in trail.records.items() if e == rec_.entity and f.events}
    for bag in sorted(set(groups) | parents):
        folded = trail.records.get((rec_.entity, bag))
        events = (folded.events if folded else None) or []
        mine = groups.get(bag, [])
        for n, (row, evt) in enumerate(zip(mine, events, strict=False), 1):
            action, by, at, old, new, seq = evt
            want = {
                "action": action.removeprefix(rec_.per_event),
                "from_state": (old or {}).get("state"),
                "to_state": (new or {}).get("state"),
                "by": by,
                "at": at,
            }
            got = {
                **{k: row[k] for k in want},
                "action": leads_to.get(row["action"], row["action"]),
            }
            got["at"] = _norm(got["at"])
            details = _details_problem(row["details"], new)
            where = f"{row['id']} ({bag} step {n})"
            for k in want:
                if not _same(got[k], want[k]):
                    problems.append(
                        RecordProblem(
                            rec_.name,
                            where,
                            f"{k} is {_show(got[k])} but the audit trail recorded {_show(want[k])} (event {seq}): changed outside CellTrail",
                        )
                    )
            if details:
                problems.append(RecordProblem(rec_.name, where, f"{details} (event {seq})"))
        for row in mine[len(events) :]:
            problems.append(
                RecordProblem(
                    rec_.name,
                    str(row["id"]),
                    f"of {bag} exists but no audit event created it (inserted outside CellTrail)",
                )
            )
        for evt in events[len(mine) :]:
            problems.append(
                RecordProblem(
                    rec_.name,
                    f"{bag} step {events.index(evt) + 1}",
                    f"the audit trail recorded it (event {evt[5]}) but it no longer exists (deleted outside CellTrail)",
                )
            )
    return problems, len(rows)


def _details_problem(details: str, new: Any) -> str:
    try:
        stored = json.loads(details)
    except ValueError:
        return "details are not the JSON CellTrail wrote: changed outside CellTrail"
    if not isinstance(stored, dict) or not isinstance(new, dict):
        return ""
    for k, v in stored.items():
        if k in new and str(v) != str(new[k]) and not isinstance(new[k], (dict, list)):
            if isinstance(new[k], (int, float)) and _same(v, new[k]):
                continue
            return f"details.{k} is {_show(v)} but the audit trail recorded {_show(new[k])}: changed outside CellTrail"
        if k not in new:
            return f"details.{k} is not in the audit trail: changed outside CellTrail"
    return ""


# -- computed checks (named in mfg.records) ------------------------------------------------------


def _coa_content(row: Any, rec: Folded, t: Tables) -> list[str]:
    want = rec.values.get("content_sha256")
    try:
        got = hashlib.sha256(
            audit.canonical_json(json.loads(row["content_json"])).encode("utf-8")
        ).hexdigest()
    except ValueError:
        got = "(not JSON)"
    if want is None or got == want:
        return []
    return [
        f"content_json hashes to {got[:16]}... but coa.issued recorded content_sha256 "
        f"{str(want)[:16]}... (event {rec.created_seq}): the issued COA was rewritten"
    ]


def _coa_pdf(row: Any, rec: Folded, t: Tables) -> list[str]:
    want = rec.values.get("pdf_sha256")
    got = hashlib.sha256(bytes(row["pdf"] or b"")).hexdigest()
    if want is None or got == want:
        return []
    return [
        f"pdf hashes to {got[:16]}... but coa.issued recorded pdf_sha256 {str(want)[:16]}... "
        f"(event {rec.created_seq}): the issued PDF was replaced"
    ]


def _pin_recorded(row: Any, rec: Folded, t: Tables) -> list[str]:
    spec = (row["product_code"], row["spec_version"])
    recorded = t.__dict__.get("_spec_hashes", {}).get(spec)
    if recorded is None or recorded[0] == row["sha256"]:
        return []
    return [
        f"sha256 is {row['sha256'][:16]}... but the lots registered on it recorded spec_sha256 "
        f"{recorded[0][:16]}... (event {recorded[1]}): the pinned specification was changed"
    ]


def _pin_file(row: Any, rec: Folded, t: Tables) -> list[str]:
    if t.product_hash is None:
        return []
    now = t.product_hash(row["product_code"], row["spec_version"])
    if now is None or now == row["sha256"]:
        return []
    return [
        f"the product file in use for {row['product_code']} spec version {row['spec_version']} "
        f"has sha256 {now[:16]}..., the pin {row['sha256'][:16]}...: the specification file "
        "was changed after lots used it"
    ]


def _bag_from_harvest(row: Any, rec: Folded, t: Tables) -> list[str]:
    current = t.__dict__.setdefault(
        "_current_harvest",
        {
            h["lot_pk"]: h
            for h in sorted(t.rows.get("harvest", []), key=lambda h: h["id"])
            if h["superseded_by_id"] is None
        },
    )
    h = current.get(row["lot_pk"])
    if h is None:
        return ["exists but the lot has no harvest that made it (inserted outside CellTrail)"]
    bags = h["bag_count"] or 1
    want = {
        "bag_count": h["bag_count"],
        "volume_ml": h["bag_volume_ml"],
        "car_viable_cells": int(h["total_viable_cells"] * h["car_pct"] / 100) // bags,
    }
    out = []
    for k, v in want.items():
        if k == "car_viable_cells" and abs(row[k] - v) <= 1:
            continue
        if not _same(row[k], v):
            out.append(
                f"{k} is {_show(row[k])} but its harvest {h['id']} makes it {_show(v)}: changed outside CellTrail"
            )
    if row["bag_no"] > h["bag_count"]:
        out.append(f"bag_no {row['bag_no']} is beyond the harvest's {h['bag_count']} bags")
    return out


CHECKS: dict[str, Callable[[Any, Folded, Tables], list[str]]] = {
    "coa_content": _coa_content,
    "coa_pdf": _coa_pdf,
    "pin_recorded": _pin_recorded,
    "pin_file": _pin_file,
    "bag_from_harvest": _bag_from_harvest,
    "custody_details": lambda row, rec, t: [],
}


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


def check_records(
    session: Session, product_hash: Callable[[str, str], str | None] | None = None
) -> tuple[list[RecordProblem], int]:
    """Every row of every declared table against the trail: (problems, records checked).

    ``product_hash(code, version)``: the SHA-256 of the product file in use for that spec
    version (None when there is none), to check the pins against.
    """
    conn = session.connection()
    trail = fold(conn)
    t = _load(conn)
    t.product_hash = product_hash
    t.__dict__["_spec_hashes"] = trail.spec_hashes
    problems: list[RecordProblem] = []
    checked = 0
    for rec in RECORDS:
        if rec.exempt_why:
            continue
        p, n = check_table(rec, trail, t)
        problems += p
        checked += n
    return problems, checked
