"""The unit of work: one transaction per service call, rolled back unless committed."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from mfg import audit
from mfg.audit import Appended
from mfg.auditkey import (
    AuditKeyMissing,
    Keyring,
    append_checkpoint,
    create_keyring,
    database_id,
    load_keyring,
    make_checkpoint,
    open_for_append,
)
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
    ``require``: a deactivated or locked account, or a changed role, ends the session there.
    ``Database.write`` runs it again on its own connection once it holds the write lock, so the
    account and role a write was permitted for are still the stored ones when it commits (an
    admin's change is a write too: it lands before or after, never in between)."""

    username: str
    full_name: str
    role: Role
    session_check: Callable[[Actor, Any], tuple[int, str] | None] | None = field(
        default=None, compare=False, repr=False
    )

    def require(self, action: str) -> None:
        if self.session_check is not None:
            self.session_check(self, None)
        require(self.role, action)

    def require_role(self, action: str) -> None:
        """The role check alone, for a service that reads and writes only inside
        ``Database.write``: that checks the account on its own connection under the write lock,
        before the service's first read (one check per write instead of two)."""
        require(self.role, action)


class Tx:
    """A write transaction: its connection (``conn``), an ORM session on it when a service asks
    for one (``session``), the audit append, an explicit commit.

    After the commit, the new head of the trail is appended to the checkpoint file beside the
    audit key (``mfg.auditkey``): a trail later cut short in the database shows against it.
    """

    def __init__(
        self,
        conn: Connection,
        actor: Actor | None,
        now: datetime,
        db: Database | None = None,
        head: tuple[int, str] | None = None,
    ) -> None:
        self.conn = conn  # the transaction's connection (Core statements go here)
        self._session: Session | None = None
        self.actor = actor
        self.now = now
        self.committed = False
        self._after_commit: list[Callable[[], object]] = []
        self._db = db
        self._last: Appended | None = None
        self._trail = ""
        # The chain's head under this transaction's write lock: read with the account check
        # (``Database.write``), then each event appended; None: ``audit.append`` reads it.
        self._head = head
        self.ahead: Any = None  # what ``Database.write(ahead=...)`` made

    @property
    def session(self) -> Session:
        """An ORM session in this transaction, made when first asked for (a write on Core
        statements alone, as a count, never builds one: its set-up and commit were a sixth of
        the write's CPU)."""
        if self._session is None:
            self._session = Session(
                bind=self.conn, expire_on_commit=False, join_transaction_mode="control_fully"
            )
            self._session.connection()  # joined now: its commit (or rollback) is the write's
        return self._session

    def flush(self) -> None:
        """Pending ORM changes sent (before a Core statement that must follow them)."""
        if self._session is not None:
            self._session.flush()

    def after_commit(self, work: Callable[[], object]) -> None:
        """Run ``work`` once the transaction has committed AND the write lock is released (slow
        work derived from what was committed, e.g. rendering a COA PDF); dropped on rollback."""
        self._after_commit.append(work)

    def keyring(self, first_event: bool) -> Keyring:
        if self._db is None:  # pragma: no cover - every Tx comes from Database.write
            raise AuditKeyMissing("no database settings: no audit key")
        ring = self._db.audit_keyring(create=first_event)
        if not first_event and not self._trail:
            self._trail = self._db.trail(self.conn)
        return ring

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
        self.flush()  # pending ORM changes first (as autoflush did): the event follows them
        appended = audit.append(
            self.conn,
            self.keyring,
            username=who,
            action=action,
            entity=entity,
            entity_id=entity_id,
            at=self.now,
            lot_number=lot_number,
            old=old,
            new=new,
            reason=reason,
            known_head=self._head,
            queue=True,
        )
        if appended.seq == 1:
            self._trail = appended.hash
        self._last = appended
        self._head = (appended.seq, appended.hash)
        return appended

    def appended_in_bulk(self, last: Appended, trail: str = "") -> None:
        """Events a bulk writer (the importer) appended itself: checkpoint its head too."""
        self._last = last
        self._head = (last.seq, last.hash)
        if not self._trail:
            self._trail = trail or (self._db.trail(self.conn) if self._db else "")

    def checkpoint_text(self) -> str:
        """The trail's head in this transaction as a keyed checkpoint, to print on a document
        (a COA issued in this transaction shows the event just before its own)."""
        if self._db is None:  # pragma: no cover - every Tx comes from Database.write
            return ""
        self.flush()
        seq, digest = audit.head(self.conn)
        if not seq:
            return ""
        trail = self._trail or self._db.trail(self.conn)
        ring = self._db.audit_keyring()
        where = (trail, self._db.database_id)
        return make_checkpoint(ring, where, seq, digest, audit.iso_utc(self.now), "coa").short

    def close(self) -> None:
        """The session closed (its transaction, not committed, rolled back)."""
        if self._session is not None:
            self._session.close()

    def commit(self) -> None:
        # pending ORM changes first (they send the queued events ahead of them), then on
        # PostgreSQL the events still queued and the COMMIT in one round trip
        self.flush()
        store_db.commit_queued(self.conn)
        if self._session is not None:
            self._session.commit()  # commits the connection's transaction (control_fully)
        else:
            self.conn.commit()
        self.committed = True
        if self._last is not None and self._db is not None and self._trail:
            self._db.checkpoint(self._trail, self._last.seq, self._last.hash, self.now, "write")


