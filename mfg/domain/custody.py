"""Chain of custody of dose bags: the states a bag passes through and the steps allowed.

``created`` (filled at harvest) -> ``stored`` (tank / rack / box / position; a stored bag may be
moved) -> ``issued`` (only from a released or conditionally released lot, not expired) ->
``thawed`` -> ``infused`` (final; never twice). ``discarded`` (with a reason) from any state
before infusion. An issued bag that was not thawed may go back to storage; a thawed bag never
(do not refreeze: Tecartus / Kymriah SmPCs). Infusion should start within 30 minutes of complete
thaw (Kymriah ISI; Tecartus SmPC): the time is kept and an overrun is flagged, not refused, since
the cells are already in the patient's room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from mfg.domain import identity
from mfg.domain.lifecycle import LotState
from mfg.errors import RuleViolation

THAW_TO_INFUSION_LIMIT = timedelta(minutes=30)
ISSUABLE_LOT_STATES = frozenset({LotState.RELEASED, LotState.CONDITIONALLY_RELEASED})
LOCATION_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$")


class BagState(StrEnum):
    CREATED = "created"
    STORED = "stored"
    ISSUED = "issued"
    THAWED = "thawed"
    INFUSED = "infused"
    DISCARDED = "discarded"


class CustodyAction(StrEnum):
    STORE = "store"
    ISSUE = "issue"
    THAW = "thaw"
    INFUSE = "infuse"
    DISCARD = "discard"


B = BagState
# action -> (states it may start from, state it leads to)
STEPS: dict[CustodyAction, tuple[frozenset[BagState], BagState]] = {
    CustodyAction.STORE: (frozenset({B.CREATED, B.STORED, B.ISSUED}), B.STORED),
    CustodyAction.ISSUE: (frozenset({B.STORED}), B.ISSUED),
    CustodyAction.THAW: (frozenset({B.ISSUED}), B.THAWED),
    CustodyAction.INFUSE: (frozenset({B.THAWED}), B.INFUSED),
    CustodyAction.DISCARD: (frozenset({B.CREATED, B.STORED, B.ISSUED, B.THAWED}), B.DISCARDED),
}

_WHY_NOT: dict[tuple[CustodyAction, BagState], str] = {
    (CustodyAction.INFUSE, B.INFUSED): "this bag was already infused: a bag is infused only once",
    (CustodyAction.STORE, B.THAWED): "a thawed bag must not be refrozen; infuse or discard it",
    (CustodyAction.INFUSE, B.ISSUED): "thaw the bag (record `mfg bag thaw`) before infusion",
    (CustodyAction.ISSUE, B.CREATED): "store the bag (tank, rack, box, position) before issuing it",
    (CustodyAction.THAW, B.STORED): "issue the bag before thawing it",
}


def check_step(state: BagState | str, action: CustodyAction | str) -> BagState:
    """The state ``action`` leads to from ``state``; a RuleViolation if it is not allowed."""
    current, step = BagState(state), CustodyAction(action)
    sources, target = STEPS[step]
    if current not in sources:
        why = _WHY_NOT.get((step, current))
        if why is None:
            allowed = ", ".join(a.value for a, (src, _) in STEPS.items() if current in src)
            why = (
                f"a bag that is {current} cannot be {step.value}d here "
                f"(allowed next: {allowed or 'nothing, the bag is ' + current.value})"
            )
        rule = (
            "bag-already-infused"
            if current is B.INFUSED and step is CustodyAction.INFUSE
            else ("illegal-custody-step")
        )
        raise RuleViolation("bag", rule, why)
    return target


@dataclass(frozen=True)
class Location:
    tank: str
    rack: str
    box: str
    position: str

    @property
    def text(self) -> str:
        return f"{self.tank}/{self.rack}/{self.box}/{self.position}"


def parse_location(tank: str, rack: str, box: str, position: str) -> Location:
    parts = {"tank": tank, "rack": rack, "box": box, "position": position}
    for name, value in parts.items():
        if not LOCATION_PART_RE.match(value.strip()):
            raise RuleViolation(
                name,
                "location-format",
                f"{value!r}: a {name} is 1-16 letters, digits, '.' or '-' (e.g. LN2-01, R3, B12, A5)",
            )
    return Location(*(v.strip().upper() for v in parts.values()))


def check_issuable(lot_number: str, lot_state: str, expires_on: date | None, today: date) -> None:
    if LotState(lot_state) not in ISSUABLE_LOT_STATES:
        raise RuleViolation(
            "bag",
            "lot-not-released",
            f"lot {lot_number} is {lot_state}: only bags of a released or conditionally "
            "released lot can be issued",
        )
    if expires_on is not None and expires_on < today:
        raise RuleViolation(
            "bag", "bag-expired", f"the bag expired on {expires_on}: it cannot be issued"
        )


def check_still_released(lot_number: str, lot_state: str) -> None:
    """Thaw and infusion need the lot still released (a conditional release can be withdrawn)."""
    if LotState(lot_state) not in ISSUABLE_LOT_STATES:
        raise RuleViolation(
            "bag",
            "lot-not-released",
            f"lot {lot_number} is now {lot_state}: do not thaw or infuse its bags; "
            "return them to QA",
        )


def check_patient(expected_subject: str, bag_subject: str) -> None:
    """The bedside check: the patient in front of you must be the bag's subject."""
    expected = identity.subject_id(expected_subject, "subject")
    if expected != identity.subject_id(bag_subject, "subject"):
        raise RuleViolation(
            "subject",
            "wrong-subject",
            f"STOP: this bag belongs to subject {bag_subject}, not {expected}",
        )


@dataclass(frozen=True)
class InfusionTiming:
    minutes: float
    limit_minutes: float
    overrun: bool


def infusion_timing(
    thawed_at: datetime, infused_at: datetime, limit: timedelta = THAW_TO_INFUSION_LIMIT
) -> InfusionTiming:
    if infused_at < thawed_at:
        raise RuleViolation(
            "infused_at", "infusion-before-thaw", "infusion cannot start before the thaw"
        )
    elapsed = infused_at - thawed_at
    return InfusionTiming(
        round(elapsed.total_seconds() / 60, 1), limit.total_seconds() / 60, elapsed > limit
    )
