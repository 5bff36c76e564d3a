"""The rule language of ``mfg.records`` (what a stored column must equal), and the check that
the declaration covers the schema.

Rules (what the stored value must equal):

- ``val("k", ...)``: the newest value the record's events carried under key ``k`` of ``new``
  (dotted for nested: ``signature.username``); compared only where the trail recorded it.
- ``BY``, ``AT``, ``LOT``: user, time, lot number of the event that created the record
  (``LOT`` on a ``lot_pk`` column compares the referenced lot's number).
- ``REASON``: the reason of the event that created the record; ``CORRECTION``: that reason
  when the record was created by a correction, else nothing.
- ``last("by"|"at"|"reason"|"new.k", *actions, cleared_by=...)``: of the newest event among
  ``actions`` (None if none, or if an event of ``cleared_by`` came after it); ``new.k`` is key
  ``k`` of that event's ``new`` (not compared when that event did not carry it).
- ``NONE``: the stored value must be empty (a fallback: what the trail did not record, the
  service never wrote).
- ``ref(table, column, rule)``: the referenced row's ``column`` equals what ``rule`` expects.
- ``SUPERSEDES``, ``SUPERSEDED_BY``: the correction links the trail recorded.
- ``check(name, why)``: a computed check in ``mfg.integrity.CHECKS`` (content and file hashes).
- ``ev("by"|"at"|"action"|"new.k"|"old.k")``: for rows that each mirror one event of their
  parent (custody events), that event's field.
- ``exempt(why)``: not compared, and why that is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Rule:
    """How a column's stored value is checked (see the module docstring)."""


@dataclass(frozen=True)
class Val(Rule):
    keys: tuple[str, ...]
    via: str = ""  # transform of the STORED value before comparing: sha256 | list | json
    fallback: Rule | None = None  # when the trail did not record any of ``keys``


@dataclass(frozen=True)
class Meta(Rule):
    what: str  # by | at | lot | reason | correction | supersedes | superseded_by | none
    # | reason_if:ACTION


@dataclass(frozen=True)
class Last(Rule):
    what: str  # by | at | reason | new.<key>
    actions: tuple[str, ...]
    cleared_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ref(Rule):
    table: str
    column: str
    rule: Rule


@dataclass(frozen=True)
class Check(Rule):
    name: str
    why: str


@dataclass(frozen=True)
class Ev(Rule):
    path: str


@dataclass(frozen=True)
class Exempt(Rule):
    why: str


def val(*keys: str, via: str = "", fallback: Rule | None = None) -> Val:
    return Val(keys, via, fallback)


def last(what: str, *actions: str, cleared_by: tuple[str, ...] = ()) -> Last:
    return Last(what, actions, cleared_by)


def ref(table: str, column: str, rule: Rule) -> Ref:
    return Ref(table, column, rule)


def check(name: str, why: str) -> Check:
    return Check(name, why)


def ev(path: str) -> Ev:
    return Ev(path)


def exempt(why: str) -> Exempt:
    return Exempt(why)


BY, AT, LOT = Meta("by"), Meta("at"), Meta("lot")
REASON, CORRECTION, NONE = Meta("reason"), Meta("correction"), Meta("none")
SUPERSEDES, SUPERSEDED_BY = Meta("supersedes"), Meta("superseded_by")
SURROGATE = exempt("surrogate key: records are matched by their natural key and links checked")
VERSION = exempt("optimistic-locking counter: bumped by every audited change, meaning nothing")


@dataclass(frozen=True)
class Record:
    """One table: which audit events describe its rows, and a rule for every column."""

    table: str
    entity: str  # AuditEvent.entity ("" when no event names these rows)
    key: str  # how a row is named in events: a column, or a key in mfg.integrity.KEYS
    columns: dict[str, Rule]
    creates: frozenset[str] = frozenset()
    label: str = ""
    # rows the trail does not create one by one (dose bags come with their harvest)
    untracked: dict[str, object] | None = None
    # each row mirrors one event of its parent, in order (custody events of a bag)
    per_event: str = ""  # prefix of those events' actions
    # each row mirrors one ``action`` event that carried ``key`` in ``new`` (password history:
    # one row per change), named "<entity id>@<time>"; ``before.k`` is the parent's value of k
    # just before that event
    mirrors: tuple[str, str] | None = None
    exempt_why: str = ""  # the whole table is not checked, and why
    # a check of the table's rows together (``recordcomputed.TABLE_CHECKS``): what no single
    # row shows, e.g. a harvest's dose bags deleted or renumbered
    table_check: str = ""

    @property
    def name(self) -> str:
        return self.label or self.entity or self.table


@dataclass
class Coverage:
    """What the declaration misses for the tables in the schema (tested)."""

    missing: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.missing.append(text)


def coverage(schema: dict[str, list[str]], by_table: dict[str, Record]) -> Coverage:
    """``schema``: table -> its columns. Each table and column not declared, with what to add."""
    out = Coverage()
    for table, columns in sorted(schema.items()):
        rec = by_table.get(table)
        if rec is None:
            out.add(
                f"table {table} is not declared: add Record({table!r}, <audit entity>, <key>, "
                f"{{...a rule or exempt('why') for each column...}}) to RECORDS in "
                "mfg/records.py"
            )
            continue
        if rec.exempt_why:
            continue
        for column in columns:
            if column not in rec.columns:
                out.add(
                    f"column {table}.{column} is neither checked nor exempted: add "
                    f'"{column}": val("<event key>") or exempt("<why>") to the '
                    f"{table!r} Record in mfg/records.py"
                )
        for column in rec.columns:
            if column not in columns:
                out.add(f"mfg/records.py declares {table}.{column}, which the table lacks")
    return out
