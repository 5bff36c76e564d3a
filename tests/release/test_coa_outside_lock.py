"""The COA PDF is rendered outside the global write lock, from the content stored in the
transaction, and the same content always renders to the same bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from mfg import coa
from mfg.services import release
from mfg.services.uow import Database
from mfg.store.tables import AuditEvent, CoaRevision
from tests.release.conftest import n_rows, ready_lot, sign
from tests.support.constants import NOW


@pytest.fixture
def lock_watch(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Count renders made while this process holds a write transaction."""
    state: dict[str, Any] = {"depth": 0, "renders": 0, "inside": 0}
    write = Database.write
    render = coa.render

    @contextmanager
    def watched_write(self: Database, *a: Any, **kw: Any) -> Iterator[Any]:
        with write(self, *a, **kw) as tx:
            state["depth"] += 1
            try:
                yield tx
            finally:
                state["depth"] -= 1

    def watched_render(*a: Any, **kw: Any) -> bytes:
        state["renders"] += 1
        state["inside"] += state["depth"] > 0
        return render(*a, **kw)

    monkeypatch.setattr(Database, "write", watched_write)
    monkeypatch.setattr(coa, "render", watched_render)
    return state


def test_disposition_renders_the_coa_after_commit_not_under_the_lock(db, actors, lock_watch):
    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    assert lock_watch["renders"] == 1 and lock_watch["inside"] == 0
    with db.read() as s:
        (row,) = s.exec(select(CoaRevision)).all()
    assert row.pdf.startswith(b"%PDF")
    assert hashlib.sha256(row.pdf).hexdigest() == row.pdf_sha256
    # printing returns the stored bytes: nothing is rendered again
    issue = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW)
    assert issue.pdf == row.pdf and lock_watch["renders"] == 1


def test_a_revision_left_unrendered_is_rendered_on_demand_to_the_same_bytes(db, actors):
    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    with db.read() as s:
        (row,) = s.exec(select(CoaRevision)).all()
    issued = row.pdf
    # as if the process died between the commit and the rendering
    with db.write(actors["qa"], NOW) as tx:
        tx.session.exec(update(CoaRevision).values(pdf=b"", pdf_sha256=""))
        tx.commit()
    before = n_rows(db, AuditEvent)
    check = release.verify_pdf(issued, db=db, actor=actors["qa"])
    assert check.ok, check.messages
    assert n_rows(db, AuditEvent) == before  # verifying writes nothing
    again = release.issue_coa(lot, destination="t", db=db, actor=actors["qa"], now=NOW)
    assert again.pdf == issued
    assert again.revision.pdf_sha256 == hashlib.sha256(issued).hexdigest()
    # stored once (coa.rendered) and printed once (coa.printed)
    assert n_rows(db, AuditEvent) == before + 2


def test_the_same_content_renders_to_the_same_bytes(db, actors):
    lot = ready_lot(db, actors)
    sign(db, actors, lot)
    content = release.content_of(lot, None, db=db, actor=actors["qa"])
    assert coa.render(content) == coa.render(content)
