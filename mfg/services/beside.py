"""One read of a screen run beside the others: in a thread, on a connection of its own, so that
SQLite or PostgreSQL, which run a query outside Python's lock, read two parts of it on two
cores (Today: a technician's lots being expanded, or QA's lots ready for disposition)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy.exc import SQLAlchemyError

from mfg.services.uow import Database
from mfg.store.db import reads_at_once

_T = TypeVar("_T")

_NO_SECOND = object()  # the thread had no connection of its own: the caller reads it


@contextmanager
def read_beside(db: Database, read: Callable[[], _T] | None) -> Iterator[Callable[[], _T] | None]:
    """``read`` started at once in a thread, on a connection of its own, when the database can
    read on two at once (``reads_at_once``): SQLite and PostgreSQL run the queries outside
    Python's lock, so two cores read two parts of Today together. Yields what gives ``read``'s
    result (its error raised there, when asked: an error of the caller's own reads comes
    first); ``read`` itself when there is none to be had (an in-memory database; a server
    that refuses one more connection, or a pool that has none left once its ``pool_timeout``
    is up: the thread gives up and the caller reads it, as before), run when asked; None when
    there is no ``read``. The thread is waited for on leaving, also after an error (the
    caller's then wins). The connection checked is returned to the pool and checked out again
    by the read (on PostgreSQL pinged only when it sat idle: ``pgpool.ping_when_idle``)."""
    if read is None or not reads_at_once(db.engine):
        yield read
        return

    def in_thread() -> object:
        try:
            db.engine.connect().close()  # its own connection to be had (then pooled)?
        except SQLAlchemyError:
            return _NO_SECOND
        return read()

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(in_thread)

        def result() -> _T:
            got = future.result()
            return read() if got is _NO_SECOND else cast(_T, got)

        yield result


def outcome(read: Callable[[], _T], beside: object, got: Callable[[], Any] | None) -> _T:
    """``read``'s result: ``got``'s when ``read`` is the one ``read_beside`` was given."""
    return cast(_T, got()) if got is not None and read is beside else read()
