"""A demo database: users and about 20 lots at every stage, written through the real services.

Everything is dated relative to ``now`` (a fixed clock for tests and snapshots, the wall clock for
``mfg tui --demo``), so the demo always looks current: lots in expansion are on day 2..12 today,
harvested lots wait for results, some lots are released. The random numbers are seeded, so the same
``now`` always gives the same database. Steps run in time order, so the audit trail reads like a
real fortnight in the clean room.
"""

from __future__ import annotations

import importlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mfg.domain.permissions import Role
from mfg.services import counts, harvest, lots, subjects, users
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
    return datetime.combine(on, time(hour, minute), db.settings.zone).astimezone(UTC)


def _release_service() -> Any:
    """The release-testing service when it is installed (it lands after the foundation)."""
    try:
        return importlib.import_module("mfg.services.release")
    except ImportError:
        return None


def seed_demo(db: Database, *, now: datetime, lots_wanted: int | None = None) -> dict[str, int]:
    """Create users and demo lots; the database must be migrated and empty. Returns counts."""
    users.init_database(
        db,
        admin="admin",
        full_name=DEMO_USERS["admin"][0],
        password=DEMO_PASSWORD,
        now=now - timedelta(days=40),
    )
    admin = Actor("admin", DEMO_USERS["admin"][0], Role.ADMIN)
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
            now=now - timedelta(days=40),
        )
        actors[name] = Actor(name, full, role)
    tech, tech2, qa = actors["tech"], actors["tech2"], actors["qa"]
    today = db.today(now)
    rng = random.Random(20261125)
    steps: list[Step] = []
    order = 0

    def add(at: datetime, fn: Callable[[datetime], object]) -> None:
        nonlocal order
        order += 1
        steps.append(Step(min(at, now - timedelta(minutes=1)), order, fn))

    plans = [
        Plan(**{**p.__dict__, "extra": {}}) for p in (PLANS[:lots_wanted] if lots_wanted else PLANS)
    ]
    # Lot numbers are given in registration order, so register oldest first.
    ordered = sorted(plans, key=lambda p: -p.day0_ago)
    for n, plan in enumerate(ordered, 1):
        sid = f"S-{n:03d}"
        site = SITES[n % len(SITES)]
        weight = round(rng.uniform(48, 92), 1)
        level = ("DL1", "DL2", "DL3")[n % 3]
        day0 = today - timedelta(days=plan.day0_ago)
        reg_at = _local(db, day0, 8, 30 + n % 20)
        indication = INDICATIONS[n % len(INDICATIONS)]

        def register(
            at: datetime,
            sid=sid,
            site=site,
            weight=weight,
            level=level,
            day0=day0,
            plan=plan,
            indication=indication,
        ) -> None:  # type: ignore[no-untyped-def]
            subjects.add_subject(
                subjects.AddSubject(
                    sid, site, indication, weight, level, weight_on=day0 - timedelta(days=3)
                ),
                db=db,
                actor=tech,
                now=at,
            )
            cmd = (
                lots.RegisterLot(sid, "apheresis", apheresis_on=day0)
                if plan.source == "apheresis"
                else lots.RegisterLot(
                    sid, "cryo-pbmc", apheresis_on=day0 - timedelta(days=35), thaw_on=day0
                )
            )
            v = lots.register_lot(cmd, db=db, actor=tech, now=at)
            plan.extra["lot"] = v.lot_number

        add(reg_at, register)
        if plan.stage == "registered":
            continue
        last_day = plan.harvest_day if plan.harvest_day is not None else plan.day0_ago
        if plan.terminate:
            last_day = min(plan.day0_ago - 1, 6)
        days = [d for d in COUNT_DAYS if d <= last_day and d not in plan.skip_days]
        for d in days:
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
            who = tech if d % 4 == 0 else tech2
            at = _local(db, day0 + timedelta(days=d), 10, (n * 7 + d) % 50)

            def count(at: datetime, plan=plan, d=d, viable=viable, total=total, who=who) -> None:  # type: ignore[no-untyped-def]
                lot = plan.extra["lot"]
                tv, vv = int(round(total, -5)), int(round(viable, -5))
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
                counts.record_count(
                    counts.RecordCount(
                        lot,
                        tv,
                        vv,
                        day=d,
                        method="NC-200",
                        volume_ml=round(min(5000.0, vv / 1.5e6), 0),
                    ),
                    db=db,
                    actor=who,
                    now=at,
                )

            add(at, count)
        if plan.terminate:
            cause, reason = plan.terminate

            def terminate(
                at: datetime, plan: Plan = plan, cause: str = cause, reason: str = reason
            ) -> None:
                lots.terminate_lot(plan.extra["lot"], cause, reason, db=db, actor=qa, now=at)

            add(_local(db, day0 + timedelta(days=last_day), 16), terminate)
            continue
        if plan.harvest_day is None:
            continue
        hday = plan.harvest_day
        hv = plan.seed * math.exp(plan.rate * hday) * rng.uniform(0.95, 1.05)
        car = round(rng.uniform(24, 38), 1)
        hon = day0 + timedelta(days=hday)

        def do_harvest(at: datetime, plan=plan, hv=hv, car=car, hon=hon) -> None:  # type: ignore[no-untyped-def]
            harvest.record_harvest(
                harvest.RecordHarvest(plan.extra["lot"], hon, int(round(hv, -6)), car),
                db=db,
                actor=tech,
                now=at,
            )

        add(_local(db, hon, 14, n % 50), do_harvest)
        plan.extra["car"] = car
        release = _release_service()
        if release is not None and plan.stage in ("testing", "released", "conditional", "rejected"):
            _plan_release(add, release, db, plan, hon, n, rng, tech, tech2, qa, now)

    for step in sorted(steps):
        step.run(step.at)
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


