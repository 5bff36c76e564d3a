"""Today: what a technician or QA has to do now, and the handover (what changed since I last
worked, what is open). A read model for the TUI's landing screen: one narrow query over the lots
in the states the reader works on (``lot_status``: the board's flags without its projection),
one for open alerts and one each for results to verify, thawed bags and read-outs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select as sa_select
from sqlmodel import col, select

from mfg.domain.custody import THAW_TO_INFUSION_LIMIT
from mfg.domain.permissions import allowed
from mfg.domain.readouts import read_out_due
from mfg.services import board as board_service
from mfg.services import lot_status
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, DoseBag, Harvest, Lot, ReleaseResult, Subject

COUNT_DUE_AFTER_DAYS = 2  # counted every 2-3 days; the board flags "late" after 3
EXPANDING = ("registered", "in_expansion")
TESTING = ("harvested", "in_release_testing", "conditionally_released")


@dataclass(frozen=True)
class WorkItem:
    kind: str  # alert, thawed, count-overdue, count-due, harvest-window, verify, read-out, sign
    lot_number: str
    text: str
    urgent: bool = False
    deadline: datetime | None = None  # thawed bags: infuse before this (a live countdown)


@dataclass(frozen=True)
class Change:
    at: datetime
    username: str
    lot_number: str
    action: str


@dataclass(frozen=True)
class Worklist:
    today: date
    items: tuple[WorkItem, ...]
    since: datetime | None  # the end of the user's previous session (handover)
    changes: tuple[Change, ...]  # others' lot events since then, newest first


ORDER = ("alert", "thawed", "count-overdue", "harvest-window", "count-due", "verify", "sign")


# What a log-in itself records: never the "last thing I did" a handover starts from.
LOGIN_STEPS = (
    "session.opened",
    "user.login_reset",
    "user.login_failed",
    "user.password_changed",
)


def worklist(
    *, db: Database, actor: Actor, now: datetime, session_start: datetime | None = None
) -> Worklist:
    """``session_start``: when the current session began (the TUI's log-in); the handover
    covers others' changes since the user's last recorded action before it."""
    actor.require("lot.read")
    today = db.today(now)
    counts, signs = allowed(actor.role, "count.add"), allowed(actor.role, "lot.disposition")
    lots = lot_status.active_lots(
        db, today, (EXPANDING if counts else ()) + (TESTING if signs else ())
    )
    items = [
        WorkItem("alert", lot_number, f"{n} open alert(s)", True)
        for lot_number, n in lot_status.open_alerts(db)
    ]
    if counts:
        items += _expansion_items(lots)
    if allowed(actor.role, "result.verify"):
        for v in board_service.results_to_verify(db=db, actor=actor):
            if v.entered_by != actor.username:
                items.append(
                    WorkItem("verify", v.lot_number, f"verify {v.test_code} ({v.entered_by})")
                )
    if allowed(actor.role, "harvest.verify"):
        items += _records_to_verify(db, actor)
    if allowed(actor.role, "bag.custody"):
        items += _thawed(db)
    items += _read_outs(db, today)
    for r in lots:
        ready = not (r.unverified_results or r.oos or r.pending_results)
        if signs and r.state in TESTING and ready and r.state != "conditionally_released":
            items.append(WorkItem("sign", r.lot_number, "ready for disposition"))
    items.sort(key=lambda i: (not i.urgent, _rank(i.kind), i.lot_number))
    since, changes = _handover(db, actor, session_start or now)
    return Worklist(today, tuple(items), since, changes)


RANK = {kind: i for i, kind in enumerate(ORDER)}


def _rank(kind: str) -> int:
    return RANK.get(kind, len(ORDER))


def _expansion_items(rows: list[lot_status.LotStatus]) -> list[WorkItem]:
    out = []
    for r in rows:
        if r.state not in EXPANDING:
            continue
        since = None if r.last_count_day is None else r.day_n - r.last_count_day
        if r.overdue_count:
            out.append(
                WorkItem(
                    "count-overdue",
                    r.lot_number,
                    "count overdue "
                    + (f"(last day {r.last_count_day})" if since is not None else "(none yet)"),
                    True,
                )
            )
        elif since is None or since >= COUNT_DUE_AFTER_DAYS:
            out.append(WorkItem("count-due", r.lot_number, f"count due today (day {r.day_n})"))
        if r.state == "in_expansion":
            first, last = r.window
            if first <= r.day_n <= last:
                out.append(
                    WorkItem(
                        "harvest-window",
                        r.lot_number,
                        f"in harvest window (day {r.day_n} of {first}-{last})",
                        r.day_n == last,
                    )
                )
    return out


def _records_to_verify(db: Database, actor: Actor) -> list[WorkItem]:
    """The harvest and the body weight of lots in testing that still need their second person
    (``mfg.domain.four_eyes``: a release is refused without them), never one the user entered
    (one query)."""
    with db.read() as s:
        rows = s.execute(
            sa_select(
                col(Lot.lot_number),
                col(Harvest.recorded_by),
                col(Harvest.verified_by),
                col(Subject.subject_id),
                col(Subject.weight_recorded_by),
                col(Subject.weight_verified_by),
            )
            .select_from(Lot)
            .join(Harvest, col(Harvest.lot_pk) == Lot.id)
            .join(Subject, col(Subject.id) == Lot.subject_pk)
            .where(col(Lot.state).in_(TESTING), col(Harvest.superseded_by_id).is_(None))
        ).all()
    out = []
    for lot, h_by, h_checked, subject_id, w_by, w_checked in rows:
        if h_checked is None and h_by != actor.username:
            out.append(WorkItem("verify", lot, f"verify the harvest ({h_by})"))
        if w_checked is None and w_by != actor.username:
            who = w_by or "not recorded"
            out.append(WorkItem("verify", lot, f"verify {subject_id}'s weight ({who})"))
    return out


def _thawed(db: Database) -> list[WorkItem]:
    """Thawed bags waiting for infusion, with the 30-minute deadline (one query)."""
    with db.read() as s:
        rows = s.exec(
            select(Lot.lot_number, DoseBag.bag_no, DoseBag.thawed_at)
            .join(Lot, col(Lot.id) == DoseBag.lot_pk)
            .where(DoseBag.state == "thawed", col(DoseBag.thawed_at).is_not(None))
            .order_by(col(DoseBag.thawed_at))
        ).all()
    return [
        WorkItem(
            "thawed",
            lot,
            f"bag {bag_no} thawed: infuse within 30 minutes",
            True,
            thawed_at + THAW_TO_INFUSION_LIMIT,
        )
        for lot, bag_no, thawed_at in rows
        if thawed_at is not None
    ]


def _read_outs(db: Database, today: date) -> list[WorkItem]:
    """Pending tests with an incubation time, when they can be read: one query for all lots in
    release testing (the current result of each test, in the order of the lot's spec)."""
    with db.read() as s:
        rows = s.execute(
            sa_select(
                col(Lot.lot_number),
                col(Lot.product_code),
                col(Lot.spec_version),
                col(ReleaseResult.test_code),
                col(ReleaseResult.tested_on),
            )
            .select_from(ReleaseResult)
            .join(Lot, col(Lot.id) == ReleaseResult.lot_pk)
            .where(
                col(ReleaseResult.evaluation) == "pending",
                col(ReleaseResult.superseded_by_id).is_(None),
                col(Lot.state).in_(TESTING),
            )
        ).all()
    order: dict[tuple[str, str], list[str]] = {}
    due_items = []
    for lot_number, code, version, test_code, tested_on in rows:
        if (code, version) not in order:
            order[code, version] = list(db.product(code, version).test_codes)
        codes = order[code, version]
        if test_code not in codes:  # not a test of the lot's spec: not listed for it
            continue
        due = read_out_due(test_code, tested_on)
        if due is not None:
            due_items.append((lot_number, codes.index(test_code), test_code, due))
    due_items.sort()
    return [
        WorkItem(
            "read-out",
            lot_number,
            f"{test_code} read-out {'due' if due <= today else 'on'} {due}",
            due <= today,
        )
        for lot_number, _, test_code, due in due_items
    ]


def _handover(
    db: Database, actor: Actor, before: datetime
) -> tuple[datetime | None, tuple[Change, ...]]:
    """Others' events on lots since my last recorded action before ``before`` (the start of
    this session), log-in steps not counted: the end of my previous session (at most 50,
    newest first)."""
    with db.read() as s:
        mine = s.exec(
            select(AuditEvent.seq, AuditEvent.at)
            .where(
                AuditEvent.username == actor.username,
                AuditEvent.at < before,
                col(AuditEvent.action).not_in(LOGIN_STEPS),
            )
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        ).first()
        q = select(AuditEvent).where(
            col(AuditEvent.lot_number).is_not(None), AuditEvent.username != actor.username
        )
        if mine is not None:
            q = q.where(AuditEvent.seq > mine[0])
        events = s.exec(q.order_by(col(AuditEvent.seq).desc()).limit(50)).all()
        changes = tuple(Change(e.at, e.username, e.lot_number or "", e.action) for e in events)
    return (mine[1] if mine is not None else None), changes
