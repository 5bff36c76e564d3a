"""Engines and schema management.

SQLite (the embedded default): WAL, foreign keys on, synchronous FULL, a busy timeout, and
write transactions opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue instead of
failing on a lock upgrade. PostgreSQL (``postgresql+psycopg://``): write transactions take one
transaction-scoped advisory lock, which serialises the audit-chain append (and the lot / COI
sequence) across every process.

SQLite's own wait for the write lock is a busy handler that sleeps and retries with growing
back-off, so under contention a writer can lose the race again and again (a long p99 tail).
CellTrail's writers therefore queue first on an OS file lock next to the database
(``write_turn``): a waiting writer sleeps in the kernel and is woken when the lock is released,
without polling; ``BEGIN IMMEDIATE`` then finds the database free. Writers from outside
CellTrail (the sqlite3 shell, a backup) still meet the busy timeout.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from mfg.errors import ConfigError
from mfg.store.pgpool import ping_when_idle

WRITE_LOCK_KEY = 0x43454C4C  # "CELL": pg_advisory_xact_lock key for the write path
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is too late and deferred).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = FULL")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("celltrail_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def has_nul(params: Any) -> bool:
    # Before every statement: one flat pass (nested only for executemany's list of dicts).
    if isinstance(params, str):
        return "\x00" in params
    if isinstance(params, dict):
        values: Any = params.values()
    elif isinstance(params, (list, tuple)):
        values = params
    else:
        return False
    for v in values:
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, (dict, list, tuple)) and has_nul(v):
            return True
    return False


# An execution option: the parameters were checked for NUL by the caller (``bulk.insert_rows``).
NUL_CHECKED = "celltrail_nul_checked"


def nul_refused() -> Exception:
    from mfg.errors import RuleViolation

    return RuleViolation(
        "input", "nul-character", "the text contains a NUL character (\\x00); retype it"
    )


def _refuse_nul(conn: Any, cursor: Any, statement: str, params: Any, context: Any, *_: Any) -> None:
    """PostgreSQL cannot store NUL in text (it would fail deep in the driver); refuse it on both
    backends with a rule, so the same input behaves the same everywhere."""
    if context is not None and context.execution_options.get(NUL_CHECKED):
        return
    if has_nul(params):
        raise nul_refused()


def _before_pg_statement(
    conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
) -> None:
    """PostgreSQL: the NUL check, and the statements queued on the connection go first: with
    this one (``_with_queued``) when the driver executes it with parameters on a client-side
    cursor, else on their own now."""
    _refuse_nul(conn, cursor, statement, params, context, executemany)
    if conn.info.get(_QUEUED) and (
        executemany or not params or getattr(cursor, "name", None) or context is None
    ):
        send_queued(conn)


def _with_queued(cursor: Any, statement: str, params: Any, context: Any) -> bool:
    """PostgreSQL's ``do_execute``: the statements queued on the connection and this one in one
    pipeline, in that order (one round trip); False (SQLAlchemy executes it) when none wait."""
    try:
        queued = context.root_connection.info.pop(_QUEUED, None)
    except NotImplementedError:  # the dialect's first-connect queries: an ad-hoc connection
        return False
    if not queued:
        return False
    _pipelined(cursor.connection, queued, context.dialect.dbapi, cursor, statement, params)
    return True


def _pipelined(raw: Any, queued: list[Queued], dbapi: Any, cursor: Any = None, *last: Any) -> None:
    """``queued`` in one pipeline, then ``cursor.execute(*last)`` (a statement of SQLAlchemy's,
    or COMMIT). An error of a queued statement is reported by ``_refusal``; the last
    statement's own error as the driver raised it (SQLAlchemy reports a statement's)."""
    sent: list[Any] = []
    try:
        with raw.pipeline():
            for write in queued:
                sent.append(raw.cursor())
                sent[-1].execute(write.sql, write.params)
            if cursor is not None:
                cursor.execute(*last)
        for write, cur in zip(queued, sent, strict=True):
            if write.rows is not None:  # a read sent ahead: its rows are here now
                write.rows.extend(cur.fetchall())
    except dbapi.Error as e:
        from psycopg import pq

        if raw.broken:  # the connection is lost: the driver's own error, which SQLAlchemy (or
            raise  # ``_on_driver``) tells as a lost connection, and the pool replaces it
        ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
        # the first not done (a client-side error stops the sending: the last sent one)
        for write, cur in zip(queued, sent, strict=False):
            if cur.pgresult is None or cur.pgresult.status not in ok:
                raise _refusal(write, e, dbapi) from e
        raise
    finally:
        for cur in sent:
            cur.close()


# -- statements sent with the next one or with COMMIT (PostgreSQL) --------------------------------
# A statement whose result the transaction does not need before its next statement (the write
# lock; an audit event: its seq and hash are worked out before it is sent; a read whose
# statement is known in advance, ``mfg.store.ahead``: its rows are kept on its ``Queued`` and
# read once the pipeline returns) need not cost a round trip of its own. On PostgreSQL it waits
# on the connection (``queue_write``, ``lock_for_write``) and goes in one psycopg pipeline with
# the connection's next statement, ahead of it (the engine's statement events: nothing that
# follows it in the transaction can miss it), or with the COMMIT (``commit_queued``). Writers
# queue on the write lock: each round trip saved after it is taken shortens every other
# writer's wait. Elsewhere nothing is queued.
_QUEUED = "celltrail_queued"


class Queued(NamedTuple):
    sql: str  # the driver's SQL, its parameters by name (psycopg's %(name)s)
    params: dict[str, Any]
    refused: Callable[[Exception], Exception] | None = None  # what an IntegrityError becomes
    rows: list[Any] | None = None  # a read sent ahead (``mfg.store.ahead``): its rows, once sent


def queue_write(conn: Connection, write: Queued) -> None:
    """Keep ``write`` (a statement whose result is not needed before the next one: a write, or a
    read sent ahead) on a PostgreSQL connection (see above); the NUL check is done now."""
    if has_nul(write.params):
        raise nul_refused()
    conn.info.setdefault(_QUEUED, []).append(write)


def drop_queued(info: dict[str, Any]) -> None:
    """Forget what is queued on a connection (``Connection.info``, kept when the transaction
    began: it ends now, a failed one without its commit)."""
    info.pop(_QUEUED, None)


def _forget_queued(conn: Connection) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    with suppress(SQLAlchemyError):  # an invalidated connection has no queue left to forget
        drop_queued(conn.info)


def send_queued(conn: Connection) -> None:
    """Send the queued writes now, in order (before a statement that may depend on them)."""
    queued = conn.info.pop(_QUEUED, None)
    if queued:
        _on_driver(conn, queued, commit=False)


def still_queued(conn: Connection, write: Queued) -> bool:
    """Whether ``write`` still waits on ``conn`` (nothing has sent it yet)."""
    return any(w is write for w in conn.info.get(_QUEUED, ()))


def commit_queued(conn: Connection) -> bool:
    """Send the queued writes and COMMIT in one pipeline (one round trip); False when nothing
    was queued (the caller commits as usual). A refusal rolls nothing back here: the caller's
    transaction ends by its own rollback, as after any failed statement."""
    queued = conn.info.pop(_QUEUED, None)
    if not queued:
        return False
    _on_driver(conn, queued, commit=True)
    return True


def _on_driver(conn: Connection, queued: list[Queued], *, commit: bool) -> None:
    """``queued`` sent past SQLAlchemy's execution (with COMMIT, or before a statement that
    needs them); the driver's errors told as SQLAlchemy tells them, a lost connection as lost
    (``connection_invalidated``) and given up, so that the pool opens a new one."""
    from sqlalchemy.exc import DBAPIError

    raw: Any = conn.connection.dbapi_connection
    dbapi: Any = conn.dialect.dbapi
    try:
        if not commit:
            _pipelined(raw, queued, dbapi)
            return
        with raw.cursor() as cur:
            _pipelined(raw, queued, dbapi, cur, "COMMIT")
    except dbapi.Error as e:  # the COMMIT's own, or the connection lost
        lost = bool(raw.broken)
        if lost:
            conn.invalidate(e)
        raise DBAPIError.instance(
            "COMMIT" if commit else queued[0].sql,
            None,
            e,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
        ) from e


def _refusal(write: Queued, e: Exception, dbapi: Any) -> Exception:
    """A queued statement's error as SQLAlchemy reports a driver's (its ``DBAPIError``, the
    parameters hidden as ``make_engine`` asks), an integrity error as ``write.refused`` makes it."""
    from sqlalchemy.exc import DBAPIError

    if write.refused is not None and isinstance(e, dbapi.IntegrityError):
        return write.refused(e)
    return DBAPIError.instance(write.sql, None, e, dbapi.Error, hide_parameters=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Engine for ``url`` with CellTrail's settings; ``write_engine`` gives its write flavour.

    ``hide_parameters``: an error never carries the statement's parameters (initials, dates of
    birth) into a message, the terminal or the error log."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        event.listen(engine, "before_cursor_execute", _refuse_nul)
        return engine
    if url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        try:
            engine = create_engine(url, hide_parameters=True, **kwargs)
            from mfg.store.partial import for_postgresql

            for_postgresql()
            ping_when_idle(engine)
            event.listen(engine, "before_cursor_execute", _before_pg_statement)
            event.listen(engine, "do_execute", _with_queued)
            # a commit not by ``commit_queued`` sends what is queued first; a rollback forgets it
            event.listen(engine, "commit", send_queued)
            event.listen(engine, "rollback", _forget_queued)
            return engine
        except ModuleNotFoundError:
            raise ConfigError(
                "PostgreSQL needs the driver: pip install 'celltrail[postgres]'"
            ) from None
    raise ConfigError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql+psycopg://")


def reads_at_once(engine: Engine) -> bool:
    """Whether two threads can read the same database at once, each on its own connection:
    PostgreSQL and a SQLite file can; an in-memory SQLite database (``sqlite://``,
    ``:memory:``, a ``mode=memory`` URI) is a new, empty one per connection, and a pool that
    hands every thread one shared connection (static) or each thread its own (per thread) has
    no second connection to the same data to give."""
    from sqlalchemy.pool import SingletonThreadPool, StaticPool

    if isinstance(engine.pool, (SingletonThreadPool, StaticPool)):
        return False
    if engine.dialect.name == "sqlite":
        name = engine.url.database or ""
        in_memory = "mode=memory" in name or engine.url.query.get("mode") == "memory"
        return name not in ("", ":memory:") and not in_memory
    return True


def location(engine: Engine) -> str:
    """Where the database lives, without credentials: the SQLite file, or host:port/name."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return "sqlite:" + str(Path(url.database or ":memory:").resolve())
    return f"postgresql:{url.host or ''}:{url.port or 5432}/{url.database or ''}"