def _begin(
    conn: Connection, actor: Actor | None, ahead: Callable[[Connection], Any] | None
) -> tuple[Any, tuple[int, str] | None]:
    """A write's first round trip: the write lock, the reads known ahead (``Database.write``)
    and the account checked under the lock with the trail's head (see Actor)."""
    store_db.lock_for_write(conn)
    reads = ahead(conn) if ahead is not None else None
    head = None
    if actor is not None and actor.session_check is not None:
        head = actor.session_check(actor, conn)
    return reads, head


# This thread's open write transactions: a log-in begun inside one would wait for itself.
_in_write = threading.local()


def writing_here() -> bool:
    """Whether this thread is inside ``Database.write``. A write begun there would wait for
    the write lock its own thread holds (PostgreSQL: for ever); so would a log-in or an
    e-signature's password check, which queues for the write lock while it holds the log-ins'
    queue (``mfg.store.logins``), where another thread's log-in may be waiting for this write.
    Both are refused at once instead."""
    return getattr(_in_write, "open", False)


@dataclass
class Database:
    """What every service needs: the engine and the site settings."""

    engine: Engine
    settings: Settings
    _write_engine: Engine | None = field(default=None, repr=False)
    _read_engine: Engine | None = field(default=None, repr=False)
    _zone: ZoneInfo | None = field(default=None, repr=False)
    _keyring: Keyring | None = field(default=None, repr=False)
    _trail: str = field(default="", repr=False)
    _database_id: str = field(default="", repr=False)
    _checkpoint_fd: int | None = field(default=None, repr=False)
    _closer: Any = field(default=None, repr=False)

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
        """A session for reads (``store_db.read_engine``: READ ONLY, ended by COMMIT on
        PostgreSQL; an error rolls it back)."""
        with Session(self._reads(), expire_on_commit=False) as s:
            yield s
            if self.dialect == "postgresql":
                s.commit()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for reads, as ``read``."""
        with self._reads().connect() as conn:
            yield conn
            store_db.end_read(conn)

    def _reads(self) -> Engine:
        if self._read_engine is None:
            self._read_engine = store_db.read_engine(self.engine)
        return self._read_engine

    @contextmanager
    def write(
        self,
        actor: Actor | None,
        now: datetime,
        ahead: Callable[[Connection], Any] | None = None,
    ) -> Iterator[Tx]:
        """A write transaction under the write lock, the account checked there.

        ``ahead(conn)``: what the write will read, known before it starts (``mfg.store.ahead``),
        made after the lock is queued and before the account check: on PostgreSQL it goes in the
        lock's round trip. Its result is ``tx.ahead``.

        A connection found lost by that first round trip (a PostgreSQL server restarted since
        the pooled connection's last use, ``mfg.store.pgpool``) is replaced and the write begun
        again, once: nothing of it had reached the server."""
        from sqlalchemy.exc import DBAPIError

        if writing_here():
            raise RuntimeError(
                "a write begun inside a write transaction would wait for that transaction's "
                "own write lock: finish the first write before the next begins"
            )
        if self._write_engine is None:
            self._write_engine = store_db.write_engine(self.engine)
        _in_write.open = True  # ``writing_here``
        try:
            again = True
            while True:
                with (
                    self._write_engine.connect() as conn,
                    store_db.write_turn(self.engine),  # SQLite: wait in the queue
                ):
                    conn.begin()  # SQLite: BEGIN IMMEDIATE (PostgreSQL: psycopg's, with the lock)
                    info = conn.info  # the connection's own: what is queued on it (queue_write)
                    tx: Tx | None = None
                    try:
                        try:
                            reads, head = _begin(conn, actor, ahead)
                        except DBAPIError as e:
                            if not (again and e.connection_invalidated):
                                raise
                            again = False
                            continue  # (the finally below ends this try; the pool has a new one)
                        tx = Tx(conn, actor, now, self, head)
                        tx.ahead = reads
                        yield tx
                    finally:  # whatever failed, nothing queued outlives the transaction
                        store_db.drop_queued(info)
                        if tx is not None:
                            tx.close()
                        if conn.in_transaction():  # not committed (or the session's rolled back)
                            conn.rollback()
                break
        finally:
            _in_write.open = False
        # the connection is closed: the lock is released (SQLite's with the transaction, PostgreSQL's
        # advisory lock with the transaction too); only committed work gets its follow-up
        if tx is not None and tx.committed:
            for work in tx._after_commit:
                work()

    def audit_keyring(self, *, create: bool = False) -> Keyring:
        """The site's audit key (``create``: make one when there is none, for the first event)."""
        if self._keyring is None:
            path = self.settings.audit_key_path
            if create and not path.exists():
                from datetime import UTC

                self._keyring = create_keyring(path, datetime.now(UTC))
            else:
                self._keyring = load_keyring(path)
        return self._keyring

    def trail(self, conn: Any) -> str:
        """Hash of event 1 (the trail's name in the checkpoint files), cached."""
        if not self._trail:
            self._trail = audit.trail_id(conn)
        return self._trail

    @property
    def database_id(self) -> str:
        if not self._database_id:
            self._database_id = database_id(store_db.location(self.engine))
        return self._database_id

    def checkpoint(self, trail: str, seq: int, hash_: str, now: datetime, kind: str) -> str:
        """Append the head to the checkpoint file beside the key; returns the printed form."""
        ring = self.audit_keyring()
        where = (trail, self.database_id)
        cp = make_checkpoint(ring, where, seq, hash_, audit.iso_utc(now), kind)
        try:
            if self._checkpoint_fd is None:  # kept open: one write(2) per commit
                self._checkpoint_fd = fd = open_for_append(ring.checkpoints_path)
                self._closer = weakref.finalize(self, os.close, fd)
            append_checkpoint(ring.checkpoints_path, cp, self._checkpoint_fd)
        except OSError as e:  # the write is committed: say so, do not fail it
            import sys

            sys.stderr.write(
                f"warning: audit checkpoint not written to {ring.checkpoints_path}: {e}\n"
            )
        return cp.short

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
        if self._checkpoint_fd is not None:
            self._closer()  # closes it once, here or when the Database is collected
            self._checkpoint_fd = None
        self.engine.dispose()
