"""The audit trail folded into the newest recorded state of every record (for mfg.integrity).

Read once, oldest event first, as plain rows (no ORM objects): one JSON decode per event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from mfg.domain.canonical import decode_json as decode
from mfg.recordrules import Last, Ref, Rule, Val
from mfg.records import RECORDS

MISSING: Any = object()
SKIP: Any = object()  # the trail recorded nothing to compare with
CORRECTION_KEY = "replaced_by"  # a correction event names the replacement record
# what an action implies without carrying it in ``new``
IMPLIED: dict[str, dict[str, Any]] = {
    "user.added": {"locked": False, "active": True, "failed_logins": 0},
    "user.locked": {"locked": True},
    "import.staged": {"state": "staged"},
    "import.approved": {"state": "approved"},
    # an imported history's results are never entered after a disposition (the importer writes
    # after_disposition = false and its event did not say so: the column went unchecked)
    "result.imported": {"late": False},
    # a registered lot: its event names no state, flag or cause; the service writes these (a
    # registered lot's state and 'historical' went unchecked until it moved on: a lot set
    # to 'released' or made historical in SQL verified clean)
    "lot.registered": {"state": "registered", "historical": False, "termination_cause": None},
}

# migration 0002 rewrote an id in its canonical form (``old`` names the record as it was): the
# record is named by the new id from then on, and what referred to the old one follows
RENAMED = "identity.canonicalised"
ID_KEYS = {"subject": "subject_id", "lot": "lot_number", "user": "username"}


@dataclass(frozen=True)
class RecordProblem:
    entity: str
    record: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entity} {self.record}: {self.problem}"


Meta_ = tuple[str, str, str | None, str, str | None]  # by, at (iso), reason, action, lot


@dataclass(slots=True)
class Folded:
    """The newest state the trail recorded for one record."""

    values: dict[str, Any] = field(default_factory=dict)
    created: Meta_ | None = None
    created_seq: int = 0
    correction: bool = False
    last_seq: int = 0
    # the newest event of each action a ``last`` rule reads (``_acted``): (by, at, reason, seq,
    # new); not of every action (an imported result's event was kept alive for nothing)
    acts: dict[str, tuple[str, str, str | None, int, Any]] = field(default_factory=dict)
    superseded_by: Any = MISSING
    supersedes: Any = MISSING
    events: list[tuple[str, str, str, Any, Any, int]] | None = None  # per_event parents
    loose_links: bool = False  # the trail cannot tell what it supersedes (see _link_result)


@dataclass
class Trail:
    """The folded trail: (entity, entity id) -> Folded, plus spec hashes the lots recorded."""

    records: dict[tuple[str, str], Folded] = field(default_factory=dict)
    spec_hashes: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    events: int = 0
    _by_entity: dict[str, list[tuple[str, Folded]]] | None = field(default=None, repr=False)

    def of_entity(self, entity: str) -> list[tuple[str, Folded]]:
        """The folded records of one entity as (id, Folded), in fold order (indexed once,
        after the fold: each table's check looks at its own entity, not every record)."""
        if self._by_entity is None:
            idx: dict[str, list[tuple[str, Folded]]] = {}
            for (kind, key), rec in self.records.items():
                idx.setdefault(kind, []).append((key, rec))
            self._by_entity = idx
        return self._by_entity.get(entity, [])


def fold(batches: Iterable[list[Any]]) -> Trail:
    """The trail's events (``audit.EventRow``, oldest first, in batches) folded per record."""
    entities = {r.entity for r in RECORDS if r.entity}
    creates = {a for r in RECORDS for a in r.creates}
    per_event = {r.entity: r.per_event for r in RECORDS if r.per_event}
    mirrors = {r.mirrors[0]: (r.entity, r.mirrors[1]) for r in RECORDS if r.mirrors}
    lot_actions = ("lot.registered", "lot.imported")
    acted = _acted()
    trail = Trail()
    recs = trail.records
    current: dict[tuple[str | None, Any], str] = {}  # (lot, test code) -> its current result
    loads = decode
    from_batches = chain.from_iterable
    n = 0
    for seq, at, by, action, entity, eid, lot, old_v, new_v, reason, _k, _p, _h in from_batches(
        batches
    ):
        n += 1
        if entity not in entities:
            continue
        at = f"{at[:10]}T{at[11:]}Z"
        if action == RENAMED:
            _rename(recs, entity, loads(old_v), eid)
        rec = recs.get((entity, eid))
        if rec is None:
            rec = recs[(entity, eid)] = Folded()
        rec.last_seq = seq
        new = loads(new_v)
        if action in acted:
            rec.acts[action] = (by, at, reason, seq, new)
        if rec.created is None and action in creates:
            rec.created, rec.created_seq = (by, at, reason, action, lot), seq
        if action in mirrors and type(new) is dict and mirrors[action][1] in new:
            base = key = f"{eid}@{at}"  # the n-th change of one instant is "#n"
            dup = 1
            while (mirrors[action][0], key) in recs:
                dup += 1
                key = f"{base}#{dup}"
            mirror = recs[(mirrors[action][0], key)] = Folded()
            mirror.created, mirror.created_seq = (by, at, reason, action, lot), seq
            mirror.last_seq, mirror.values = seq, {"before": dict(rec.values), **new}
        if entity in per_event and action.startswith(per_event[entity]):
            if rec.events is None:
                rec.events = []
            rec.events.append((action, by, at, loads(old_v), new, seq))
        if action in IMPLIED:
            rec.values.update(IMPLIED[action])
        if type(new) is not dict:
            continue
        if action in lot_actions and "spec_sha256" in new:
            spec = (str(new.get("product")), str(new.get("spec_version")))
            trail.spec_hashes.setdefault(spec, (str(new["spec_sha256"]), seq))
        replaced = new.pop(CORRECTION_KEY, None)
        if entity == RESULT:
            if action == "result.imported":  # most results of a long trail: inline
                code = new.get("test_code")
                current[(lot, code if code is None or isinstance(code, str) else _NOT_TEXT)] = eid
            else:
                _link_result(recs, current, action, eid, lot, new, old_v, replaced, rec)
        if replaced is None:
            rec.values.update(new)
            continue
        rec.superseded_by = replaced
        nxt = recs.setdefault((entity, str(replaced)), Folded())
        nxt.created, nxt.created_seq, nxt.correction = (by, at, reason, action, lot), seq, True
        nxt.supersedes, nxt.last_seq = eid, seq
        nxt.values.update(new)
    trail.events = n
    return trail


def _acted() -> frozenset[str]:
    """The actions some ``last`` rule reads, also inside ``ref`` and a ``val`` fallback."""
    out: set[str] = set()

    def walk(rule: Rule | None) -> None:
        if isinstance(rule, Last):
            out.update(rule.actions + rule.cleared_by)
        elif isinstance(rule, Ref):
            walk(rule.rule)
        elif isinstance(rule, Val):
            walk(rule.fallback)

    for r in RECORDS:
        for rule in r.columns.values():
            walk(rule)
    return frozenset(out)


RESULT = "release_result"
_NOT_TEXT = "(not text)"  # a test code edited into something else (its results' link key)


def _link_result(
    recs: dict[tuple[str, str], Folded],
    current: dict[tuple[str | None, Any], str],
    action: str,
    eid: str,
    lot: str | None,
    new: dict[str, Any],
    old_v: str,
    replaced: Any,
    rec: Folded,
) -> None:
    """Which result a result supersedes, followed through the trail as the services link them:
    the value that replaces a pending result (``result.added`` whose ``old`` is that result)
    supersedes the lot's current result of that test; a correction names its replacement.
    Without this a pending result's links went unchecked, and any result could be marked
    superseded in SQL (a failing sterility result dropped out of every review and the COA)."""
    code = new.get("test_code")
    key = (lot, code if code is None or isinstance(code, str) else _NOT_TEXT)  # edited
    if action == "result.added":
        if old_v not in ("null", ""):  # it replaced the pending result of its test
            prev = current.get(key)
            if prev is None:  # an upgraded trail named the lot otherwise: cannot tell which
                rec.loose_links = True
            else:
                rec.supersedes = prev
                recs[(RESULT, prev)].superseded_by = eid
        current[key] = eid
    elif action == "result.imported":
        current[key] = eid
    elif replaced is not None:
        current[key] = str(replaced)


def _rename(recs: dict[tuple[str, str], Folded], entity: str, old: Any, eid: str) -> None:
    """Move the record named ``old[<id key>]`` to ``eid``; lots that recorded a renamed subject,
    and records created under a renamed lot number, follow it."""
    key = ID_KEYS.get(entity)
    was = old.get(key) if key is not None and type(old) is dict else None
    if not isinstance(was, str) or was == eid:  # none, or not an id (an edit of the trail)
        return
    moved = recs.pop((entity, was), None)
    if moved is not None:
        recs[(entity, eid)] = moved
    for (kind, _id), rec in recs.items():
        if entity == "subject" and kind == "lot" and rec.values.get("subject_id") == was:
            rec.values["subject_id"] = eid
        if entity == "lot" and rec.created is not None and rec.created[4] == was:
            by, at, reason, action, _lot = rec.created
            rec.created = (by, at, reason, action, eid)
