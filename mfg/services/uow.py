"""The unit of work: one transaction per service call, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mfg import audit
from mfg.config import Settings, load_settings
from mfg.domain.permissions import Role, require
from mfg.domain.specs import Product
from mfg.domain.text import check_text
from mfg.store import db as store_db
from mfg.store.tables import SiteSetting


@dataclass(frozen=True)
class Actor:
    """An authenticated user. Only a log-in (``services.users.login``, a resumed session) makes
    one for a real session; it carries ``session_check``, which every service call runs through
    ``require``: a deactivated or locked account, or a changed role, ends the session there."""

    username: str
    full_name: str
    role: Role
    session_check: Callable[[Actor], None] | None = field(default=None, compare=False, repr=False)

    def require(self, action: str) -> None:
        if self.session_check is not None:
            self.session_check(self)
        require(self.role, action)


class Tx:
    """A write transaction: the session, the audit append, an explicit commit."""

    def __init__(self, session: Session, actor: Actor | None, now: datetime) -> None:
        self.session = session
        self.actor = actor
        self.now = now
        self.committed = False
        self._after_commit: list[Callable[[], object]] = []

    def after_commit(self, work: Callable[[], object]) -> None:
        """Run ``work`` once the transaction has committed AND the write lock is released (slow
        work derived from what was committed, e.g. rendering a COA PDF); dropped on rollback."""
        self._after_commit.append(work)

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: str | int,
        *,
        lot_number: str | None = None,
        old: Any = None,
        new: Any = None,
        reason: str | None = None,
        username: str | None = None,
    ) -> audit.Appended:
        if reason is not None:
            check_text("reason", reason, newline_ok=True)  # every audited reason, whatever path
        who = username or (self.actor.username if self.actor else "system")
        return audit.append(
            self.session,
            username=who,
            action=action,
            entity=entity,
            entity_id=entity_id,
            at=self.now,
            lot_number=lot_number,
            old=old,
            new=new,
            reason=reason,
        )

    def commit(self) -> None:
        self.session.commit()
        self.committed = True


@dataclass
class Database:
    """What every service needs: the engine and the site settings."""

    engine: Engine
    settings: Settings
    _write_engine: Engine | None = field(default=None, repr=False)
    _zone: ZoneInfo | None = field(default=None, repr=False)

    @classmethod
    def open(cls, url: str | None = None, settings: Settings | None = None) -> Database:
        settings = settings or load_settings()
        engine = store_db.make_engine(url or settings.effective_database_url)
        return cls(engine=engine, settings=settings)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def write(self, actor: Actor | None, now: datetime) -> Iterator[Tx]:
        if self._write_engine is None:
            self._write_engine = store_db.write_engine(self.engine)
        with (
            Session(self._write_engine, expire_on_commit=False) as s,
            store_db.write_turn(self.engine),  # SQLite: wait in the queue, then BEGIN IMMEDIATE
        ):
            store_db.lock_for_write(s.connection())
            tx = Tx(s, actor, now)
            try:
                yield tx
            finally:
                if not tx.committed:
                    s.rollback()
        # the session is closed: the lock is released (SQLite's with the transaction, PostgreSQL's
        # advisory lock with the transaction too); only committed work gets its follow-up
        if tx.committed:
            for work in tx._after_commit:
                work()

    def products_dir(self) -> Path:
        return self.settings.home / "products"

    @property
    def zone(self) -> ZoneInfo:
        """The site time zone: the database's setting (``mfg.services.site``; only an admin
        changes it), read once per process. The configured value (config.toml, MFG_SITE_TZ)
        applies only to a database that has no setting stored yet (``mfg init`` stores it)."""
        if self._zone is None:
            with self.read() as s:
                row = s.get(SiteSetting, "site_timezone")
            self._zone = ZoneInfo(row.value) if row is not None else self.settings.zone
        return self._zone

    def forget_zone(self) -> None:
        self._zone = None

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def product(self, code: str, version: str | None = None) -> Product:
        from mfg.specfiles import load_product

        return load_product(code, version, self.products_dir())

    def dispose(self) -> None:
        self.engine.dispose()
