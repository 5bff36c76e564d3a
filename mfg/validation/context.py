"""What every OQ check works with: the scratch database, the clock of the run, the scratch
accounts (stand-ins with the same identity when the accounts check failed, so later checks fail
rather than crash), what earlier checks produced, and the helpers of a refusal check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import func, select

from mfg.config import Settings
from mfg.domain.permissions import Role
from mfg.errors import CellTrailError
from mfg.services import lots, subjects
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, CellCount

# A lot that meets BH002 specification version 1 on every release test.
CONFORMING_RESULTS = {
    "APPEAR": "Conforms",
    "VIAB": "91.2 %",
    "CD3": "95.1",
    "CAR": "32.5 %",
    "VCN": "1.8",
    "POT": "250 pg/mL",
    "ENDO": "<0.5",
    "GRAM": "No organisms seen",
    "MYCO": "negative",
    "STER": "No growth",
    "RCL": "Not detected",
    "BEADS": "<10",
}
# day -> (total, viable): about 30-fold over 11 days
GROWTH = {0: (110_000_000, 100_000_000), 3: (260_000_000, 240_000_000),
          5: (640_000_000, 600_000_000), 7: (1_300_000_000, 1_200_000_000),
          9: (2_300_000_000, 2_100_000_000)}  # fmt: skip

ADMIN = Actor("oq-admin", "OQ Admin", Role.ADMIN)
_STAND_INS = {
    "oq-tech": Actor("oq-tech", "OQ-TECH", Role.TECHNICIAN),
    "oq-tech2": Actor("oq-tech2", "OQ-TECH2", Role.TECHNICIAN),
    "oq-qa": Actor("oq-qa", "OQ-QA", Role.QA),
    "oq-qa2": Actor("oq-qa2", "OQ-QA2", Role.QA),
    "oq-sponsor": Actor("oq-sponsor", "OQ-SPONSOR", Role.SPONSOR),
}


@dataclass
class Oq:
    db: Database
    settings: Settings
    url: str
    now: datetime
    password: str
    actors: dict[str, Actor] = field(default_factory=dict)
    # what earlier checks produced
    lot: str = ""
    bags: int = 0
    payload: str = ""
    imported: int = 0
    lot2: str = ""

    @property
    def today(self) -> date:
        return self.db.today(self.now)

    @property
    def day0(self) -> date:
        return self.today - timedelta(days=11)

    @property
    def actor_admin(self) -> Actor:
        return ADMIN

    def actor(self, username: str) -> Actor:
        return self.actors.get(username) or _STAND_INS[username]

    @property
    def tech(self) -> Actor:
        return self.actor("oq-tech")

    @property
    def tech2(self) -> Actor:
        return self.actor("oq-tech2")

    @property
    def qa(self) -> Actor:
        return self.actor("oq-qa")

    @property
    def qa2(self) -> Actor:
        return self.actor("oq-qa2")

    def n_rows(self, table: type) -> int:
        with self.db.read() as s:
            return int(s.exec(select(func.count()).select_from(table)).one())

    def second_lot(self) -> str:
        """A lot in expansion for the refusal checks (registered once, before they count)."""
        if not self.lot2:
            subjects.add_subject(
                subjects.AddSubject("OQ-002", "OQ", "LN", 70.0, "DL1"),
                db=self.db,
                actor=self.tech,
                now=self.now,
            )
            self.lot2 = lots.register_lot(
                lots.RegisterLot(
                    "OQ-002", "apheresis", apheresis_on=self.today - timedelta(days=3)
                ),
                db=self.db,
                actor=self.tech,
                now=self.now,
            ).lot_number
        return self.lot2

    def nothing_written(self, fn: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
        """Run a refusal check and also require that no audit event and no count was written."""
        self.second_lot()
        before = (self.n_rows(AuditEvent), self.n_rows(CellCount))
        ok, obs = fn()
        same = (self.n_rows(AuditEvent), self.n_rows(CellCount)) == before
        return ok and same, obs + ("; nothing written" if same else "; SOMETHING WAS WRITTEN")


def refused(
    fn: Callable[[], Any], rule: str | None = None, kind: type | None = None
) -> tuple[bool, str]:
    """Expect a refusal (optionally with this rule / error class)."""
    try:
        fn()
    except CellTrailError as e:
        ok = (rule is None or e.rule == rule) and (kind is None or isinstance(e, kind))
        return ok, f"refused: {e} [{e.rule}]"
    return False, "accepted (no refusal)"
