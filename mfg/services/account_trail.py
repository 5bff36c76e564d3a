"""An account is what the audit trail recorded for it, or it does not log in.

Who may sign is decided by the ``app_user`` row: its role, its active flag, its password hash.
A hostile trial (2026-12-04) set a technician's role to ``qa`` in SQL; the technician signed a
release, the role was put back, and ``mfg audit verify`` found nothing (it compares the rows as
they are now). The same edit can reactivate a deactivated account, swap in the hash of a known
password, or insert an account. So a log-in and a resumed session first fold the account's own
events (``user.added``, ``user.role_changed``, ``user.activated`` / ``user.deactivated``,
``user.password_changed``; migration 0008's partial index finds them) and refuse an account whose
row differs: nothing is signed, and no session opens, on an edited account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, literal_column, select

from mfg.domain.canonical import decode_json
from mfg.errors import AuthenticationFailed
from mfg.store.tables import AuditEvent, User

_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# ``entity = 'user'`` written in the SQL, not bound: a plan PostgreSQL makes once for every value
# of a parameter (a prepared statement's generic plan) cannot use the partial index
_ACCOUNT_EVENTS = (
    select(_EVENTS.c.action, _EVENTS.c.old_values, _EVENTS.c.new_values)
    .where(
        _EVENTS.c.entity == literal_column("'user'"),
        _EVENTS.c.entity_id.in_(bindparam("names", expanding=True)),
    )
    .order_by(_EVENTS.c.seq)
)
RENAMED = "identity.canonicalised"  # migration 0002 rewrote a name canonically (mfg.trailfold)


def fingerprint(password_hash: str) -> str:
    """What the trail keeps of a password hash, so that a hash swapped in SQL shows (here and in
    `mfg audit verify`, mfg.records); the salted argon2 hash itself stays out of the trail."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def recorded(events: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """What the trail says an account is now: ``role``, ``active``, ``locked``,
    ``password_sha256`` (absent when no event recorded it), from its events oldest first;
    ``{}`` when none created it."""
    now: dict[str, Any] = {}
    for action, new_values in events:
        new = decode_json(new_values)
        if not isinstance(new, dict):
            continue
        if action == "user.added":
            now = {"role": new.get("role"), "active": True, "locked": False}
            if "password_sha256" in new:
                now["password_sha256"] = new["password_sha256"]
        elif not now:
            continue
        elif action == "user.role_changed":
            now["role"] = new.get("role")
        elif action in ("user.activated", "user.deactivated") or (
            action == RENAMED and "active" in new  # a renamed duplicate was deactivated
        ):
            now["active"] = new.get("active")
        elif action in ("user.locked", "user.unlocked"):
            now["locked"] = action == "user.locked"
        elif action == "user.password_changed" and "password_sha256" in new:
            now["password_sha256"] = new["password_sha256"]
    return now


def differences(u: User, trail: dict[str, Any]) -> list[str]:
    """The columns of ``u`` that are not what ``trail`` (``recorded``) says."""
    if not trail:
        return ["the account itself (no audit event created it)"]
    out = []
    if u.role != trail.get("role"):
        out.append(f"role ({u.role!r}, the trail: {trail.get('role')!r})")
    if bool(u.active) != bool(trail.get("active")):
        out.append(f"active ({u.active!r}, the trail: {trail.get('active')!r})")
    if "locked" in trail and bool(u.locked) != trail["locked"]:  # unlocked in SQL: refused
        out.append(f"locked ({u.locked!r}, the trail: {trail['locked']!r})")
    want = trail.get("password_sha256")
    if want is not None and fingerprint(u.password_hash) != want:
        out.append("password hash (not the one last set through CellTrail)")
    return out


def _events(conn: Any, username: str) -> list[tuple[str, str]]:
    """The account's events, oldest first, under its name and every name migration 0002's
    renames (``identity.canonicalised``: ``{"username": old}``) say it had before."""
    names = {username}
    for _ in range(8):  # a name renamed once; more is an edited trail, stopped here
        rows = conn.execute(_ACCOUNT_EVENTS, {"names": sorted(names)}).all()
        olds = set()
        for action, old, _new in rows:
            was = decode_json(str(old)) if action == RENAMED else None
            if isinstance(was, dict) and isinstance(was.get("username"), str):
                olds.add(was["username"])
        if olds <= names:
            break
        names |= olds
    return [(str(a), str(v)) for a, _o, v in rows]


def check_account(conn: Any, u: User) -> None:
    """Refuse (``account-not-in-trail``) an account whose row is not what its trail says."""
    wrong = differences(u, recorded(_events(conn, u.username)))
    if wrong:
        raise AuthenticationFailed(
            f"account {u.username} is not what the audit trail recorded: "
            f"{'; '.join(wrong)}. Changed outside CellTrail: it cannot log in or sign until an "
            "admin restores it (mfg audit verify names the record)",
            rule="account-not-in-trail",
        )
