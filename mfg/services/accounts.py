"""Sessions and account controls (21 CFR 11.300): the live-account check every service call
makes, log-in sessions (only a hash of the token is stored), and the failed-login report.

- ``check_live`` runs inside ``Actor.require`` for actors made by a log-in: a deactivated or
  locked account, or one whose role changed, gets ``SessionEnded`` at its next action.
- ``open_session`` / ``resume_session`` / ``close_session``: a token (shown once, kept by the
  client) whose SHA-256 is stored with the user, kind (cli, tui) and host; it ends on log-out,
  after the site's idle time, or when the account changes. Opening and closing are audited.
- ``security_events``: failed log-ins, lock-outs and bursts of failures, for admins.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, literal, true
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from mfg import audit
from mfg.domain.permissions import Role
from mfg.domain.text import visible
from mfg.errors import AuthenticationFailed, RuleViolation, SessionEnded
from mfg.services.account_trail import check_account
from mfg.services.uow import Actor, Database
from mfg.store.ahead import Ahead
from mfg.store.tables import AuditEvent, User, UserSession

SESSION_KINDS = ("cli", "tui")
# A burst: this many failed log-ins for one name within the window (reported to admins).
BURST_FAILURES = 3
BURST_WINDOW = timedelta(minutes=15)
SECURITY_ACTIONS = (
    "user.login_failed",
    "user.locked",
    "user.unlocked",
    "login.unknown_user",
    "user.password_expired",
    "user.deactivated",
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- the live-account check ---------------------------------------------------------------------


# Runs before every service call of a logged-in user: three columns by the unique username, on
# Core (a Session and an ORM User per call cost ~1.5 ms of CPU, more than a bare insert+commit).
_user_table = User.__table__  # type: ignore[attr-defined]
_LIVE = core_select(_user_table.c.active, _user_table.c.locked, _user_table.c.role).where(
    _user_table.c.username == bindparam("username")
)
# Under the write lock: the same three columns and the audit trail's head in one statement (one
# round trip fewer under the lock on PostgreSQL, where writers queue on it). The head is read
# after the lock is held (its own statement took it), so no other writer can move it before
# this transaction appends; an account that does not exist still yields the head's row.
_account = _LIVE.subquery()
_head = audit.head_query().subquery()
_LIVE_AND_HEAD = core_select(
    _account.c.active, _account.c.locked, _account.c.role, _head.c.seq, _head.c.hash
).select_from(
    core_select(literal(1).label("one"))
    .subquery()
    .outerjoin(_account, true())
    .outerjoin(_head, true())
)


class _Live(NamedTuple):
    active: bool
    locked: bool
    role: str


def check_live(
    db: Database, actor: Actor, conn: Connection | None = None
) -> tuple[int, str] | None:
    """``SessionEnded`` unless the account is still active, unlocked and in the same role.

    With ``conn`` (``Database.write``'s connection, the write lock held) the account is read
    there together with the audit trail's head, which is returned for the transaction's first
    event (``Tx``); without, on a connection of its own, and None is returned."""
    head: tuple[int, str] | None = None
    u: _Live | None
    if conn is not None:
        # on PostgreSQL on the driver, in the lock's pipeline (``mfg.store.ahead``)
        active, locked, role, seq, hash_ = Ahead(
            conn, _LIVE_AND_HEAD, {"username": actor.username}
        ).rows()[0]
        head = (seq, hash_) if seq is not None else (0, audit.GENESIS)
        u = _Live(active, locked, role) if role is not None else None
    else:
        with db.read_connection() as own:
            row = own.execute(_LIVE, {"username": actor.username}).first()
        u = _Live(*row) if row is not None else None
    if u is None or not u.active:
        raise SessionEnded(
            f"account {actor.username} was deactivated by an admin: you are logged out",
            rule="account-deactivated",
        )
    if u.locked:
        raise SessionEnded(
            f"account {actor.username} is locked: you are logged out; an admin must unlock it",
            rule="account-locked",
        )
    if u.role != actor.role.value:
        raise SessionEnded(
            f"the role of {actor.username} changed from {actor.role} to {u.role}: "
            "log in again to work with the new role",
            rule="role-changed",
        )
    return head


def live_actor(db: Database, u: User) -> Actor:
    """The actor of a successful log-in: every service call re-checks its account."""
    return Actor(u.username, u.full_name, Role(u.role), functools.partial(check_live, db))


# -- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    username: str
    full_name: str
    role: str
    kind: str
    host: str
    opened_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def _view(row: UserSession, u: User, idle: timedelta) -> SessionView:
    return SessionView(
        u.username,
        u.full_name,
        u.role,
        row.kind,
        row.host,
        row.opened_at,
        row.last_seen_at,
        row.last_seen_at + idle,
    )


def open_session(db: Database, actor: Actor, *, kind: str, host: str, now: datetime) -> str:
    """A new session of ``actor`` (already authenticated); returns its token (shown once)."""
    if kind not in SESSION_KINDS:
        raise RuleViolation("kind", "unknown-session-kind", f"{kind!r}: one of cli, tui")
    token = secrets.token_urlsafe(32)
    with db.write(actor, now) as tx:
        row = UserSession(
            token_sha256=token_hash(token),
            username=actor.username,
            kind=kind,
            host=visible(host)[:255],
            opened_at=now,
            last_seen_at=now,
        )
        tx.session.add(row)
        tx.session.flush()
        tx.audit(
            "session.opened",
            "session",
            row.id or 0,
            new={"kind": kind, "host": row.host, "token_sha256": row.token_sha256},
        )
        tx.commit()
    return token


def _end(tx, row: UserSession, reason: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    row.closed_at, row.close_reason = now, reason
    tx.session.add(row)
    tx.audit(
        "session.closed",
        "session",
        row.id or 0,
        username=row.username,
        new={"kind": row.kind, "host": row.host, "why": reason},
    )


def resume_session(db: Database, token: str, *, host: str, now: datetime) -> Actor:
    """The actor of an open session, its idle clock restarted; ``SessionEnded`` when the session
    is unknown, closed, from another host, idle too long, or its account changed."""
    idle = db.settings.idle_timeout
    fresh = _recently_seen(db, token, host, idle, now)
    if fresh is not None:
        return fresh
    with db.write(None, now) as tx:
        row = tx.session.exec(
            select(UserSession).where(UserSession.token_sha256 == token_hash(token))
        ).first()
        if row is None or row.closed_at is not None:
            raise SessionEnded("your session has ended: log in again (mfg login)")
        if row.host != visible(host)[:255]:
            raise SessionEnded(
                f"this session was opened on {row.host}, not here: log in again (mfg login)"
            )
        u = tx.session.exec(select(User).where(User.username == row.username)).first()
        why = _why_over(row, u, idle, now)
        if why is not None:
            _end(tx, row, why, now)
            tx.commit()
            raise SessionEnded(_ENDED[why].format(user=row.username, minutes=_minutes(idle)))
        assert u is not None
        check_account(tx.session.connection(), u)
        row.last_seen_at = now
        tx.session.add(row)
        tx.commit()
        return live_actor(db, u)


# A command within this time of the session's last recorded one is let through on a read: the
# idle clock is moved (a write, an fsync, the write lock) at most once a minute. The recorded time
# is then up to a minute early, so a session can end up to a minute before its idle time, never
# after it.
TOUCH_EVERY = timedelta(minutes=1)


def _recently_seen(
    db: Database, token: str, host: str, idle: timedelta, now: datetime
) -> Actor | None:
    """The session's actor when it is open, from this host, its account live, and its idle clock
    moved less than ``TOUCH_EVERY`` ago; None sends the caller to the write path (which decides
    every refusal and ending, audited)."""
    with db.read() as s:
        row = s.exec(
            select(UserSession).where(UserSession.token_sha256 == token_hash(token))
        ).first()
        if row is None or row.closed_at is not None or row.host != visible(host)[:255]:
            return None
        if not timedelta(0) <= now - row.last_seen_at < min(TOUCH_EVERY, idle):
            return None
        u = s.exec(select(User).where(User.username == row.username)).first()
        if u is None or _why_over(row, u, idle, now) is not None:
            return None
        try:
            check_account(s.connection(), u)
        except AuthenticationFailed:  # decided by the write: no change falls between its reads
            return None
        return live_actor(db, u)


_ENDED = {
    "idle": "your session ended after {minutes} minutes without use: log in again (mfg login)",
    "deactivated": "account {user} was deactivated by an admin: you are logged out",
    "locked": "account {user} is locked: you are logged out; an admin must unlock it",
    "role-changed": "the role of {user} changed: log in again (mfg login)",
}


def _minutes(idle: timedelta) -> int:
    return int(idle.total_seconds() // 60)


def _why_over(row: UserSession, u: User | None, idle: timedelta, now: datetime) -> str | None:
    if u is None or not u.active:
        return "deactivated"
    if u.locked:
        return "locked"
    if now - row.last_seen_at > idle:
        return "idle"
    return None


def session_info(db: Database, token: str) -> SessionView | None:
    """What ``mfg whoami`` shows about a session (None when unknown or closed)."""
    with db.read() as s:
        row = s.exec(
            select(UserSession).where(UserSession.token_sha256 == token_hash(token))
        ).first()
        if row is None or row.closed_at is not None:
            return None
        u = s.exec(select(User).where(User.username == row.username)).first()
        if u is None:
            return None
        return _view(row, u, db.settings.idle_timeout)


def close_session(db: Database, token: str, *, reason: str, now: datetime) -> bool:
    """End a session (log-out, switch user); False when it had already ended."""
    with db.write(None, now) as tx:
        row = tx.session.exec(
            select(UserSession).where(UserSession.token_sha256 == token_hash(token))
        ).first()
        if row is None or row.closed_at is not None:
            return False
        _end(tx, row, reason, now)
        tx.commit()
        return True


# -- failed log-ins, for admins -------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityEvent:
    at: datetime
    action: str
    account: str
    detail: str


@dataclass(frozen=True)
class Burst:
    account: str
    failures: int
    first_at: datetime
    last_at: datetime
    locked: bool


@dataclass(frozen=True)
class SecurityReport:
    since: datetime
    events: tuple[SecurityEvent, ...]
    bursts: tuple[Burst, ...]

    @property
    def failed_logins(self) -> int:
        return sum(e.action in ("user.login_failed", "login.unknown_user") for e in self.events)

    @property
    def lockouts(self) -> int:
        return sum(e.action == "user.locked" for e in self.events)


def security_events(db: Database, *, actor: Actor, since: datetime) -> SecurityReport:
    """Failed log-ins, lock-outs, unlocks and expired passwords since ``since``, with bursts
    (``BURST_FAILURES`` or more failures for one name within ``BURST_WINDOW``)."""
    actor.require("user.manage")
    with db.read() as s:
        rows = s.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).in_(SECURITY_ACTIONS), AuditEvent.at >= since)
            .order_by(col(AuditEvent.seq))
        ).all()
    events = tuple(SecurityEvent(e.at, e.action, e.entity_id, _detail(e)) for e in rows)
    return SecurityReport(since, events, _bursts(events))


def _detail(e: AuditEvent) -> str:
    new = audit.decode(e.new_values)
    parts = []
    if isinstance(new, dict) and "failed_logins" in new:
        parts.append(f"failure {new['failed_logins']}")
    if e.reason:
        parts.append(e.reason)
    if e.action == "user.unlocked" or e.action == "user.deactivated":
        parts.append(f"by {e.username}")
    return "; ".join(parts)


def _bursts(events: tuple[SecurityEvent, ...]) -> tuple[Burst, ...]:
    failing = ("user.login_failed", "user.locked", "login.unknown_user")
    by_account: dict[str, list[SecurityEvent]] = {}
    for e in events:
        if e.action in failing:
            by_account.setdefault(e.account, []).append(e)
    out = []
    for account, evs in sorted(by_account.items()):
        start = 0
        for end in range(len(evs)):
            while evs[end].at - evs[start].at > BURST_WINDOW:
                start += 1
            if end - start + 1 >= BURST_FAILURES and (
                end + 1 == len(evs) or evs[end + 1].at - evs[start].at > BURST_WINDOW
            ):
                window = evs[start : end + 1]
                locked = any(e.action == "user.locked" for e in window)
                out.append(Burst(account, len(window), window[0].at, window[-1].at, locked))
                start = end + 1
    return tuple(out)
