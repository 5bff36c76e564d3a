"""Running the qualification: the registered checks in order on a scratch database, each timed
and recorded (a check that crashes is a failed check with its reason), then the isolation check
that the production database was not changed."""

from __future__ import annotations

import dataclasses
import secrets
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mfg.config import Settings
from mfg.services.uow import Database
from mfg.store import db as store_db
from mfg.validation import checks
from mfg.validation.context import Oq
from mfg.validation.model import FAIL, NOT_AVAILABLE, PASS, Check, NotAvailable, Qualification
from mfg.validation.scratch import environment, production_fingerprint, scratch_database


def record(
    q: Qualification, step: str, title: str, expected: str, fn: Callable[[], tuple[bool, str]]
) -> Check:
    """Run one check and append it to ``q`` numbered ``<step number>.<n within the step>``."""
    steps = list(dict.fromkeys([c.step for c in q.checks] + [step]))
    n = sum(1 for c in q.checks if c.step == step) + 1
    c = Check(f"{steps.index(step) + 1}.{n}", step, title, expected)
    t0 = time.perf_counter()
    try:
        ok, observed = fn()
        c.status, c.observed = (PASS if ok else FAIL), observed
    except NotAvailable as e:
        c.status, c.observed = NOT_AVAILABLE, str(e)
    except Exception as e:  # a check that crashes is a failed check, with its reason
        where = traceback.extract_tb(e.__traceback__)[-1]
        c.status = FAIL
        c.observed = (
            f"unexpected {type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"
        )
    c.seconds = time.perf_counter() - t0
    q.checks.append(c)
    return c


def qualify(q: Qualification, settings: Settings, url: str, now: datetime) -> None:
    """Every registered check, in order, on the (empty) scratch database at ``url``."""
    db = Database(engine=store_db.make_engine(url), settings=settings)
    oq = Oq(db=db, settings=settings, url=url, now=now, password=secrets.token_urlsafe(18))
    try:
        for reg in checks.in_order():
            record(q, reg.step, reg.title, reg.expected, lambda fn=reg.fn: fn(oq))  # type: ignore[misc]
    finally:
        db.dispose()


def run(
    *,
    settings: Settings,
    production_url: str,
    run_by: Any,
    now: datetime | None = None,
) -> Qualification:
    """Run the qualification on a scratch database; never writes to ``production_url``."""
    started = now or datetime.now(UTC)
    env = environment(production_url)
    q = Qualification(
        version=env["CellTrail"],
        environment=env,
        database_kind="PostgreSQL" if production_url.startswith("postgresql") else "SQLite",
        run_by=run_by.username,
        run_by_name=run_by.full_name,
        run_by_role=str(run_by.role),
        started_at=started,
        site_zone=settings.site_timezone,
    )
    before = production_fingerprint(production_url)
    with scratch_database(settings, production_url) as (url, home):
        scratch_settings = dataclasses.replace(settings, home=home, database_url=url)
        q.environment["Scratch database"] = (
            "temporary SQLite file"
            if url.startswith("sqlite")
            else "scratch database " + url.rsplit("/", 1)[1]
        )
        qualify(q, scratch_settings, url, started)
    after = production_fingerprint(production_url)
    record(
        q,
        "Isolation",
        "The production database was not changed by the run",
        f"production audit trail before = after ({before})",
        lambda: (before == after, f"before: {before}; after: {after}; scratch removed"),
    )
    q.finished_at = datetime.now(UTC)
    return q