def write_engine(engine: Engine) -> Engine:
    return engine.execution_options(celltrail_write=True)


def read_engine(engine: Engine) -> Engine:
    """The engine for reads: on PostgreSQL its transactions are READ ONLY (psycopg adds it to
    the BEGIN it sends) and ``end_read`` commits them. A ROLLBACK makes psycopg forget every
    statement it prepared on that connection and send ``DEALLOCATE ALL``, one more round trip:
    ending each read (and each account check) with one did that two or four times per service
    call, and the statements were prepared again and again. A read-only transaction has
    nothing to commit: refused by the server if a read tried to write."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(postgresql_readonly=True)


def end_read(conn: Connection) -> None:
    """End a read's transaction on a ``read_engine`` connection: on PostgreSQL by COMMIT (see
    ``read_engine``); elsewhere closing the connection rolls it back as before."""
    if conn.dialect.name == "postgresql" and conn.in_transaction():
        conn.commit()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection of ``read_engine(engine)``, its transaction ended by ``end_read``."""
    with read_engine(engine).connect() as conn:
        yield conn
        end_read(conn)


_turns: dict[tuple[int, str, str], tuple[threading.RLock, int]] = {}
_turns_guard = threading.Lock()


def _turn(path: str, kind: str = "write") -> tuple[threading.RLock, int]:
    """This process's lock (threads) and open lock file (processes) for one database file."""
    key = (os.getpid(), path, kind)  # a forked child opens its own file description
    with _turns_guard:
        turn = _turns.get(key)
        if turn is None:
            fd = os.open(f"{path}-{kind}lock", os.O_RDWR | os.O_CREAT, 0o600)
            turn = _turns[key] = (threading.RLock(), fd)
    return turn


