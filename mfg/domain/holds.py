"""Holds: when no bag of a lot may be issued, thawed or infused (one pure rule, every consumer).

A lot is on hold while any of these is true (issue 10; EU GMP Annex 16 section 3 on
confirming the batch still meets its release conditions; 21 CFR 211.192 / 1271.265):
- ``result-failed``: a current release result fails and it was entered (or corrected) after the
  lot's (conditional) release;
- ``open-alert``: an alert on the lot nobody has acknowledged;
- ``signature-broken``: a disposition signature no longer matches the record it signed;
- ``deviation-after-disposition``: a deviation opened after the disposition and still open;
- ``release-withdrawn``: a (conditional) release later rejected;
- ``weight-changed-after-release``: the subject's body weight (it sets the target dose) changed
  after the lot's last (conditional) release and now differs from the weight that release was
  signed with. It ends when QA signs a new disposition after the change (a conditional release
  completed or withdrawn) or when the weight is put back; no OOS decision covers it (a weight
  is not a result out of specification), and a fully released lot has no re-disposition, so
  its bags stay held;
- ``manual``: QA placed a hold by hand (e-signed) and nobody has lifted it;
- ``state-unsigned``: the lot's state says (conditionally) released, and its last signed
  disposition says otherwise or there is none: only an edit outside CellTrail does that (a
  rejected lot's state set to ``released`` in SQL got its bags issued and infused);
- ``historical``: an imported record of the past, never a product in this inventory.

Administering an out-of-specification product is the treating physician's call, recorded as
QA's signed decision (``OosDecision``): it covers the holds of the first four kinds that existed
when it was signed, never a manual hold, a withdrawn release or a historical lot, and never a
hold that arose after it. The lot stays a failure in the outcome (that rule is
``mfg.domain.outcome``'s and does not look at holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

_RELEASED = frozenset({"released", "conditionally_released"})  # LotState values
OVERRIDABLE = frozenset(
    {"result-failed", "open-alert", "signature-broken", "deviation-after-disposition"}
)


@dataclass(frozen=True)
class Fact:
    """One thing that happened to a lot: what (``ref``), when, by whom (may be empty)."""

    ref: str
    at: datetime
    by: str = ""


@dataclass(frozen=True)
class WeightChange:
    """A body weight changed (kg; ``None`` when the record does not say), and when."""

    old_kg: float | None
    new_kg: float | None
    at: datetime


@dataclass(frozen=True)
class HoldFacts:
    """What the hold rule needs to know about a lot (read by ``mfg.services.holds``)."""

    lot_number: str
    historical: bool = False
    released_at: datetime | None = None  # first (conditional) release
    withdrawn_at: datetime | None = None  # a rejection after a (conditional) release
    failing_results: tuple[Fact, ...] = ()  # current failing results: test code, entered at
    open_alerts: tuple[Fact, ...] = ()  # message, raised at
    broken_signatures: tuple[Fact, ...] = ()  # meaning, signed at
    open_deviations: tuple[Fact, ...] = ()  # number, opened at
    manual_holds: tuple[Fact, ...] = ()  # reason, placed at, by
    oos_decisions: tuple[datetime, ...] = ()  # signed at
    last_release_at: datetime | None = None  # latest (conditional) release signed
    weight_changes: tuple[WeightChange, ...] = ()  # the subject's, oldest first
    state: str = ""  # the lot's state column
    last_decision: str | None = None  # the decision of its last disposition, if any


@dataclass(frozen=True)
class HoldReason:
    code: str
    message: str
    since: datetime | None
    covered: bool = False  # by a signed OOS administration decision

    def __str__(self) -> str:
        return self.message


def hold_reasons(f: HoldFacts) -> tuple[HoldReason, ...]:
    """Every reason the lot is held for, covered ones included (marked ``covered``)."""
    out: list[HoldReason] = []
    if f.historical:
        out.append(
            HoldReason("historical", "imported historical record: never issued or infused", None)
        )
    for h in f.manual_holds:
        out.append(HoldReason("manual", f"QA hold by {h.by}: {h.ref}", h.at))
    if f.withdrawn_at is not None:
        out.append(HoldReason("release-withdrawn", "the release was withdrawn", f.withdrawn_at))
    if f.state in _RELEASED and not f.historical and f.last_decision != f.state:
        out.append(
            HoldReason(
                "state-unsigned",
                f"the lot is {f.state}, but its last signed disposition says "
                f"{f.last_decision or 'nothing'}: changed outside CellTrail? QA: mfg audit verify",
                None,
            )
        )
    released = f.released_at
    if released is not None:
        for r in f.failing_results:
            if r.at > released:
                out.append(HoldReason("result-failed", f"{r.ref} failed after the release", r.at))
        for d in f.open_deviations:
            if d.at > released:
                out.append(
                    HoldReason(
                        "deviation-after-disposition",
                        f"deviation {d.ref} opened after the disposition",
                        d.at,
                    )
                )
    weight = _weight_hold(f)
    if weight is not None:
        out.append(weight)
    for a in f.open_alerts:
        out.append(HoldReason("open-alert", f"open alert: {a.ref}", a.at))
    for s in f.broken_signatures:
        out.append(
            HoldReason(
                "signature-broken",
                f"the {s.ref} signature is broken (the signed record changed)",
                s.at,
            )
        )
    last_oos = max(f.oos_decisions, default=None)
    return tuple(
        HoldReason(r.code, r.message, r.since, True)
        if last_oos is not None
        and r.code in OVERRIDABLE
        and r.since is not None
        and r.since <= last_oos
        else r
        for r in out
    )


def _kg(w: float | None) -> str:
    return "?" if w is None else f"{w:g} kg"


def _weight_hold(f: HoldFacts) -> HoldReason | None:
    """The weight changed after the last release and differs from the weight released with."""
    if f.last_release_at is None:
        return None
    ref = f.last_release_at
    after = [w for w in f.weight_changes if w.at > ref]
    if not after:
        return None
    released_kg, now_kg = after[0].old_kg, after[-1].new_kg
    if released_kg is not None and released_kg == now_kg:
        return None  # put back to the weight the release was signed with
    return HoldReason(
        "weight-changed-after-release",
        f"body weight changed after the release: {_kg(released_kg)} -> {_kg(now_kg)} "
        f"(the dose was released for {_kg(released_kg)})",
        after[0].at,
    )


def active_holds(f: HoldFacts) -> tuple[HoldReason, ...]:
    """The reasons that stop issue, thaw and infusion now (empty: not on hold)."""
    return tuple(r for r in hold_reasons(f) if not r.covered)


def overridable_now(f: HoldFacts) -> tuple[HoldReason, ...]:
    """What an OOS administration decision signed now would cover; empty when nothing can be
    covered or when a hold that no decision lifts (manual, withdrawn, historical) stands."""
    active = active_holds(f)
    if not active or any(r.code not in OVERRIDABLE for r in active):
        return ()
    return active