def _plan_release(add, release, db, plan, hon, n, rng, tech, tech2, qa, now) -> None:  # type: ignore[no-untyped-def]
    """Results, verifications, dispositions and bags, through the release and label services."""
    values = dict(PASSING)
    values["VIAB"] = f"{rng.uniform(86, 95):.1f}"
    values["CAR"] = f"{plan.extra['car']:.1f}"
    if plan.stage == "conditional":
        values["STER"] = values["RCL"] = "pending"
    if plan.stage == "rejected":
        values["ENDO"] = "12.4"  # out of specification: an OOS deviation opens
    lot = lambda: plan.extra["lot"]  # noqa: E731  (known only once registered)
    last = hon
    for code, value in values.items():
        entered = _local(db, hon + timedelta(days=REPORTED_AFTER.get(code, 3)), 11, n % 50)
        if entered >= now:
            continue  # not reported yet: stays "not entered" on the lot
        add(
            entered,
            lambda at, code=code, value=value: release.add_result(
                release.AddResult(lot(), code, value), db=db, actor=tech, now=at
            ),
        )
        if value != "pending":
            verified = entered + timedelta(days=1)  # the second person, next day
            if verified < now:
                add(
                    verified,
                    lambda at, code=code: release.verify_result(
                        lot(), code, db=db, actor=tech2, now=at
                    ),
                )
        last = max(last, entered.date())
    decision = {
        "released": "release",
        "conditional": "conditional-release",
        "rejected": "reject",
    }.get(plan.stage)
    if decision is None:
        return
    signed = _local(db, last + timedelta(days=1), 15)
    reason = {
        "release": "all results conform; dose met",
        "conditional-release": "sterility and RCL pending at infusion; released under protocol",
        "reject": "endotoxin out of specification (OOS)",
    }[decision]
    add(
        signed,
        lambda at: release.dispose(
            release.Dispose(lot(), decision, reason), DEMO_PASSWORD, db=db, actor=qa, now=at
        ),
    )
    if decision == "reject":
        return
    try:
        from mfg.domain.custody import parse_location
        from mfg.services import custody, labels
    except ImportError:
        return

    def bags(at: datetime) -> None:
        printed = labels.print_labels(
            labels.PrintLabels(lot(), "dose-bag", output_format="pdf"), db=db, actor=tech, now=at
        )
        for i, payload in enumerate(printed.payloads, 1):
            where = parse_location(f"LN2-{1 + n % 2}", f"R{1 + n % 4}", f"B{n:02d}", f"A{i}")
            custody.store_bag(payload, where, db=db, actor=tech, now=at + timedelta(minutes=i))

    add(signed + timedelta(hours=1), bags)


def create_demo_home(db: Database, *, now: datetime) -> dict[str, int]:
    """Migrate an empty database and seed it (used by ``mfg tui --demo`` on a fresh MFG_HOME)."""
    return seed_demo(db, now=now)
