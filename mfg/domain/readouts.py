"""When a pending release test can be read: incubation times of the compendial methods.

Sterility (Ph. Eur. 2.6.1 / USP <71>): 14 days of incubation after inoculation. Mycoplasma by
culture (Ph. Eur. 2.6.7): 28 days; CellTrail's spec uses a rapid (NAT) method, read the same
day, so it has no read-out delay here. Tests not listed are read when entered.
"""

from __future__ import annotations

from datetime import date, timedelta

READ_OUT_DAYS: dict[str, int] = {"STER": 14}


def read_out_due(test_code: str, sampled_on: date | None) -> date | None:
    """The day a pending test can be read, or None when it has no incubation time."""
    days = READ_OUT_DAYS.get(test_code.upper())
    if days is None or sampled_on is None:
        return None
    return sampled_on + timedelta(days=days)
