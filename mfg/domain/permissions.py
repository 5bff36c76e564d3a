"""Who may do what: the one permission table (21 CFR 11.10(d), (g)). Enforced in the services."""

from __future__ import annotations

from enum import StrEnum

from mfg.errors import NotPermitted


class Role(StrEnum):
    TECHNICIAN = "technician"
    QA = "qa"
    SPONSOR = "sponsor"
    ADMIN = "admin"


T, Q, SP, A = Role.TECHNICIAN, Role.QA, Role.SPONSOR, Role.ADMIN

# action -> roles allowed. Sponsors read de-identified summaries only; admins manage accounts and
# read the trail but do not create GMP records (separation of duties).
PERMISSIONS: dict[str, frozenset[Role]] = {
    "user.manage": frozenset({A}),
    "audit.read": frozenset({Q, A}),
    "audit.verify": frozenset({Q, A}),
    "audit.key": frozenset({A}),
    "lot.read": frozenset({T, Q, A}),
    "subject.add": frozenset({T, Q}),
    "subject.update": frozenset({T, Q}),
    "lot.register": frozenset({T, Q}),
    "coi.start": frozenset({Q}),
    "label.approve": frozenset({Q}),
    "label.void": frozenset({Q}),
    "lot.correct": frozenset({T, Q}),
    "lot.terminate": frozenset({Q}),
    "count.add": frozenset({T}),
    "count.correct": frozenset({T, Q}),
    "harvest.record": frozenset({T}),
    "harvest.correct": frozenset({T, Q}),
    "result.add": frozenset({T, Q}),
    "result.correct": frozenset({T, Q}),
    "result.verify": frozenset({T, Q}),
    "harvest.verify": frozenset({T, Q}),
    "weight.verify": frozenset({T, Q}),
    "deviation.manage": frozenset({Q}),
    "lot.disposition": frozenset({Q}),
    "lot.hold": frozenset({Q}),
    "lot.oos_administration": frozenset({Q}),
    "coa.print": frozenset({Q}),
    "label.print": frozenset({T, Q}),
    "scan": frozenset({T, Q}),
    "bag.custody": frozenset({T, Q}),
    "report.read": frozenset({Q, SP, A}),
    "export.read": frozenset({Q, SP}),
    "import.lots": frozenset({Q}),
    "backup": frozenset({A}),
    "site.configure": frozenset({A}),
    "validate": frozenset({Q, A}),
}


def allowed(role: Role | str, action: str) -> bool:
    return Role(role) in PERMISSIONS[action]


def require(role: Role | str, action: str) -> None:
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}: add it to PERMISSIONS")
    if not allowed(role, action):
        who = ", ".join(sorted(PERMISSIONS[action])) or "nobody"
        raise NotPermitted(f"role {Role(role)} may not {action} (allowed: {who})")
