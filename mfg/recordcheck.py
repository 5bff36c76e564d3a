"""The rules of ``mfg.records`` evaluated on the stored rows (for ``mfg.integrity``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlmodel import Session

from mfg import audit
from mfg.recordcomputed import CHECKS, TABLE_CHECKS, check_per_event
from mfg.recordrows import SPECIAL_KEYS, Tables, _key, _load, _path, _same, _show, _via
from mfg.recordrules import Check, Ev, Exempt, Last, Meta, Record, Ref, Rule, Val
from mfg.records import RECORDS
from mfg.store import bulk
from mfg.trailfold import MISSING, SKIP, Folded, RecordProblem, Trail, fold

__all__ = ["CHECKS", "check_records", "check_table", "expected"]


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
        return _last(rule, rec)
    if isinstance(rule, Ref):
        return expected(rule.rule, rec, row, t)
    return SKIP


_LAST_FIELD = {"by": 0, "at": 1, "reason": 2}


def _last(rule: Last, rec: Folded) -> Any:
    """The field of the newest event among ``rule.actions`` (None if there is none, or if an
    event of ``rule.cleared_by`` came after it; SKIP if it did not carry ``new.<key>``)."""
    acts = rec.acts
    newest = max(
        ((acts[a][3], a) for a in rule.actions + rule.cleared_by if a in acts), default=None
    )
    if newest is None or newest[1] not in rule.actions:
        return None
    by, at, reason, _seq, new = acts[newest[1]]
    if rule.what in _LAST_FIELD:
        return (by, at, reason)[_LAST_FIELD[rule.what]]
    key = rule.what.removeprefix("new.")
    return new[key] if isinstance(new, dict) and key in new else SKIP


def _meta(what: str, rec: Folded) -> Any:
    c = rec.created
    if what in ("supersedes", "superseded_by"):
        v = rec.supersedes if what == "supersedes" else rec.superseded_by
        return None if v is MISSING else v
    if what == "none":
        return None
    if c is None:
        return SKIP
    by, at, reason, _action, lot = c
    if what == "correction":
        return reason if rec.correction else None
    if what.startswith("reason_if:"):  # the reason, when the record was made by that action
        return reason if not rec.correction and _action == what.split(":", 1)[1] else SKIP
    return {"by": by, "at": at, "reason": reason, "lot": lot}[what]


Plan = list[tuple[str, Callable[[Folded, Any], Any], Callable[[Any], Any], bool]]


@dataclass
class _Compiled:
    """A table's rules sorted by how they are evaluated, built once per table: ``values``
    (column, key) compare ``rec.values[key]`` with the stored column, ``created`` (column,
    index) a field of the creating event, ``links``/``lots``/``corrections``/``lasts`` the
    rules most rows have (a release result has all four), ``other`` every remaining rule
    through functions; ``checks`` the computed checks. All but ``other`` and ``checks`` are
    evaluated inline: no call per column (two calls per column were ~1.5 s of a verify of
    300,000 events, 240,000 of them release results)."""

    values: list[tuple[str, str]]
    created: list[tuple[str, int]]
    other: Plan
    checks: list[str]
    order: dict[str, int]  # declaration order: a record's problems are listed in it
    # also inline: a correction's links (column, "supersedes"/"superseded_by"), the lot by
    # creation (columns), a correction's reason (columns), the newest event's field (Last rules)
    links: list[tuple[str, str]] = field(default_factory=list)
    lots: list[str] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)
    # Last rules: (column, action, index, None) for one action cleared by none naming
    # by/at/reason (inline), else (column, "", 0, rule) through ``_last``
    lasts: list[tuple[str, str, int, Last | None]] = field(default_factory=list)
    # ``values`` and ``created`` compared whole first (two tuples, in C): ``a == b`` implies
    # ``_same(a, b)`` (``_norm`` changes only dates, times and enums, which never equal JSON
    # values), so only a record that differs somewhere goes column by column
    whole: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
    whole_created: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
    lot_numbers: dict[Any, Any] = field(default_factory=dict)  # for ``lots``: pk -> number

    def seal(self) -> _Compiled:
        if self.values:
            self.whole = (
                itemgetter(*(c for c, _ in self.values)),
                itemgetter(*(k for _, k in self.values)),
            )
        if self.created:
            self.whole_created = (
                itemgetter(*(c for c, _ in self.created)),
                itemgetter(*(i for _, i in self.created)),
            )
        return self


def _want_fn(rule: Rule, t: Tables) -> Callable[[Folded, Any], Any]:
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


_CREATED = ("by", "at", "reason", "action", "lot")


def _plan(rec_: Record, t: Tables) -> _Compiled:
    """Each compared column, sorted as ``_Compiled`` says."""
    out = _Compiled([], [], [], [], {c: i for i, c in enumerate(rec_.columns)})
    for column, rule in rec_.columns.items():
        if isinstance(rule, Exempt | Ev):
            continue
        if isinstance(rule, Check):
            if rule.name not in out.checks:
                out.checks.append(rule.name)
        elif (
            isinstance(rule, Val)
            and len(rule.keys) == 1
            and "." not in rule.keys[0]
            and not rule.fallback
            and not rule.via
        ):
            out.values.append((column, rule.keys[0]))
        elif isinstance(rule, Meta) and rule.what in ("by", "at", "reason"):
            out.created.append((column, _CREATED.index(rule.what)))
        elif isinstance(rule, Meta) and rule.what in ("supersedes", "superseded_by"):
            out.links.append((column, rule.what))
        elif isinstance(rule, Meta) and rule.what == "lot":
            out.lots.append(column)
            out.lot_numbers = t.lot_numbers()
        elif isinstance(rule, Meta) and rule.what == "correction":
            out.corrections.append(column)
        elif (
            isinstance(rule, Last)
            and len(rule.actions) == 1
            and not rule.cleared_by
            and rule.what in _LAST_FIELD
        ):
            out.lasts.append((column, rule.actions[0], _LAST_FIELD[rule.what], None))
        elif isinstance(rule, Last):
            out.lasts.append((column, "", 0, rule))
        else:
            want = (
                (lambda rec, row: SKIP if rec.created is None else rec.created[4])
                if isinstance(rule, Meta) and rule.what == "lot"
                else _want_fn(rule, t)
            )
            out.other.append((column, want, _stored_fn(rule, column, t), isinstance(rule, Meta)))
    return out.seal()


_LINKS = ("supersedes_id", "superseded_by_id")


def _compare(
    rec_: Record, key: str, row: Any, rec: Folded, t: Tables, plan: _Compiled
) -> list[RecordProblem]:
    out: list[RecordProblem] = []
    values = rec.values
    whole = plan.whole
    same = False
    if whole is not None:
        try:  # not contextlib.suppress: a context manager per row cost ~0.1 s a verify
            same = whole[0](row) == whole[1](values)
        except KeyError:  # the trail did not record one of them: column by column
            same = False
    for column, k in () if same else plan.values:
        want = values.get(k, SKIP)
        if want is SKIP:
            continue
        got = row[column]
        if (got == want and type(got) is type(want)) or _same(got, want):
            continue
        out.append(_differs(rec_, key, column, got, want, rec.last_seq))
    created = rec.created
    whole = plan.whole_created
    if created is not None and not (whole is not None and whole[0](row) == whole[1](created)):
        for column, i in plan.created:
            want = created[i]
            got = row[column]
            if (got == want and type(got) is type(want)) or _same(got, want):
                continue
            out.append(_differs(rec_, key, column, got, want, rec.created_seq))
    if created is not None:
        for column in plan.lots:  # the lot the record was created under
            want = created[4]
            got = plan.lot_numbers.get(row[column])
            if (got == want and type(got) is type(want)) or _same(got, want):
                continue
            out.append(_differs(rec_, key, column, got, want, rec.created_seq))
        for column in plan.corrections:  # the reason of the correction that made it
            want = created[2] if rec.correction else None
            got = row[column]
            if (got == want and type(got) is type(want)) or _same(got, want):
                continue
            out.append(_differs(rec_, key, column, got, want, rec.created_seq))
    for column, what in plan.links:  # which record it supersedes / is superseded by
        v = rec.supersedes if what == "supersedes" else rec.superseded_by
        want = None if v is MISSING or v is None else str(v)
        if want is None and rec.loose_links:
            continue
        got = row[column]
        if got is not None:
            got = str(got)
        if got == want:
            continue
        out.append(_differs(rec_, key, column, got, want, rec.created_seq))
    for column, action, i, last in plan.lasts:  # a field of the newest event of some actions
        if last is None:  # one action, cleared by none: by/at/reason of the newest such event
            act = rec.acts.get(action)
            want = None if act is None else act[i]
        else:
            want = _last(last, rec)
        _compare_one(out, rec_, key, column, row[column], want, rec.last_seq)
    for column, want_fn, stored_fn, from_creation in plan.other:
        want = want_fn(rec, row)
        if want is SKIP or (want is None and rec.loose_links and column in _LINKS):
            continue
        got = stored_fn(row)
        if (got == want and type(got) is type(want)) or _same(got, want):
            continue
        seq = rec.created_seq if from_creation else rec.last_seq
        out.append(_differs(rec_, key, column, got, want, seq))
    if len(out) > 1:  # the columns' declaration order (they were compared grouped by kind)
        out.sort(key=lambda p: plan.order[p.problem.split(" ", 1)[0]])
    for name in plan.checks:
        out += [RecordProblem(rec_.name, key, p) for p in CHECKS[name](row, rec, t)]
    return out


def _compare_one(
    out: list[RecordProblem], rec_: Record, key: str, column: str, got: Any, want: Any, seq: int
) -> None:
    """``got`` against ``want`` (nothing to compare with when SKIP), a problem appended."""
    if want is SKIP or (got == want and type(got) is type(want)) or _same(got, want):
        return
    out.append(_differs(rec_, key, column, got, want, seq))


def _differs(rec_: Record, key: str, column: str, got: Any, want: Any, seq: int) -> RecordProblem:
    return RecordProblem(
        rec_.name,
        key,
        f"{column} is {_show(got)} but the audit trail recorded {_show(want)} "
        f"(event {seq}): changed outside CellTrail",
    )


def check_table(rec_: Record, trail: Trail, t: Tables) -> tuple[list[RecordProblem], int]:
    if rec_.per_event:
        return check_per_event(rec_, trail, t)
    problems: list[RecordProblem] = []
    rows = t.rows[rec_.table]
    plan = _plan(rec_, t)
    present = set()
    column = None if rec_.key in SPECIAL_KEYS else rec_.key  # else: the key is that column
    records = trail.records
    entity, untracked = rec_.entity, rec_.untracked
    for row in rows:
        key = _key(rec_, row, t) if column is None else str(row[column])
        present.add(key)
        rec = records.get((entity, key)) if entity else Folded()
        if untracked is not None:
            rec = rec or Folded()
            rec.values = {**untracked, **rec.values}
        elif entity and (rec is None or rec.created is None):
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
        for key, rec in trail.of_entity(rec_.entity):
            if key in present or rec.created is None:
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
    if rec_.table_check:
        problems += TABLE_CHECKS[rec_.table_check](rec_, rows, trail, t)
    problems.sort(key=lambda p: _sort_key(p.record))
    return problems, len(rows)


def _sort_key(key: str) -> tuple[int, str]:
    # ASCII digits only: "²".isdigit() is true and int() refuses it (a key edited in SQL)
    return (int(key), "") if key.isascii() and key.isdigit() else (0, key)


# What a value CellTrail never writes (edited in SQL: text in a number column, a list where an
# id was, nesting past Python's recursion) raises in a check written for CellTrail's values.
# Verify fails closed: the check that stopped is named, never passed.
UNREADABLE = (TypeError, ValueError, KeyError, AttributeError, RecursionError)


def stopped(e: BaseException) -> str:
    return (
        f"the check stopped on a value CellTrail never writes ({type(e).__name__}): "
        "changed outside CellTrail"
    )


def check_records(
    session: Session,
    product_hash: Callable[[str, str], str | None] | None = None,
    events: Iterable[list[Any]] | None = None,
) -> tuple[list[RecordProblem], int]:
    """Every row of every declared table against the trail: (problems, records checked).

    ``product_hash(code, version)``: the SHA-256 of the product file in use for that spec
    version (None when there is none), to check the pins against. ``events``: the whole trail
    from event 1 in batches (``audit.event_batches``), when the caller reads it anyway (the
    chain check walks the same batches); read here when not given.
    """
    conn = session.connection()
    problems: list[RecordProblem] = []
    checked = 0
    with bulk.no_cyclic_gc():
        trail = fold(audit.event_batches(conn) if events is None else events)
        t = _load(conn)
        t.product_hash = product_hash
        t.__dict__["_spec_hashes"] = trail.spec_hashes
        for rec in RECORDS:
            if rec.exempt_why:
                continue
            try:
                p, n = check_table(rec, trail, t)
            except UNREADABLE as e:  # a value CellTrail never writes: fail closed, say where
                p, n = [RecordProblem(rec.name or rec.entity, "(table)", stopped(e))], 0
            problems += p
            checked += n
    return problems, checked
