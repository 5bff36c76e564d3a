"""A demo database: users and about 20 lots at every stage, written through the real services.

Everything is dated relative to ``now`` (a fixed clock for tests and snapshots, the wall clock for
``mfg tui --demo``), so the demo always looks current: lots in expansion are on day 2..12 today,
harvested lots wait for results, some lots are released. The random numbers are seeded, so the same
``now`` always gives the same database. Steps run in time order, so the audit trail reads like a
real fortnight in the clean room.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from mfg.domain.custody import parse_location
from mfg.domain.permissions import Role
from mfg.services import counts, custody, harvest, labels, lots, release, subjects, users
from mfg.services.uow import Actor, Database

DEMO_PASSWORD = "demo-password"
DEMO_USERS: dict[str, tuple[str, Role]] = {
    "admin": ("Ada Admin", Role.ADMIN),
    "tech": ("Tom Technician", Role.TECHNICIAN),
    "tech2": ("Tara Technician", Role.TECHNICIAN),
    "qa": ("Quinn Quality", Role.QA),
    "sponsor": ("Sam Sponsor", Role.SPONSOR),
}
SITES = ("BJ01", "SH02", "GZ03")
INDICATIONS = ("SLE", "SLE", "LN", "SSc", "SjS", "AAV", "IIM", "SLE")
COUNT_DAYS = (0, 2, 4, 6, 8, 10, 12)


@dataclass
class Plan:
    """One demo lot: its story, from day 0 to its final stage."""

    day0_ago: int  # day 0 was this many days before today
    stage: str  # registered | expansion | harvested | testing | released | conditional | rejected | terminated
    rate: float = 0.28  # ln growth per day
    seed: float = 1.0e8
    source: str = "apheresis"
    harvest_day: int | None = None
    skip_days: tuple[int, ...] = ()
    terminate: tuple[str, str] | None = None
    typo_day: int | None = None  # a count entered with a wrong exponent, then corrected
    extra: dict[str, Any] = field(default_factory=dict)


PLANS: tuple[Plan, ...] = (
    Plan(0, "registered"),
    Plan(1, "registered", source="cryo-pbmc"),
    Plan(2, "expansion"),
    Plan(4, "expansion", rate=0.30, source="cryo-pbmc"),
    Plan(5, "expansion", rate=0.27, typo_day=4),
    Plan(7, "expansion", rate=0.31),
    Plan(8, "expansion", rate=0.10, seed=0.8e8),  # slow: the dose is not projected in time
    Plan(9, "expansion", rate=0.29, skip_days=(6, 8)),  # count overdue
    Plan(11, "expansion", rate=0.26),
    Plan(12, "expansion", rate=0.30, source="cryo-pbmc"),
    Plan(13, "harvested", rate=0.28, harvest_day=12),
    Plan(14, "harvested", rate=0.25, harvest_day=13),
    Plan(15, "testing", rate=0.29, harvest_day=12),
    Plan(17, "testing", rate=0.27, harvest_day=11, source="cryo-pbmc"),
    Plan(22, "released", rate=0.30, harvest_day=12),
    Plan(26, "released", rate=0.28, harvest_day=13),
    Plan(30, "conditional", rate=0.29, harvest_day=12),
    Plan(33, "rejected", rate=0.27, harvest_day=12),
    Plan(9, "terminated", rate=0.2, terminate=("not_evaluable", "subject withdrew consent")),
    Plan(6, "terminated", rate=0.05, terminate=("manufacturing", "bacterial growth in culture")),
)


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    run: Callable[[datetime], object] = field(compare=False)


def _local(db: Database, on: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(on, time(hour, minute), db.zone).astimezone(UTC)


def _add_users(db: Database, now: datetime) -> dict[str, Actor]:
    at = now - timedelta(days=40)
    admin_name = DEMO_USERS["admin"][0]
    users.init_database(db, admin="admin", full_name=admin_name, password=DEMO_PASSWORD, now=at)
    admin = Actor("admin", admin_name, Role.ADMIN)
    actors: dict[str, Actor] = {"admin": admin}
    for name, (full, role) in DEMO_USERS.items():
        if name == "admin":
            continue
        users.add_user(
            db,
            actor=admin,
            username=name,
            full_name=full,
            role=role.value,
            password=DEMO_PASSWORD,
            now=at,
        )
        actors[name] = Actor(name, full, role)
    return actors


class _Schedule:
    """Every demo write as a step at its time; ``run`` plays them in time order."""

    def __init__(self, db: Database, now: datetime, actors: dict[str, Actor]) -> None:
        self.db, self.now = db, now
        self.tech, self.tech2, self.qa = actors["tech"], actors["tech2"], actors["qa"]
        self.rng = random.Random(20261125)
        self.steps: list[Step] = []

    def add(self, at: datetime, fn: Callable[[datetime], object]) -> None:
        self.steps.append(Step(min(at, self.now - timedelta(minutes=1)), len(self.steps) + 1, fn))

    def run(self) -> None:
        for step in sorted(self.steps):
            step.run(step.at)

    def lot(self, plan: Plan, n: int) -> None:
        """Schedule the whole story of one demo lot (number ``n`` in registration order)."""
        day0 = self.db.today(self.now) - timedelta(days=plan.day0_ago)
        self.registration(plan, n, day0)
        if plan.stage == "registered":
            return
        last_day = plan.harvest_day if plan.harvest_day is not None else plan.day0_ago
        if plan.terminate:
            last_day = min(plan.day0_ago - 1, 6)
        for d in (d for d in COUNT_DAYS if d <= last_day and d not in plan.skip_days):
            self.count(plan, n, day0, d)
        if plan.terminate:
            cause, reason = plan.terminate
            at = _local(self.db, day0 + timedelta(days=last_day), 16)
            self.add(
                at,
                lambda at: lots.terminate_lot(
                    plan.extra["lot"], cause, reason, db=self.db, actor=self.qa, now=at
                ),
            )
            return
        if plan.harvest_day is None:
            return
        hon = self.harvest(plan, n, day0, plan.harvest_day)
        if plan.stage in ("testing", "released", "conditional", "rejected"):
            _plan_release(self, plan, hon, n)

    def registration(self, plan: Plan, n: int, day0: date) -> None:
        sid, site = f"S-{n:03d}", SITES[n % len(SITES)]
        weight = round(self.rng.uniform(48, 92), 1)
        level = ("DL1", "DL2", "DL3")[n % 3]
        indication = INDICATIONS[n % len(INDICATIONS)]
        subject = subjects.AddSubject(
            sid, site, indication, weight, level, weight_on=day0 - timedelta(days=3)
        )
        cmd = (
            lots.RegisterLot(sid, "apheresis", apheresis_on=day0)
            if plan.source == "apheresis"
            else lots.RegisterLot(
                sid, "cryo-pbmc", apheresis_on=day0 - timedelta(days=35), thaw_on=day0
            )
        )

        def register(at: datetime) -> None:
            subjects.add_subject(subject, db=self.db, actor=self.tech, now=at)
            # the body weight sets the dose: a second person checks it (four eyes)
            subjects.verify_weight(subject.subject_id, db=self.db, actor=self.tech2, now=at)
            plan.extra["lot"] = lots.register_lot(
                cmd, db=self.db, actor=self.tech, now=at
            ).lot_number

        self.add(_local(self.db, day0, 8, 30 + n % 20), register)

    def count(self, plan: Plan, n: int, day0: date, d: int) -> None:
        rng = self.rng
        lag = 0.6 if d <= 2 else 1.0
        viable = plan.seed * math.exp(plan.rate * d * lag) * rng.uniform(0.93, 1.07)
        via = (
            rng.uniform(92, 95)
            if d == 0
            else rng.uniform(84, 89)
            if d <= 2
            else rng.uniform(88, 95)
        )
        total = viable / (via / 100)
        who = self.tech if d % 4 == 0 else self.tech2
        tv, vv = int(round(total, -5)), int(round(viable, -5))
        db = self.db

        def count(at: datetime) -> None:
            lot = plan.extra["lot"]
            if plan.typo_day == d:
                wrong = counts.record_count(
                    counts.RecordCount(lot, tv * 10, vv * 10, day=d, method="NC-200"),
                    db=db,
                    actor=who,
                    now=at,
                )
                counts.correct_count(
                    wrong.id,
                    counts.RecordCount(lot, tv, vv, day=d, method="NC-200"),
                    "transcription error: exponent one too high",
                    db=db,
                    actor=who,
                    now=at + timedelta(minutes=12),
                )
                return
            volume = round(min(5000.0, vv / 1.5e6), 0)
            counts.record_count(
                counts.RecordCount(lot, tv, vv, day=d, method="NC-200", volume_ml=volume),
                db=db,
                actor=who,
                now=at,
            )

        self.add(_local(db, day0 + timedelta(days=d), 10, (n * 7 + d) % 50), count)

    def harvest(self, plan: Plan, n: int, day0: date, hday: int) -> date:
        hv = plan.seed * math.exp(plan.rate * hday) * self.rng.uniform(0.95, 1.05)
        car = round(self.rng.uniform(24, 38), 1)
        hon = day0 + timedelta(days=hday)
        cells = int(round(hv, -6))

        def do_harvest(at: datetime) -> None:
            cmd = harvest.RecordHarvest(plan.extra["lot"], hon, cells, car)
            harvest.record_harvest(cmd, db=self.db, actor=self.tech, now=at)
            harvest.verify_harvest(cmd.lot_number, db=self.db, actor=self.tech2, now=at)

        self.add(_local(self.db, hon, 14, n % 50), do_harvest)
        plan.extra["car"] = car
        return hon


def _approve_label_layouts(db: Database, qa: Actor, at: datetime) -> None:
    """QA approves the current label layouts (with the demo password), as a site would before
    printing its first labels."""
    from labels.payload import LabelKind
    from mfg.services import label_control

    for kind in LabelKind:
        label_control.approve_layout(
            kind.value,
            "demonstration: layout proofs checked and every symbol scanned",
            DEMO_PASSWORD,
            db=db,
            actor=qa,
            now=at,
        )


def seed_demo(db: Database, *, now: datetime, lots_wanted: int | None = None) -> dict[str, int]:
    """Create users and demo lots; the database must be migrated and empty. Returns counts."""
    actors = _add_users(db, now)
    _approve_label_layouts(db, actors["qa"], now - timedelta(days=39))
    schedule = _Schedule(db, now, actors)
    plans = [
        Plan(**{**p.__dict__, "extra": {}}) for p in (PLANS[:lots_wanted] if lots_wanted else PLANS)
    ]
    # Lot numbers are given in registration order, so register oldest first.
    for n, plan in enumerate(sorted(plans, key=lambda p: -p.day0_ago), 1):
        schedule.lot(plan, n)
    schedule.run()
    return {"users": len(actors), "lots": len(plans)}


PASSING = {
    "APPEAR": "Conforms",
    "CD3": "96.8",
    "VCN": "2.1",
    "POT": "412",
    "ENDO": "<0.5",
    "GRAM": "No organisms seen",
    "MYCO": "Negative",
    "STER": "No growth",
    "RCL": "Not detected",
    "BEADS": "<10",
}
# day after harvest on which each result is reported (sterility takes a week or more)
REPORTED_AFTER = {
    "APPEAR": 1,
    "VIAB": 1,
    "CD3": 1,
    "CAR": 1,
    "GRAM": 1,
    "ENDO": 2,
    "POT": 3,
    "VCN": 3,
    "MYCO": 3,
    "BEADS": 3,
    "STER": 7,
    "RCL": 8,
}


def _plan_release(sch: _Schedule, plan: Plan, hon: date, n: int) -> None:
    """Results, verifications, dispositions and bags, through the release and label services."""
    values = dict(PASSING)
    values["VIAB"] = f"{sch.rng.uniform(86, 95):.1f}"
    values["CAR"] = f"{plan.extra['car']:.1f}"
    if plan.stage == "conditional":
        values["STER"] = values["RCL"] = "pending"
    if plan.stage == "rejected":
        values["ENDO"] = "12.4"  # out of specification: an OOS deviation opens
    last = _schedule_results(sch, plan, hon, n, values)
    decision = {
        "released": "release",
        "conditional": "conditional-release",
        "rejected": "reject",
    }.get(plan.stage)
    if decision is None:
        return
    signed = _local(sch.db, last + timedelta(days=1), 15)
    reason = {
        "release": "all results conform; dose met",
        "conditional-release": "sterility and RCL pending at infusion; released under protocol",
        "reject": "endotoxin out of specification (OOS)",
    }[decision]
    sch.add(
        signed,
        lambda at: release.dispose(
            release.Dispose(plan.extra["lot"], decision, reason),
            DEMO_PASSWORD,
            db=sch.db,
            actor=sch.qa,
            now=at,
        ),
    )
    if decision != "reject":
        sch.add(signed + timedelta(hours=1), lambda at: _store_bags(sch, plan, n, at))


def _schedule_results(
    sch: _Schedule, plan: Plan, hon: date, n: int, values: dict[str, str]
) -> date:
    """Each result on the day it is reported, verified the next day; the last report date."""
    last = hon
    for code, value in values.items():
        entered = _local(sch.db, hon + timedelta(days=REPORTED_AFTER.get(code, 3)), 11, n % 50)
        if entered >= sch.now:
            continue  # not reported yet: stays "not entered" on the lot
        sch.add(entered, partial(_add_result, sch, plan, code, value))
        verified = entered + timedelta(days=1)  # the second person, next day
        if value != "pending" and verified < sch.now:
            sch.add(verified, partial(_verify_result, sch, plan, code))
        last = max(last, entered.date())
    return last


def _add_result(sch: _Schedule, plan: Plan, code: str, value: str, at: datetime) -> None:
    cmd = release.AddResult(plan.extra["lot"], code, value)
    release.add_result(cmd, db=sch.db, actor=sch.tech, now=at)


def _verify_result(sch: _Schedule, plan: Plan, code: str, at: datetime) -> None:
    release.verify_result(plan.extra["lot"], code, db=sch.db, actor=sch.tech2, now=at)


def _store_bags(sch: _Schedule, plan: Plan, n: int, at: datetime) -> None:
    printed = labels.print_labels(
        labels.PrintLabels(plan.extra["lot"], "dose-bag", output_format="pdf"),
        db=sch.db,
        actor=sch.tech,
        now=at,
    )
    for i, payload in enumerate(printed.payloads, 1):
        where = parse_location(f"LN2-{1 + n % 2}", f"R{1 + n % 4}", f"B{n:02d}", f"A{i}")
        custody.store_bag(payload, where, db=sch.db, actor=sch.tech, now=at + timedelta(minutes=i))
