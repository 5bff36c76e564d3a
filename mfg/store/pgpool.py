"""A pooled PostgreSQL connection pinged before use only when it has been idle.

SQLAlchemy's pool_pre_ping sends a ping (psycopg: `;`) on every checkout of a pooled
connection: one round trip more for each service call (0.13 ms of a count's 1.0 ms of CPU, and
the server's share). A connection that ended a transaction a moment ago is as alive as that
ping would show (it proves the server was there at the ping, not at the write after it). So
the ping is sent when the connection has been idle for PING_AFTER_IDLE_S or more (a TUI left
alone, a worker's first write after a pause), and a connection found dead is replaced before
use, as pool_pre_ping does. One that died within that time is found by the next write's first
round trip, which ``Database.write`` begins again once on a new connection (nothing of the
write had reached the server); a read meeting it fails, and the pool replaces it. Once one
connection is found lost, every other one used before that moment is pinged at its next
checkout, idle or not (a restarted server ended them all).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

PING_AFTER_IDLE_S = 2.0
_USED_AT = "celltrail_used_at"


def ping_when_idle(engine: Engine) -> None:
    """Ping ``engine``'s pooled connections on checkout only after ``PING_AFTER_IDLE_S``."""
    from sqlalchemy.exc import DisconnectionError

    dialect = engine.dialect
    lost = [float("-inf")]  # when a connection of this pool was last found lost

    def connected(dbapi_conn: Any, record: Any) -> None:
        record.info[_USED_AT] = time.monotonic()

    def invalidated(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        # one connection found lost: a server restart ended the others too, so each one used
        # before now is pinged at its next checkout (a write's one new beginning then gets a
        # live connection, however many the pool held)
        if exception is not None:
            lost[0] = time.monotonic()

    def checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        used = record.info.get(_USED_AT)
        if used is not None and used > lost[0] and time.monotonic() - used < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as e:
            if dialect.is_disconnect(e, dbapi_conn, None):
                raise DisconnectionError("the connection was lost: a new one is opened") from e
            raise

    def checked_in(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info[_USED_AT] = time.monotonic()

    event.listen(engine.pool, "connect", connected)
    event.listen(engine.pool, "checkout", checked_out)
    event.listen(engine.pool, "checkin", checked_in)
    event.listen(engine.pool, "invalidate", invalidated)
