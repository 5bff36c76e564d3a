"""Reads end without a ROLLBACK on PostgreSQL, and cannot write.

psycopg forgets every statement it prepared on a connection when that connection rolls back,
and sends ``DEALLOCATE ALL`` (one more round trip). Every read (``Database.read``) and every
account check of a logged-in user (on a connection of its own) ended by closing its connection,
a ROLLBACK: two or four round trips more per service call, and the pooled connection the next
write took had lost its prepared statements (8 writers: 413-440 -> 542-558 writes/s). Reads are
now READ ONLY transactions ended by COMMIT; on SQLite nothing changes (closing rolls back)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mfg.services import lots
from mfg.services.uow import Database
from tests.support import world
from tests.support.constants import NOW, PASSWORD


def _prepared(db: Database) -> int:
    """The statements prepared on the pooled connection the calls used (one thread: one)."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())


@pytest.mark.postgres
def test_a_logged_in_users_reads_keep_the_prepared_statements(pg_db: Database) -> None:
    from mfg.services import users
    from tests.conftest import add_users

    actors = add_users(pg_db)
    world.subject(pg_db, actors["tech"], "S-001")
    number = world.lot(pg_db, actors["tech"], "S-001").lot_number
    tech = users.login(pg_db, "tech", PASSWORD, now=NOW)  # each call checks its account
    pg_db.engine.dispose()  # fresh connections: one, pooled, for what follows
    for _ in range(8):  # psycopg prepares a statement on its 6th use
        lots.show_lot(number, db=pg_db, actor=tech)
    assert _prepared(pg_db) >= 3  # the account check's, the lot's reads; a ROLLBACK leaves none


def test_a_read_cannot_write(db: Database, actors) -> None:  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"], "S-001")
    with db.read() as s:
        before = s.execute(text("SELECT count(*) FROM subject")).scalar_one()
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="read-only transaction"), db.read() as s:
            s.execute(text("DELETE FROM subject"))
        with db.read_connection() as conn:
            assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    else:  # SQLite: closing the read rolls it back, as it always did
        with db.read() as s:
            s.execute(text("DELETE FROM subject"))
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM subject")).scalar_one() == before == 1
