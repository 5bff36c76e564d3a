"""Accounts: the first admin, users, login with lockout, unlock, password change, re-auth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mfg import auth
from mfg.domain import identity
from mfg.domain.permissions import Role
from mfg.domain.reasons import require_reason
from mfg.domain.text import check_text, visible
from mfg.errors import AuthenticationFailed, NotFound, RuleViolation
from mfg.services import accounts, site
from mfg.services.account_trail import check_account, fingerprint
from mfg.services.uow import Actor, Database, Tx, writing_here
from mfg.store import db as store_db
from mfg.store.logins import login_turn
from mfg.store.tables import PasswordHistory, User

USERNAME_RE = identity.USERNAME_RE  # use with fullmatch (identity.username)


@dataclass(frozen=True)
class UserView:
    username: str
    full_name: str
    role: str
    locked: bool
    active: bool
    failed_logins: int
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserView:
        return cls(
            u.username, u.full_name, u.role, u.locked, u.active, u.failed_logins, u.created_at
        )


def _check_new_user(username: str, full_name: str, role: str, password: str) -> Role:
    identity.username(username)
    if not full_name.strip() or len(full_name) > 200:
        raise RuleViolation("full_name", "full-name-required", "the printed name is required")
    check_text("full_name", full_name)
    try:
        r = Role(role)
    except ValueError:
        raise RuleViolation(
            "role", "unknown-role", f"{role!r} is not one of {', '.join(x.value for x in Role)}"
        ) from None
    auth.check_password_policy(password, username)
    return r


def _insert_user(  # type: ignore[no-untyped-def]
    tx, username: str, full_name: str, role: Role, password: str, by: str | None = None
) -> User:
    existing = identity.lookalike_of(username, tx.session.exec(select(User.username)).all())
    if existing == username:
        raise RuleViolation("username", "username-taken", f"user {username!r} already exists")
    if existing is not None:
        raise RuleViolation(
            "username",
            "username-lookalike",
            f"{username!r} looks like the existing user {existing!r}: choose another name",
        )
    u = User(
        username=username,
        full_name=full_name.strip(),
        role=role.value,
        password_hash=auth.hash_password(password),
        created_at=tx.now,
        password_changed_at=tx.now,
    )
    tx.session.add(u)
    tx.session.flush()
    tx.audit(
        "user.added",
        "user",
        username,
        username=by,
        new={
            "username": username,
            "full_name": u.full_name,
            "role": role.value,
            "password_sha256": fingerprint(u.password_hash),
        },
    )
    return u


def init_database(
    db: Database, *, admin: str | None, full_name: str, password: str | None, now: datetime
) -> tuple[str | None, bool]:
    """Create or upgrade the schema; create the first admin when none exists.

    Returns (schema revision, whether an admin was created).
    """
    if admin is not None:
        admin = identity.username(admin)
        # Validate before touching anything so that a bad password writes nothing.
        _check_new_user(admin, full_name, Role.ADMIN, password or "")
    revision = _upgrade(db, now)
    created = False
    if admin is not None:
        with db.write(None, now) as tx:
            exists = tx.session.exec(select(User).where(User.role == Role.ADMIN.value)).first()
            if exists is None:
                _insert_user(tx, admin, full_name, Role.ADMIN, password or "", by=admin)
                tx.audit(
                    "database.initialised",
                    "database",
                    revision or "",
                    username=admin,
                    new={"schema": revision},
                )
                tx.commit()
                created = True
            elif exists.username != admin:
                raise RuleViolation(
                    "admin",
                    "admin-exists",
                    f"this database already has an admin ({exists.username}); "
                    "ask them to add users",
                )
    with db.write(None, now) as tx:
        if site.store_initial_zone(tx, db.settings.site_timezone, admin or "system"):
            tx.commit()
    db.forget_zone()
    return revision, created


def _upgrade(db: Database, now: datetime) -> str | None:
    """Migrate; a 0.1 trail is keyed by migration 0003 with the site key (created if none)."""
    from sqlalchemy import inspect

    insp = inspect(db.engine)
    legacy = insp.has_table("auditevent") and "key_id" not in {
        c["name"] for c in insp.get_columns("auditevent")
    }
    attributes: dict[str, object] = {"now": now}
    if legacy:
        attributes["audit_keyring"] = db.audit_keyring(create=True)
    # 0005 records the rows it makes (therapy events): keys(first_event), as the write path
    attributes["audit_keys"] = lambda first: db.audit_keyring(create=first)
    revision = store_db.upgrade(db.engine, attributes)
    for name, kind in (("audit_keyed", "keyed"), ("audit_appended", "upgrade")):
        made = attributes.get(name)
        if isinstance(made, tuple):
            trail, seq, digest = made
            db.checkpoint(trail, seq, digest, now, kind)
    return revision


def add_user(
    db: Database,
    *,
    actor: Actor,
    username: str,
    full_name: str,
    role: str,
    password: str,
    now: datetime,
) -> UserView:
    actor.require("user.manage")
    username = identity.username(username)
    r = _check_new_user(username, full_name, role, password)
    with db.write(actor, now) as tx:
        u = _insert_user(tx, username, full_name, r, password)
        tx.commit()
        return UserView.of(u)


def login(
    db: Database, username: str, password: str, *, now: datetime, allow_expired: bool = False
) -> Actor:
    """Authenticate; 5 wrong passwords lock the account until an admin unlocks it; an expired
    password is refused (``password-expired``) unless ``allow_expired`` (changing it). One
    log-in at a time (``mfg.store.logins``), beside the writers; never inside a write of this
    thread (it would wait for the write lock its own write holds): refused at once."""
    if writing_here():
        raise RuntimeError(
            "a log-in or e-signature begun inside a write transaction would wait for that "
            "transaction's own write lock: check the password before the write begins"
        )
    with login_turn(db.engine):
        return _login(db, username, password, now, allow_expired)  # made canonical there


def _login(db: Database, username: str, password: str, now: datetime, allow_expired: bool) -> Actor:
    username = identity.username(username)
    checked, found = _verified_ahead(db, username, password)
    if found is not None:  # nothing to write: no failure to count or to reset
        _check_expiry(db, found, now, allow_expired)
        return accounts.live_actor(db, found)
    with db.write(None, now) as tx:
        u = tx.session.exec(select(User).where(User.username == username)).first()
        if u is None or not u.active:
            # Recorded for the admins' failed-login report (mfg user events); the message is the
            # same as for a wrong password: do not reveal which usernames exist.
            tx.audit(
                "login.unknown_user",
                "login",
                visible(username)[:64] or "-",
                username="system",
                new={"known": u is not None, "active": False},
            )
            tx.commit()
            raise AuthenticationFailed("unknown user or wrong password")
        if u.locked:
            raise AuthenticationFailed(
                f"account {username} is locked after {auth.MAX_FAILED_LOGINS} wrong passwords; "
                "an admin must unlock it (mfg user unlock)",
                rule="account-locked",
            )
        ok = checked.get(u.password_hash)
        if ok is None:  # the hash changed since it was checked: the stored one decides
            ok = auth.verify_password(u.password_hash, password)
        if not ok:
            u.failed_logins += 1
            reason = "wrong password"
            if u.failed_logins >= auth.MAX_FAILED_LOGINS:
                u.locked = True
                tx.audit(
                    "user.locked",
                    "user",
                    username,
                    username=username,
                    new={"failed_logins": u.failed_logins},
                    reason=reason,
                )
            else:
                tx.audit(
                    "user.login_failed",
                    "user",
                    username,
                    username=username,
                    new={"failed_logins": u.failed_logins},
                    reason=reason,
                )
            u.row_version += 1
            tx.session.add(u)
            tx.commit()
            left = auth.MAX_FAILED_LOGINS - u.failed_logins
            if left <= 0:
                raise AuthenticationFailed(
                    f"wrong password; account {username} is now locked", rule="account-locked"
                )
            raise AuthenticationFailed(
                f"unknown user or wrong password ({left} attempt(s) left before lock-out)"
            )
        check_account(tx.session.connection(), u)  # role, active, hash: as the trail says
        if u.failed_logins:
            u.failed_logins = 0
            u.row_version += 1
            tx.session.add(u)
            tx.audit(
                "user.login_reset", "user", username, username=username, new={"failed_logins": 0}
            )
            tx.commit()
        _check_expiry(db, u, now, allow_expired)
        return accounts.live_actor(db, u)


def _verified_ahead(
    db: Database, username: str, password: str
) -> tuple[dict[str, bool], User | None]:
    """The password checked before any write lock (argon2id takes 20-30 ms: under the lock,
    every log-in and e-signature stalled every writer of the site for as long), keyed by the
    hash it was checked against, for the write that counts or resets failures (it checks again
    only when the hash changed in between). Nothing is checked for an unknown, inactive or
    locked account: the write refuses those first.

    A right password of an account with no failure to reset, still the same hash in a second
    read and whose row is what its trail says, needs no write: the account is returned as well
    (a read command then never queues behind the writers). A trail that disagrees there is
    left to the write, under the lock, where no change can fall between reading the account
    and reading its trail."""
    username = identity.username(username)
    with db.read() as s:
        row = s.exec(
            select(User.password_hash, User.active, User.locked).where(User.username == username)
        ).first()
    if row is None or not row[1] or row[2]:
        return {}, None
    stored = row[0]
    checked = {stored: auth.verify_password(stored, password)}
    if not checked[stored]:
        return checked, None
    with db.read() as s:
        u = s.exec(select(User).where(User.username == username)).first()
        if u is None or u.password_hash != stored or not u.active or u.locked or u.failed_logins:
            return checked, None
        try:
            check_account(s.connection(), u)  # role, active, hash: as the trail says
        except AuthenticationFailed:
            return checked, None
    return checked, u


def password_expires_at(db: Database, u: User) -> datetime | None:
    age = db.settings.password_max_age
    return None if age is None else u.password_changed_at + age


def _check_expiry(db: Database, u: User, now: datetime, allow_expired: bool) -> None:
    expires = password_expires_at(db, u)
    if expires is None or now < expires or allow_expired:
        return
    raise AuthenticationFailed(
        f"the password of {u.username} expired on {db.local(expires):%Y-%m-%d}: change it now "
        "(mfg user passwd, or the TUI's log-in screen)",
        rule="password-expired",
    )


def warm_up(db: Database) -> None:
    """Configure the ORM mappers, open two pooled connections (Today reads on two) and compile
    the login's user lookup, writing nothing (an interactive client does this while the person
    types)."""
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    with db.read() as s:
        s.exec(select(User).where(User.username == "")).first()
        if store_db.reads_at_once(db.engine):  # Today reads on two at once: open the second too
            db.engine.connect().close()


def reauthenticate(db: Database, actor: Actor, password: str, *, now: datetime) -> Actor:
    """Ask the password again (e-signature, 21 CFR 11.200): same lockout rules as login."""
    return login(db, actor.username, password, now=now)


def _get(tx: Tx, username: str) -> User:
    username = identity.username(username)
    u = tx.session.exec(select(User).where(User.username == username)).first()
    if u is None:
        raise NotFound("user", username)
    return u


def unlock(db: Database, *, actor: Actor, username: str, reason: str, now: datetime) -> UserView:
    actor.require("user.manage")
    reason = require_reason(reason, "unlocking an account needs a reason")
    with db.write(actor, now) as tx:
        u = _get(tx, username)
        old = {"locked": u.locked, "failed_logins": u.failed_logins}
        u.locked, u.failed_logins = False, 0
        u.row_version += 1
        tx.session.add(u)
        tx.audit(
            "user.unlocked",
            "user",
            username,
            old=old,
            new={"locked": False, "failed_logins": 0},
            reason=reason,
        )
        tx.commit()
        return UserView.of(u)


def change_password(
    db: Database, *, actor: Actor, old_password: str, new_password: str, now: datetime
) -> None:
    change_own_password(db, actor.username, old_password, new_password, now=now)


def change_own_password(
    db: Database, username: str, old_password: str, new_password: str, *, now: datetime
) -> Actor:
    """Change a password (also an expired one): the current one is checked, the new one must
    follow the policy and differ from the last N (site setting ``password_history``)."""
    actor = login(db, username, old_password, now=now, allow_expired=True)
    username = identity.username(actor.username)
    auth.check_password_policy(new_password, username)
    if auth.canonical(new_password) == auth.canonical(old_password):  # accents typed another way
        raise RuleViolation("password", "password-unchanged", "the new password must differ")
    keep = db.settings.password_history_n
    # argon2id before the write lock (tens of ms each): the new hash, and the new password
    # against the earlier ones as they are now; one added meanwhile is checked under the lock
    new_hash = auth.hash_password(new_password)
    with db.read() as s:
        ahead = {h: auth.verify_password(h, new_password) for h in _earlier(s, username, keep)}
    with db.write(actor, now) as tx:
        u = _get(tx, username)
        earlier = _earlier(tx.session, username, keep)
        if any(ahead[h] if h in ahead else auth.verify_password(h, new_password) for h in earlier):
            raise RuleViolation(
                "password",
                "password-reused",
                f"the new password must differ from your last {keep} passwords",
            )
        tx.session.add(
            PasswordHistory(username=username, password_hash=u.password_hash, retired_at=now)
        )
        u.password_hash = new_hash
        u.password_changed_at = now
        u.row_version += 1
        tx.session.add(u)
        tx.audit(
            "user.password_changed",
            "user",
            username,
            new={"password": "changed", "password_sha256": fingerprint(u.password_hash)},
        )
        tx.commit()
        return accounts.live_actor(db, u)


def _earlier(session: Session, username: str, keep: int) -> list[str]:
    """The hashes of the account's last ``keep - 1`` passwords before its current one."""
    if not keep:
        return []
    username = identity.username(username)
    return list(
        session.exec(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.username == username)
            .order_by(col(PasswordHistory.id).desc())
            .limit(max(keep - 1, 0))
        ).all()
    )