@contextmanager
def write_turn(engine: Engine, kind: str = "write") -> Iterator[None]:
    """Wait for this writer's turn on a SQLite file (no-op for PostgreSQL and in-memory); the
    log-ins' own queue with ``kind="login"`` (``mfg.store.logins``)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone
        path = None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    lock, fd = _turn(path, kind)
    with lock:  # threads of this process: one file description holds one flock
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


_LOCK = Queued("SELECT pg_advisory_xact_lock(%(k)s)", {"k": WRITE_LOCK_KEY})


def lock_for_write(conn: Connection) -> None:
    """Serialise writers: the SQLite BEGIN IMMEDIATE already did; PostgreSQL takes the lock as
    the transaction's first statement, queued (``queue_write``) to go in one pipeline with
    psycopg's BEGIN and the transaction's next statement: the server runs that statement once
    the lock is held, on a snapshot of its own (READ COMMITTED), as when it came a round trip
    later."""
    if conn.dialect.name == "postgresql":
        queue_write(conn, _LOCK)


@cache
def _alembic_ini() -> Path:
    return Path(__file__).parent / "alembic.ini"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config(str(_alembic_ini()))
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# The newest migration this code expects, checked by every command with one plain query (Alembic
# costs ~0.2 s of start-up); tests/test_migrations.py keeps it equal to the migration head.
SCHEMA_HEAD = "0010"


def schema_revision(engine: Engine) -> str | None:
    """The database's Alembic revision, or None when it has no CellTrail schema."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def upgrade(engine: Engine, attributes: dict[str, Any] | None = None) -> str | None:
    """Create or upgrade the schema to the newest migration; returns the revision.

    ``attributes`` go to the migrations (0003 needs ``audit_keyring`` to key an existing trail)
    and receive what they report back (``audit_keyed``).
    """
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    cfg.attributes.update(attributes or {})
    if engine.dialect.name == "sqlite":
        _upgrade_sqlite(engine, cfg)
    else:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    if attributes is not None:
        attributes.update({k: v for k, v in cfg.attributes.items() if k != "connection"})
    return schema_revision(engine)


def _upgrade_sqlite(engine: Engine, cfg: Any) -> None:
    """SQLite rebuilds a table to alter it (Alembic batch mode), dropping the old one; with
    foreign keys on, that fails for a table others reference (migration 0005 alters ``lot``).
    As SQLite's own procedure for such changes says: foreign keys off (outside a transaction),
    migrate in one transaction, ``foreign_key_check`` before commit, foreign keys back on."""
    from alembic import command

    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if bad:
                    raise ConfigError(f"the upgrade would break foreign keys: {bad[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


def owner_role(engine: Engine) -> tuple[str, str] | None:
    """PostgreSQL: (the role connected, the role owning the audit table); None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT current_user, tableowner FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = 'auditevent'"
            )
        ).first()
    return None if row is None else (str(row[0]), str(row[1]))


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at the newest migration."""
    current = schema_revision(engine)
    head = SCHEMA_HEAD
    if current is None:
        raise ConfigError(f"no CellTrail database at {engine.url!r}: run `mfg init --admin NAME`")
    if current != head:
        raise ConfigError(
            f"database schema is at {current}, this CellTrail expects {head}: run `mfg init`"
        )
