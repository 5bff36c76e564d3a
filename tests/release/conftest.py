"""Builders for release tests: a harvested lot, passing results, verification, disposition."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import func, select

from mfg.services import release
from mfg.services.uow import Actor, Database
from mfg.validation import CONFORMING_RESULTS
from tests.support import world
from tests.support.constants import NOW, PASSWORD

# A lot that meets BH002 spec v1 on every test (the same set the OQ run enters).
PASSING = dict(CONFORMING_RESULTS)
MAY_BE_PENDING = ("VCN", "STER", "RCL")


def n_rows(db: Database, table: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def harvested(
    db: Database, actors: dict[str, Actor], subject_id: str = "S-001", **kw: object
) -> str:
    lv, _ = world.harvested_lot(db, actors["tech"], subject_id, **kw)  # type: ignore[arg-type]
    return lv.lot_number


def enter(
    db: Database,
    actors: dict[str, Actor],
    lot: str,
    values: dict[str, str],
    *,
    by: str = "tech",
    verify_by: str | None = "tech2",
    now: datetime = NOW,
) -> None:
    for code, value in values.items():
        release.add_result(release.AddResult(lot, code, value), db=db, actor=actors[by], now=now)
        if verify_by and value.strip().lower() != "pending":
            release.verify_result(lot, code, db=db, actor=actors[verify_by], now=now)


def ready_lot(db: Database, actors: dict[str, Actor], **values: str) -> str:
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, **values})
    return lot


def sign(
    db: Database,
    actors: dict[str, Actor],
    lot: str,
    decision: str = "release",
    *,
    by: str = "qa",
    reason: str = "All results meet specification",
    password: str = PASSWORD,
    exception: bool = False,
    deviations: tuple[str, ...] = (),
    now: datetime = NOW,
) -> release.SignatureView:
    return release.dispose(
        release.Dispose(lot, decision, reason, exception, deviations),
        password,
        db=db,
        actor=actors[by],
        now=now,
    )


@pytest.fixture
def lot(db: Database, actors: dict[str, Actor]) -> str:
    return harvested(db, actors)