def set_active(
    db: Database, *, actor: Actor, username: str, active: bool, reason: str, now: datetime
) -> UserView:
    """Deactivate (never delete) an account, or reactivate it."""
    actor.require("user.manage")
    reason = require_reason(reason, "changing an account needs a reason")
    with db.write(actor, now) as tx:
        u = _get(tx, username)
        old = {"active": u.active}
        u.active = active
        u.row_version += 1
        tx.session.add(u)
        tx.audit(
            "user.activated" if active else "user.deactivated",
            "user",
            username,
            old=old,
            new={"active": active},
            reason=reason,
        )
        tx.commit()
        return UserView.of(u)


def list_users(db: Database, *, actor: Actor) -> list[UserView]:
    actor.require("user.manage")
    with db.read() as s:
        return [UserView.of(u) for u in s.exec(select(User).order_by(User.username)).all()]


def set_role(
    db: Database, *, actor: Actor, username: str, role: str, reason: str, now: datetime
) -> UserView:
    """Give an account another role (audited with a reason); its open sessions end at their next
    action (``accounts.check_live``)."""
    actor.require("user.manage")
    reason = require_reason(reason, "changing a role needs a reason")
    try:
        r = Role(role)
    except ValueError:
        raise RuleViolation(
            "role", "unknown-role", f"{role!r} is not one of {', '.join(x.value for x in Role)}"
        ) from None
    username = identity.username(username)
    if username == actor.username:
        raise RuleViolation("username", "own-role", "an admin cannot change their own role")
    with db.write(actor, now) as tx:
        u = _get(tx, username)
        if u.role == r.value:
            raise RuleViolation("role", "role-unchanged", f"{username} already is {r.value}")
        old = {"role": u.role}
        u.role = r.value
        u.row_version += 1
        tx.session.add(u)
        tx.audit(
            "user.role_changed", "user", username, old=old, new={"role": r.value}, reason=reason
        )
        tx.commit()
        return UserView.of(u)
