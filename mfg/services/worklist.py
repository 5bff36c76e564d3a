"""Today: what a technician or QA has to do now, and the handover (what changed since I last
worked, what is open). A read model for the TUI's landing screen: narrow queries over the lots
in the states the reader works on (``lot_status``: the board's flags worked out in SQL), open
alerts, results and records to verify, thawed bags and read-outs. For a capped list (the TUI's)
the biggest read (a technician's lots being expanded, QA's lots ready for disposition) runs on
a second connection in a thread while the others run here (``read_beside``); every item
(``limit=None``) is read on this thread.
Every item is counted, but only the ``limit`` most urgent are built and listed (``None``: all):
with tens of thousands of lots in expansion a screen of every due count helps nobody and took
seconds to build; the counts per kind say what the list leaves out."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import and_, case, func, or_, true
from sqlalchemy import select as sa_select
from sqlmodel import col

from mfg.domain.custody import THAW_TO_INFUSION_LIMIT
from mfg.domain.lifecycle import ACTIVE
from mfg.domain.permissions import allowed
from mfg.domain.readouts import read_out_due
from mfg.errors import CellTrailError
from mfg.services import lot_status
from mfg.services.beside import outcome, read_beside
from mfg.services.pinned_specs import PinnedSpecs, readable, refusal_text, refused_doses
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, DoseBag, Harvest, Lot, ReleaseResult, Subject
from mfg.store.types import Unreadable, lenient, read_time, unreadable

TESTING = ("harvested", "in_release_testing", "conditionally_released")


@dataclass(frozen=True)
class WorkItem:
    kind: str  # alert, thawed, not-read, count-overdue, count-due, harvest-window, verify,
    # read-out, sign
    lot_number: str
    text: str
    urgent: bool = False
    deadline: datetime | None = None  # thawed bags: infuse before this (a live countdown)


@dataclass(frozen=True)
class Change:
    at: datetime | None  # None: its stored time cannot be read (an SQL edit)
    username: str
    lot_number: str
    action: str


@dataclass(frozen=True)
class Worklist:
    today: date
    items: tuple[WorkItem, ...]  # the most urgent first; at most the ``limit`` asked for
    since: datetime | None  # the end of the user's previous session (handover)
    changes: tuple[Change, ...]  # others' lot events since then, newest first
    total: int = 0  # every item, listed or not
    urgent: int = 0
    by_kind: tuple[tuple[str, int], ...] = ()  # (kind, items), in ``ORDER``, read-outs last

    @property
    def complete(self) -> bool:
        """Every item is listed (none left out by the limit)."""
        return len(self.items) == self.total


ORDER = (
    "alert",
    "thawed",
    "not-read",
    "count-overdue",
    "harvest-window",
    "count-due",
    "verify",
    "sign",
)


# What a log-in itself records: never the "last thing I did" a handover starts from.
LOGIN_STEPS = (
    "session.opened",
    "user.login_reset",
    "user.login_failed",
    "user.password_changed",
)


# The most urgent items Today lists by default (the counts cover all of them).
LIMIT = 200

# An item before it is chosen for the list: (not urgent, rank, lot number, sequence) orders
# it, as ``WorkItem``s were sorted; the rest builds the ``WorkItem`` of the chosen few.
_Candidate = tuple[bool, int, str, int, str, str, bool, "datetime | None"]


def worklist(
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    session_start: datetime | None = None,
    limit: int | None = LIMIT,
) -> Worklist:
    """``session_start``: when the current session began (the TUI's log-in); the handover
    covers others' changes since the user's last recorded action before it. ``limit``: list
    only that many of the most urgent items (``None``: every one); all are counted."""
    actor.require("lot.read")
    today = db.today(now)
    counts, signs = allowed(actor.role, "count.add"), allowed(actor.role, "lot.disposition")
    found = _Found(limit)
    # beside the rest only for the capped list: with every item listed both threads build
    # rows in Python and contend for its lock (10,000 lots: 75 -> 108 ms beside)
    expansion = partial(lot_status.expansion_lots, db, today, found.cap) if counts else None
    ready = partial(lot_status.ready_for_disposition, db) if signs else None
    beside = (expansion or ready) if limit is not None else None  # a technician's, or QA's
    with read_beside(db, beside) as got:
        unread, readable_lot = _not_read(db)
        for item in unread:
            found.keep(item)
        for lot_number, n in lot_status.open_alerts(db):
            found.keep(("alert", lot_number, f"{n} open alert(s)", True, None))
        if allowed(actor.role, "result.verify"):
            _results_to_verify(found, db, actor, readable_lot)
        if allowed(actor.role, "harvest.verify"):
            _records_to_verify(found, db, actor, readable_lot)
        if allowed(actor.role, "bag.custody"):
            for item in _thawed(db):
                found.keep(item)
        for item in _read_outs(db, today):
            found.keep(item)
        if ready is not None:
            _ready(found, outcome(ready, beside, got))
        if expansion is not None:  # kept last: items are ordered by urgency, kind, lot and
            # then the order kept; no other source has these kinds: no order changes
            _expansion_items(found, *outcome(expansion, beside, got))
    candidates: list[_Candidate] = [
        (not urgent, _rank(kind), lot, seq, kind, text, urgent, deadline)
        for seq, (kind, lot, text, urgent, deadline) in enumerate(found.kept)
    ]
    chosen = sorted(candidates) if limit is None else heapq.nsmallest(limit, candidates)
    items = tuple(WorkItem(c[4], c[2], c[5], c[6], c[7]) for c in chosen)
    tally: Counter[str] = Counter()
    for (kind, _), n in found.seen.items():
        tally[kind] += n
    by_kind = tuple((k, tally[k]) for k in sorted(tally, key=_rank))
    urgent = sum(n for (_, is_urgent), n in found.seen.items() if is_urgent)
    since, changes = _handover(db, actor, session_start or now)
    return Worklist(today, items, since, changes, sum(tally.values()), urgent, by_kind)


RANK = {kind: i for i, kind in enumerate(ORDER)}


def _rank(kind: str) -> int:
    return RANK.get(kind, len(ORDER))


_Item = tuple[str, str, str, bool, "datetime | None"]  # kind, lot, text, urgent, deadline


class _Found:
    """Every item counted by kind and urgency; the items of the big sources (the lots being
    expanded, the records and results to verify, the lots ready for disposition) kept
    only up to ``cap`` per source, kind and urgency. Each of those sources yields each kind in
    lot-number order, the order of the list within a kind, so an item past its source's cap has
    ``cap`` items of its kind before it and can never be among the ``cap`` most urgent: the list
    is the same as with every item kept (several sources may feed one kind: each keeps its own
    first ``cap``), and the text of the others is never built."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.kept: list[_Item] = []
        self.seen: Counter[tuple[str, bool]] = Counter()
        self._kept_of: Counter[tuple[str, str, bool]] = Counter()

    def room(self, source: str, kind: str, urgent: bool) -> bool:
        """Count an item of ``kind`` from ``source`` (in lot-number order); whether it is kept
        (the caller builds it only then)."""
        self.seen[kind, urgent] += 1
        return self.fits(source, kind, urgent)

    def fits(self, source: str, kind: str, urgent: bool) -> bool:
        """Whether the next item of ``kind`` from ``source`` is kept, for a source whose items
        are counted in SQL (``tally``) and read only up to the cap."""
        key = (source, kind, urgent)
        self._kept_of[key] += 1
        return self.cap is None or self._kept_of[key] <= self.cap

    def tally(self, kind: str, urgent: bool, n: int) -> None:
        """Count ``n`` items of ``kind``, counted in SQL."""
        if n:
            self.seen[kind, urgent] += n

    def keep(self, item: _Item) -> None:
        """Count and keep an item of a source not in lot-number order (few items)."""
        self.seen[item[0], item[3]] += 1
        self.kept.append(item)


def _expansion_items(
    found: _Found, rows: list[lot_status.ExpansionLot], counts: lot_status.FlagCounts
) -> None:
    """The counts due and the harvest windows of the lots being expanded: counted in SQL, and
    only the lots that can be listed read (``expansion_lots``, in lot-number order)."""
    found.tally("count-overdue", True, counts.get(("count", lot_status.OVERDUE), 0))
    found.tally("count-due", False, counts.get(("count", lot_status.DUE), 0))
    found.tally("harvest-window", True, counts.get(("window", lot_status.LAST_DAY), 0))
    found.tally("harvest-window", False, counts.get(("window", lot_status.IN_WINDOW), 0))
    keep = found.kept.append

    def room(kind: str, urgent: bool) -> bool:
        return found.fits("expansion", kind, urgent)

    for lot_number, _state, count, window, last_day, day_n, (first, last) in rows:
        if count == lot_status.OVERDUE:
            if room("count-overdue", True):
                late = f"(last day {last_day})" if last_day is not None else "(none yet)"
                keep(("count-overdue", lot_number, f"count overdue {late}", True, None))
        elif count == lot_status.DUE and room("count-due", False):
            keep(("count-due", lot_number, f"count due today (day {day_n})", False, None))
        if window and room("harvest-window", window == lot_status.LAST_DAY):
            text = f"in harvest window (day {day_n} of {first}-{last})"
            keep(("harvest-window", lot_number, text, window == lot_status.LAST_DAY, None))


def _ready(found: _Found, lot_numbers: list[str]) -> None:
    """The lots ready for disposition (in lot-number order): all counted, the first kept."""
    found.tally("sign", False, len(lot_numbers))
    for number in lot_numbers:
        if not found.fits("disposition", "sign", False):
            break
        found.kept.append(("sign", number, "ready for disposition", False, None))


def _results_to_verify(found: _Found, db: Database, actor: Actor, readable_lot: Any) -> None:
    """Current results of lots in testing nobody has verified, not entered by the user (one
    query, in lot-number order; the QA queue lists them oldest first)."""
    lot, rr = Lot.__table__, ReleaseResult.__table__  # type: ignore[attr-defined]
    stmt = (
        sa_select(lot.c.lot_number, rr.c.test_code, rr.c.entered_by)
        .select_from(rr.join(lot, lot.c.id == rr.c.lot_pk))
        .where(
            rr.c.superseded_by_id.is_(None),
            rr.c.verified_by.is_(None),
            rr.c.evaluation != "pending",
            rr.c.entered_by != actor.username,
            lot.c.state.in_(TESTING),
            readable_lot,
        )
        .order_by(lot_status.in_lot_order(db), rr.c.entered_at, rr.c.id)
    )
    with db.read() as s:
        rows = s.connection().execute(stmt).all()
    for number, test_code, by in rows:
        if found.room("results", "verify", False):
            found.kept.append(("verify", number, f"verify {test_code} ({by})", False, None))


def _records_to_verify(found: _Found, db: Database, actor: Actor, readable_lot: Any) -> None:
    """The harvest and the body weight of lots in testing that still need their second person
    (``mfg.domain.four_eyes``: a release is refused without them), never one the user entered
    (one query, in lot-number order). The items are counted in SQL, and only the lots that can
    be listed are read: each gives one or two, so the first ``cap`` lots are enough."""
    lot, hv, subj = Lot.__table__, Harvest.__table__, Subject.__table__  # type: ignore[attr-defined]
    me = actor.username
    harvest = and_(hv.c.verified_by.is_(None), hv.c.recorded_by != me)
    weight = and_(
        subj.c.weight_verified_by.is_(None),
        or_(subj.c.weight_recorded_by.is_(None), subj.c.weight_recorded_by != me),
    )
    items = case((harvest, 1), else_=0) + case((weight, 1), else_=0)
    stmt = (
        sa_select(
            lot.c.lot_number,
            hv.c.recorded_by,
            harvest,
            subj.c.subject_id,
            subj.c.weight_recorded_by,
            weight,
            func.sum(items).over(),
        )
        .select_from(
            lot.join(hv, hv.c.lot_pk == lot.c.id).join(subj, subj.c.id == lot.c.subject_pk)
        )
        .where(
            lot.c.state.in_(TESTING),
            hv.c.superseded_by_id.is_(None),
            or_(harvest, weight),
            readable_lot,
        )
        .order_by(lot_status.in_lot_order(db))
    )
    if found.cap is not None:
        stmt = stmt.limit(max(found.cap, 1))  # at least one row: it carries the count
    with db.read() as s:
        rows = s.connection().execute(stmt).all()
    found.tally("verify", False, int(rows[0][-1]) if rows else 0)
    keep = found.kept.append
    for number, h_by, h_due, subject_id, w_by, w_due, _ in rows:
        if h_due and found.fits("records", "verify", False):
            keep(("verify", number, f"verify the harvest ({h_by})", False, None))
        if w_due and found.fits("records", "verify", False):
            who = w_by or "not recorded"
            keep(("verify", number, f"verify {subject_id}'s weight ({who})", False, None))


def _thawed(db: Database) -> list[_Item]:
    """Thawed bags waiting for infusion, with the 30-minute deadline (one query). A bag whose
    stored time of thaw cannot be read (an SQL edit) is listed with the refusal and no deadline
    (its infusion is refused: ``trail_anchor``), not a refusal of everyone's Today."""
    bag, lot = DoseBag.__table__, Lot.__table__  # type: ignore[attr-defined]
    with db.read() as s:
        rows = s.execute(
            sa_select(lot.c.lot_number, bag.c.bag_no, lenient(bag.c.thawed_at))
            .join(lot, lot.c.id == bag.c.lot_pk)
            .where(bag.c.state == "thawed", bag.c.thawed_at.is_not(None))
            .order_by(bag.c.thawed_at)
        ).all()
    return [
        (
            "thawed",
            number,
            f"bag {bag_no} thawed: infuse within 30 minutes"
            if isinstance(thawed_at, datetime)
            else f"bag {bag_no} thawed: time {refusal_text(thawed_at.refusal())}",
            True,
            thawed_at + THAW_TO_INFUSION_LIMIT if isinstance(thawed_at, datetime) else None,
        )
        for number, bag_no, thawed_at in rows
        if thawed_at is not None
    ]


def _not_read(db: Database) -> tuple[list[_Item], Any]:
    """The active lots whose spec is refused (its file gone or broken, its version edited in
    SQL), each an urgent item with the refusal, and the SQL condition that leaves them out of
    the other sources: whatever they would list of such a lot (a result to verify, a count) is
    refused on it, so it is listed once, here. Then the lots whose spec is read and whose target
    dose is refused (the subject's dose level or weight edited): what does not dose from it (a
    count, a result to verify) is still listed. Last the lots whose day 0 cannot be read
    (SQLite holds any text: ``lot_status.readable_day0``), left out of the rest the same way."""
    lot = Lot.__table__  # type: ignore[attr-defined]
    active = lot.c.state.in_(sorted(s.value for s in ACTIVE))
    items: list[_Item] = []
    with db.read() as s:
        conn = s.connection()
        pinned = PinnedSpecs(db).pinned(conn)
        refused = {pair: e for pair, e in pinned.items() if isinstance(e, CellTrailError)}
        if refused:
            rows = s.execute(
                sa_select(lot.c.lot_number, lot.c.product_code, lot.c.spec_version)
                .where(active, ~readable(lot, refused))
                .order_by(lot.c.lot_number)
            ).all()
            items += [
                ("not-read", number, f"spec {refusal_text(refused[code, version])}", True, None)
                for number, code, version in rows
            ]
        doses = refused_doses(conn, pinned)
        day0_read: Any = true()
        undated: list[tuple[str, str]] = []
        if lot_status.some_day0_unreadable(db, conn):
            day0_read = lot_status.day0_is_date()
            found = sa_select(lot.c.lot_number, lot_status.iso_date(db, lot.c.day0))
            found = found.where(active, ~day0_read).order_by(lot.c.lot_number)
            undated = [(number, stored) for number, stored in s.execute(found)]
    items += [("not-read", n, f"dose {refusal_text(e)}", True, None) for n, e in doses]
    items += [
        ("not-read", number, f"day 0 {refusal_text(unreadable(stored))}", True, None)
        for number, stored in undated
    ]
    return items, and_(readable(lot, refused), day0_read)


def _read_outs(db: Database, today: date) -> list[_Item]:
    """Pending tests with an incubation time, when they can be read: one query for all lots in
    release testing (the current result of each test, in the order of the lot's spec)."""
    with db.read() as s:
        rows = s.execute(
            sa_select(
                col(Lot.lot_number),
                col(Lot.product_code),
                col(Lot.spec_version),
                col(ReleaseResult.test_code),
                lenient(ReleaseResult.__table__.c.tested_on),  # type: ignore[attr-defined]
            )
            .select_from(ReleaseResult)
            .join(Lot, col(Lot.id) == ReleaseResult.lot_pk)
            .where(
                col(ReleaseResult.evaluation) == "pending",
                col(ReleaseResult.superseded_by_id).is_(None),
                col(Lot.state).in_(TESTING),
            )
        ).all()
    specs = PinnedSpecs(db)
    order: dict[tuple[str, str], list[str]] = {}
    due_items = []
    unread: list[_Item] = []
    for lot_number, code, version, test_code, tested_on in rows:
        if type(tested_on) is Unreadable:  # an SQL edit: listed, not a refusal of Today
            said = f"{test_code} tested on {refusal_text(tested_on.refusal())}"
            unread.append(("not-read", lot_number, said, True, None))
            continue
        if (code, version) not in order:
            p = specs.get(code, version)  # refused: listed apart (``_not_read``)
            order[code, version] = list(p.test_codes) if p is not None else []
        codes = order[code, version]
        if test_code not in codes:  # not a test of the lot's spec: not listed for it
            continue
        due = read_out_due(test_code, tested_on)
        if due is not None:
            due_items.append((lot_number, codes.index(test_code), test_code, due))
    due_items.sort()
    return unread + [
        (
            "read-out",
            lot_number,
            f"{test_code} read-out {'due' if due <= today else 'on'} {due}",
            due <= today,
            None,
        )
        for lot_number, _, test_code, due in due_items
    ]


def _handover(
    db: Database, actor: Actor, before: datetime
) -> tuple[datetime | None, tuple[Change, ...]]:
    """Others' events on lots since my last recorded action before ``before`` (the start of
    this session), log-in steps not counted: the end of my previous session (at most 50,
    newest first)."""
    ev = AuditEvent.__table__  # type: ignore[attr-defined]
    at = lenient(ev.c.at)  # one edited event's time takes no Today with it
    with db.read() as s:
        mine = s.execute(
            sa_select(ev.c.seq, at)
            .where(
                ev.c.username == actor.username,
                ev.c.at < before,
                ev.c.action.not_in(LOGIN_STEPS),
            )
            .order_by(ev.c.seq.desc())
            .limit(1)
        ).first()
        q = sa_select(at, ev.c.username, ev.c.lot_number, ev.c.action).where(
            ev.c.lot_number.is_not(None), ev.c.username != actor.username
        )
        if mine is not None:
            q = q.where(ev.c.seq > mine[0])
        events = s.execute(q.order_by(ev.c.seq.desc()).limit(50)).all()
        changes = tuple(Change(read_time(t), user, lot or "", act) for t, user, lot, act in events)
    return (read_time(mine[1]) if mine is not None else None), changes
