"""Which keys a screen offers, by the user's role and the lot's state (``check_action``).

A key the role may never use is hidden (``False``): QA is not offered Count or Harvest, a
sponsor is not offered the board. A key the role may use but not on this lot now is hidden too,
so that the footer at 80 columns lists what can be done here, most important first (the order of
the screen's ``BINDINGS``). The services enforce the same rules; this only keeps the footer
honest and short.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfg.domain.permissions import allowed

EXPANDING = frozenset({"registered", "in_expansion"})
TESTING = frozenset({"harvested", "in_release_testing", "conditionally_released"})
DISPOSITIONED = frozenset({"released", "conditionally_released", "rejected"})
LIVE = EXPANDING | TESTING
AFTER_HARVEST = TESTING | DISPOSITIONED
BEFORE_DISPOSITION = frozenset({"registered", "in_expansion", "harvested", "in_release_testing"})


@dataclass(frozen=True)
class Rule:
    permission: str
    states: frozenset[str] | None = None  # None: any state


# lot detail actions (see tui.screens.lot_detail)
LOT_ACTIONS: dict[str, Rule] = {
    "count": Rule("count.add", EXPANDING),
    "correct": Rule("count.correct", None),  # counts, and results even after disposition
    "harvest": Rule("harvest.record", frozenset({"in_expansion", "harvested"})),
    "result": Rule("result.add", TESTING),
    "verify": Rule("result.verify", TESTING),
    "disposition": Rule("lot.disposition", TESTING),
    "custody": Rule("bag.custody", AFTER_HARVEST),
    "labels": Rule("label.print", None),
    "coa": Rule("coa.print", DISPOSITIONED),
    "alerts": Rule("deviation.manage", None),
    "deviation": Rule("deviation.manage", None),
    "close_deviation": Rule("deviation.manage", None),
    "terminate": Rule("lot.terminate", BEFORE_DISPOSITION),
}

# board actions (see tui.screens.lot_board)
BOARD_ACTIONS: dict[str, Rule] = {
    "register": Rule("lot.register"),
    "count": Rule("count.add", EXPANDING),
    "harvest": Rule("harvest.record", frozenset({"in_expansion"})),
}


def offered(role: str | None, rule: Rule | None, state: str | None) -> bool:
    """Whether a key is offered: the role may do it and (when the lot is known) the lot's state
    allows it. A rule-less action is always offered."""
    if rule is None:
        return True
    if role is None or not allowed(role, rule.permission):
        return False
    return rule.states is None or state is None or state in rule.states
