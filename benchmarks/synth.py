"""Seeded synthetic CellTrail data for benchmarks (and demos): N subjects, one lot each, lots
at every stage of the foundation: registered, in expansion with daily counts, harvested,
terminated. Later stages (release testing, disposition, bags, labels) are added by their owners
with ``add_stage``: a name, a share of the lots, the foundation stage it starts from and a
function that takes such a lot further through the services, e.g.::

    def release(db, lot_number, plan, actors, now):     # results, verification, disposition...
        ...
    add_stage("released", 0.3, base="harvested", build=release)

Two ways in:

* ``populate(db, n, via="services")`` (default): every row goes through the real services --
  role check, validation, write, audit event, commit -- exactly as the CLI would write it, so
  the hash chain and ``mfg audit verify`` hold. About 10-20 ms per row on SQLite with
  synchronous=FULL; fine up to a few thousand lots.
* ``populate(db, n, via="bulk")``: a FAST PATH for large N (10^4-10^6 lots). Rows are inserted
  straight into the tables with executemany, bypassing the services: no validation, and NO audit
  events, so ``mfg audit verify`` reports the records as missing from the trail. Use it only to
  time reads (lists, boards, reports), never as an example of how data is entered.

Both are deterministic for a given ``seed``, ``n`` and ``now``. Typical use::

    from benchmarks.synth import fresh_database, populate
    db, actors = fresh_database(tmp_dir)              # migrated SQLite + users, or url=...
    summary = populate(db, 200, actors=actors, seed=1)
    summary.lots_by_stage["harvested"]                 # lot numbers in that stage

Command line: ``.venv/bin/python benchmarks/synth.py --subjects 500 --home /tmp/synth``
builds an ``MFG_HOME`` usable with ``mfg`` (users admin, tech, qa, sponsor; password
``synthetic-password``). The scales the benchmarks use:

* the TUI board with 100,000 lots: ``--subjects 100000 --bulk`` (``bench_tui.py --lots 100000``);
* the success-rate report with 1,000,000 lots: ``--report-lots 1000000`` (lots in every state
  with harvests, release results and dispositions: ``benchmarks/synth_report.py``; about
  9 million result rows, ~2.5 GB of SQLite; ``bench_reports.py --lots 1000000``).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from mfg.services.uow import Actor, Database

PASSWORD = "synthetic-password"
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
USERS = {
    "admin": ("admin", "Ada Admin"),
    "tech": ("technician", "Tom Technician"),
    "tech2": ("technician", "Tara Technician"),
    "qa": ("qa", "Quinn Quality"),
    "qa2": ("qa", "Quentin Quality"),
    "sponsor": ("sponsor", "Sam Sponsor"),
}
SITES = ("BJ01", "SH02", "GZ03", "CD04", "WH05", "XA06")
INDICATIONS = ("SLE", "LN", "SSc", "SjS", "AAV", "IIM")
DOSE_LEVELS = ("DL1", "DL2", "DL3")
# Foundation stages and their share of lots; owners of later stages append theirs.
STAGES: dict[str, float] = {
    "registered": 0.15,
    "in_expansion": 0.35,
    "harvested": 0.40,
    "terminated": 0.10,
}
COUNT_DAYS = (0, 3, 5, 7, 9, 11)
FOUNDATION = ("registered", "in_expansion", "harvested", "terminated")
# Takes a lot already written as its base stage further, through the services.
StageBuilder = Callable[["Database", str, "LotPlan", "dict[str, Actor]", datetime], None]


@dataclass(frozen=True)
class Stage:
    name: str
    base: str  # the foundation stage whose data the lot gets first
    build: StageBuilder | None = None


EXTRA_STAGES: dict[str, Stage] = {}


def add_stage(
    name: str, share: float, *, base: str = "harvested", build: StageBuilder | None = None
) -> None:
    """Register a later stage: ``share`` of the lots get ``base``'s data, then ``build``.

    The bulk path writes such lots as their base stage only (builders go through services).
    """
    if base not in FOUNDATION:
        raise ValueError(f"base must be one of {FOUNDATION}, not {base!r}")
    STAGES[name] = share
    EXTRA_STAGES[name] = Stage(name, base, build)


def base_stage(stage: str) -> str:
    return EXTRA_STAGES[stage].base if stage in EXTRA_STAGES else stage


@dataclass
class SynthSummary:
    seed: int
    via: str
    subjects: int = 0
    lots: int = 0
    counts: int = 0
    harvests: int = 0
    seconds: float = 0.0
    lots_by_stage: dict[str, list[str]] = field(default_factory=dict)

    def first(self, stage: str) -> str:
        """A lot number in ``stage`` (KeyError/IndexError if none was made)."""
        return self.lots_by_stage[stage][0]


@dataclass(frozen=True)
class LotPlan:
    """Everything random about one subject and its lot, drawn up front from the seed."""

    subject_id: str
    site: str
    indication: str
    weight_kg: float
    dose_level: str
    stage: str
    source: str
    day0: date
    apheresis_on: date
    thaw_on: date | None
    counts: tuple[tuple[int, int, int], ...]  # (day, total, viable)
    harvest_day: int | None
    harvest_viable: int | None
    car_pct: float | None
    termination_cause: str | None


def _stage_for(rng: random.Random, stages: dict[str, float]) -> str:
    x = rng.random() * sum(stages.values())
    for name, share in stages.items():
        x -= share
        if x < 0:
            return name
    return next(reversed(stages))


def plan(
    n_subjects: int, seed: int = 0, now: datetime = NOW, stages: dict[str, float] | None = None
) -> list[LotPlan]:
    """The seeded plan: one lot per subject, stage by share, growth ~25-40 fold by day 11."""
    rng = random.Random(seed)
    today = now.date()
    out = []
    for i in range(1, n_subjects + 1):
        stage = _stage_for(rng, stages or STAGES)
        base = base_stage(stage)
        source = "apheresis" if rng.random() < 0.7 else "cryo-pbmc"
        if base == "registered":
            age = rng.randint(0, 2)
        elif base == "in_expansion":
            age = rng.randint(1, 9)
        elif base == "harvested":
            age = rng.randint(10, 14)
        else:
            age = rng.randint(2, 12)
        day0 = today - timedelta(days=age)
        seed_viable = int(rng.uniform(0.6e8, 1.4e8))
        doubling_h = rng.uniform(30, 60)
        k = math.log(2) * 24 / doubling_h
        counts = []
        if base != "registered":
            last = min(age, 9) if base != "harvested" else min(age - 1, 11)
            for d in COUNT_DAYS:
                if d > last:
                    break
                viable = int(seed_viable * math.exp(k * d) * rng.uniform(0.93, 1.07))
                total = int(viable / rng.uniform(0.85, 0.97))
                counts.append((d, total, viable))
        harvest_day = age if base == "harvested" else None
        out.append(
            LotPlan(
                subject_id=f"SYN-{i:06d}",
                site=rng.choice(SITES),
                indication=rng.choice(INDICATIONS),
                weight_kg=round(rng.uniform(42, 125), 1),
                dose_level=rng.choice(DOSE_LEVELS),
                stage=stage,
                source=source,
                day0=day0,
                apheresis_on=day0
                if source == "apheresis"
                else day0 - timedelta(days=rng.randint(20, 40)),
                thaw_on=None if source == "apheresis" else day0,
                counts=tuple(counts),
                harvest_day=harvest_day,
                harvest_viable=int(seed_viable * math.exp(k * harvest_day))
                if harvest_day
                else None,
                car_pct=round(rng.uniform(12, 45), 1) if harvest_day else None,
                termination_cause=(
                    rng.choice(("manufacturing", "not_evaluable")) if base == "terminated" else None
                ),
            )
        )
    return out


# -- databases ---------------------------------------------------------------------------------
def make_users(db: Database, now: datetime = NOW) -> dict[str, Actor]:
    """Create (or reuse) the synthetic accounts through the services; returns their actors."""
    from mfg.domain.permissions import Role
    from mfg.errors import RuleViolation
    from mfg.services import users
    from mfg.services.uow import Actor

    users.init_database(db, admin="admin", full_name=USERS["admin"][1], password=PASSWORD, now=now)
    admin = Actor("admin", USERS["admin"][1], Role.ADMIN)
    actors = {"admin": admin}
    for name, (role, full) in USERS.items():
        if name != "admin":
            try:
                users.add_user(
                    db,
                    actor=admin,
                    username=name,
                    full_name=full,
                    role=role,
                    password=PASSWORD,
                    now=now,
                )
            except RuleViolation as e:
                if e.rule != "username-taken":
                    raise
        actors[name] = Actor(name, full, Role(role))
    return actors


def fresh_database(
    home: Path, url: str | None = None, *, fast_hash: bool = True, now: datetime = NOW
) -> tuple[Database, dict[str, Actor]]:
    """A migrated database (SQLite at ``home/celltrail.db`` unless ``url``) with the users.

    ``fast_hash`` uses cheap argon2 parameters (as the test suite does); pass False when the
    benchmark times logins (the CLI start-up benchmark does).
    """
    if fast_hash:
        os.environ["CELLTRAIL_FAST_HASH"] = "1"
    from mfg.config import Settings
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, facility_id="W0001", site_timezone="UTC", database_url=url or "")
    db = Database(engine=store_db.make_engine(settings.effective_database_url), settings=settings)
    store_db.upgrade(db.engine)
    return db, make_users(db, now)


def built_home(home: Path) -> Database:
    """The database of a benchmark home built before (``bench_tui.py --lots N --home DIR``),
    at this tree's schema; a home without one, or at an older schema, ends the script with a
    message naming it, nothing written (no empty database file left behind)."""
    from mfg.config import load_settings
    from mfg.errors import ConfigError
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    if not (home / "celltrail.db").is_file():
        sys.exit(
            f"{home}: no benchmark database here (build one: bench_tui.py --lots N --home DIR)"
        )
    db = Database.open(settings=load_settings(home))
    try:
        store_db.check_schema(db.engine)
    except ConfigError as e:
        db.dispose()
        sys.exit(f"{home}: {e.message}")
    return db


# -- through the services ----------------------------------------------------------------------
def _via_services(
    db: Database,
    plans: Sequence[LotPlan],
    actors: dict[str, Actor],
    now: datetime,
    summary: SynthSummary,
    progress: Callable[[int], None] | None,
) -> None:
    from mfg.services import counts, harvest, lots, subjects

    tech, qa = actors["tech"], actors["qa"]
    for i, p in enumerate(plans):
        subjects.add_subject(
            subjects.AddSubject(p.subject_id, p.site, p.indication, p.weight_kg, p.dose_level),
            db=db,
            actor=tech,
            now=now,
        )
        summary.subjects += 1
        lv = lots.register_lot(
            lots.RegisterLot(
                p.subject_id, p.source, apheresis_on=p.apheresis_on, thaw_on=p.thaw_on
            ),
            db=db,
            actor=tech,
            now=now,
        )
        summary.lots += 1
        for day, total, viable in p.counts:
            counts.record_count(
                counts.RecordCount(lv.lot_number, total, viable, day=day),
                db=db,
                actor=tech,
                now=now,
            )
            summary.counts += 1
        if p.harvest_day is not None:
            assert p.harvest_viable is not None and p.car_pct is not None
            harvest.record_harvest(
                harvest.RecordHarvest(
                    lv.lot_number,
                    p.day0 + timedelta(days=p.harvest_day),
                    p.harvest_viable,
                    p.car_pct,
                ),
                db=db,
                actor=tech,
                now=now,
            )
            summary.harvests += 1
        if p.termination_cause:
            reason = (
                "contamination" if p.termination_cause == "manufacturing" else "subject withdrew"
            )
            lots.terminate_lot(lv.lot_number, p.termination_cause, reason, db=db, actor=qa, now=now)
        extra = EXTRA_STAGES.get(p.stage)
        if extra is not None and extra.build is not None:
            extra.build(db, lv.lot_number, p, actors, now)
        summary.lots_by_stage.setdefault(p.stage, []).append(lv.lot_number)
        if progress:
            progress(i + 1)


# -- the fast bulk path ------------------------------------------------------------------------
def _via_bulk(
    db: Database, plans: Sequence[LotPlan], now: datetime, summary: SynthSummary, batch: int = 5000
) -> None:
    """executemany straight into the tables: NO validation, NO audit events (see module doc)."""
    from sqlalchemy import func, insert, select

    from mfg.domain import dose, ids
    from mfg.services.lots import pin_spec
    from mfg.specfiles import load_product
    from mfg.store.tables import CellCount, DoseBag, Harvest, Lot, Subject, TherapyEvent

    product = load_product("BH002")
    yy = now.date().year % 100
    fin = db.settings.facility_id
    with db.write(None, now) as tx:
        s = tx.session
        pin_spec(s, product, now)
        start = (s.execute(select(func.count()).select_from(Lot)).scalar_one() or 0) + 1
        for off in range(0, len(plans), batch):
            chunk = plans[off : off + batch]
            s.execute(
                insert(Subject),
                [
                    {
                        "subject_id": p.subject_id,
                        "site": p.site,
                        "indication": p.indication,
                        "weight_kg": p.weight_kg,
                        "weight_on": now.date(),
                        "dose_level": p.dose_level,
                        "created_at": now,
                    }
                    for p in chunk
                ],
            )
            subject_pks = dict(
                s.execute(
                    select(Subject.subject_id, Subject.id).where(
                        Subject.subject_id.in_([p.subject_id for p in chunk])
                    )
                ).all()
            )
            s.execute(  # one therapy event (CoI) per synthetic subject
                insert(TherapyEvent),
                [
                    {
                        "subject_pk": subject_pks[p.subject_id],
                        "coi": ids.coi(fin, yy, start + off + j).content,
                        "reason": "synthetic",
                        "started_by": "tech",
                        "started_at": now,
                    }
                    for j, p in enumerate(chunk)
                ],
            )
            event_pks = dict(
                s.execute(
                    select(TherapyEvent.subject_pk, TherapyEvent.id).where(
                        TherapyEvent.subject_pk.in_(list(subject_pks.values()))  # type: ignore[attr-defined]
                    )
                ).all()
            )
            lot_rows = []
            for j, p in enumerate(chunk):
                seq = start + off + j
                final = {
                    "registered": "registered",
                    "in_expansion": "in_expansion",
                    "harvested": "harvested",
                    "terminated": "terminated",
                }[base_stage(p.stage)]
                lot_rows.append(
                    {
                        "lot_number": ids.lot_number(product.code, yy, seq),
                        "coi": ids.coi(fin, yy, seq).content,
                        "therapy_event_pk": event_pks[subject_pks[p.subject_id]],
                        "subject_pk": subject_pks[p.subject_id],
                        "product_code": product.code,
                        "spec_version": product.spec_version,
                        "source": p.source,
                        "apheresis_on": p.apheresis_on,
                        "thaw_on": p.thaw_on,
                        "day0": p.day0,
                        "state": final,
                        "termination_cause": p.termination_cause,
                        "termination_reason": "synthetic" if p.termination_cause else None,
                        "registered_at": now,
                        "registered_by": "tech",
                        "state_changed_at": now,
                    }
                )
            s.execute(insert(Lot), lot_rows)
            pks = dict(
                s.execute(
                    select(Lot.lot_number, Lot.id).where(
                        Lot.lot_number.in_([r["lot_number"] for r in lot_rows])
                    )
                ).all()
            )
            count_rows, harvest_rows, bag_rows = [], [], []
            for p, row in zip(chunk, lot_rows, strict=True):
                lot_pk = pks[row["lot_number"]]
                for day, total, viable in p.counts:
                    count_rows.append(
                        {
                            "lot_pk": lot_pk,
                            "expansion_day": day,
                            "measured_on": p.day0 + timedelta(days=day),
                            "total_cells": total,
                            "viable_cells": viable,
                            "recorded_by": "tech",
                            "recorded_at": now,
                        }
                    )
                if p.harvest_day is not None and p.harvest_viable and p.car_pct:
                    car = dose.car_viable_cells(p.harvest_viable, p.car_pct)
                    a = dose.assess_dose(product, p.dose_level, p.weight_kg, car)
                    bags = max(1, min(a.doses_available, 1 + dose.MAX_FURTHER_DOSES))
                    on = p.day0 + timedelta(days=p.harvest_day)
                    harvest_rows.append(
                        {
                            "lot_pk": lot_pk,
                            "harvested_on": on,
                            "harvest_day": p.harvest_day,
                            "total_viable_cells": p.harvest_viable,
                            "car_pct": p.car_pct,
                            "bag_count": bags,
                            "bag_volume_ml": product.bag_volume_ml,
                            "cryopreserved_on": on,
                            "expires_on": on + timedelta(days=product.shelf_life_days),
                            "recorded_by": "tech",
                            "recorded_at": now,
                        }
                    )
                    bag_rows += [
                        {
                            "lot_pk": lot_pk,
                            "bag_no": b,
                            "bag_count": bags,
                            "volume_ml": product.bag_volume_ml,
                            "car_viable_cells": car // bags,
                            "created_at": now,
                        }
                        for b in range(1, bags + 1)
                    ]
                summary.lots_by_stage.setdefault(p.stage, []).append(row["lot_number"])
            if count_rows:
                s.execute(insert(CellCount), count_rows)
            if harvest_rows:
                s.execute(insert(Harvest), harvest_rows)
            if bag_rows:
                s.execute(insert(DoseBag), bag_rows)
            summary.subjects += len(chunk)
            summary.lots += len(chunk)
            summary.counts += len(count_rows)
            summary.harvests += len(harvest_rows)
        tx.commit()


def populate(
    db: Database,
    n_subjects: int,
    *,
    actors: dict[str, Actor] | None = None,
    seed: int = 0,
    now: datetime = NOW,
    via: str = "services",
    stages: dict[str, float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Add ``n_subjects`` subjects with one lot each (see the module docstring for ``via``)."""
    plans = plan(n_subjects, seed, now, stages)
    summary = SynthSummary(seed=seed, via=via)
    t = time.perf_counter()
    if via == "services":
        _via_services(db, plans, actors or make_users(db, now), now, summary, progress)
    elif via == "bulk":
        _via_bulk(db, plans, now, summary)
    else:
        raise ValueError(f"via must be 'services' or 'bulk', not {via!r}")
    summary.seconds = time.perf_counter() - t
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--home", type=Path, required=True, help="MFG_HOME to create (SQLite)")
    ap.add_argument("--db", default=None, help="database URL instead of SQLite in --home")
    ap.add_argument("--bulk", action="store_true", help="fast path: no services, no audit")
    ap.add_argument("--real-hash", action="store_true", help="production argon2 parameters")
    ap.add_argument(
        "--report-lots",
        type=int,
        default=0,
        help="instead: N released/rejected/... lots with results for the report benchmarks "
        "(bulk, e.g. 1000000; benchmarks/synth_report.py)",
    )
    args = ap.parse_args(argv)
    db, actors = fresh_database(args.home, args.db, fast_hash=not args.real_hash)
    if args.report_lots:
        from benchmarks.synth_report import report_lots

        t = time.perf_counter()
        report_lots(db, args.report_lots, seed=args.seed or 7)
        db.dispose()
        print(
            f"{args.report_lots} report lots in {time.perf_counter() - t:.1f} s; MFG_HOME={args.home}"
        )
        return 0
    s = populate(
        db, args.subjects, actors=actors, seed=args.seed, via="bulk" if args.bulk else "services"
    )
    db.dispose()
    stages = ", ".join(f"{k} {len(v)}" for k, v in sorted(s.lots_by_stage.items()))
    print(
        f"{s.lots} lots ({stages}), {s.counts} counts, {s.harvests} harvests "
        f"via {s.via} in {s.seconds:.1f} s; MFG_HOME={args.home} password {PASSWORD!r}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
