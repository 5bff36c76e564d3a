"""A signature binds the review QA looked at: a record changed since is not signed.

Found by a hostile trial (2026-12-04): QA opened the signature dialog on a review showing CD3 at
95 %; meanwhile a technician corrected CD3 and a second one verified it; QA typed the password
and the release was signed over a result nobody in QA had seen. The TUI passes the review's
``reviewed`` hash with the signing (``Dispose.reviewed``); a record changed since is refused
(``changed-by-someone-else``) and nothing is written. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from mfg.errors import Conflict
from mfg.services import release, subjects
from mfg.store.tables import AuditEvent, Signature
from tests.release.conftest import PASSING, enter, harvested, n_rows
from tests.support.constants import NOW, PASSWORD


def _dispose(db, actors, lot: str, reviewed: str) -> release.SignatureView:  # type: ignore[no-untyped-def]
    cmd = release.Dispose(lot, "release", "all results meet specification", reviewed=reviewed)
    return release.dispose(cmd, PASSWORD, db=db, actor=actors["qa"], now=NOW)


def test_a_result_corrected_after_the_review_is_not_signed(db, actors) -> None:  # type: ignore[no-untyped-def]
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    seen = release.review(lot, db=db, actor=actors["qa"])
    assert seen.reviewed == release.review(lot, db=db, actor=actors["qa"]).reviewed  # stable
    release.correct_result(
        release.AddResult(lot, "CD3", "80.5"), "recalc gating", db=db, actor=actors["tech"], now=NOW
    )
    release.verify_result(lot, "CD3", db=db, actor=actors["tech2"], now=NOW)
    before = (n_rows(db, Signature), n_rows(db, AuditEvent))
    with pytest.raises(Conflict, match="changed since your review"):
        _dispose(db, actors, lot, seen.reviewed)
    assert (n_rows(db, Signature), n_rows(db, AuditEvent)) == before
    again = release.review(lot, db=db, actor=actors["qa"])
    assert again.reviewed != seen.reviewed
    assert _dispose(db, actors, lot, again.reviewed).meaning


def test_a_weight_changed_after_the_review_is_not_signed(db, actors) -> None:  # type: ignore[no-untyped-def]
    lot = harvested(db, actors)
    enter(db, actors, lot, PASSING)
    seen = release.review(lot, db=db, actor=actors["qa"])
    subjects.update_weight(
        "S-001", 71.0, NOW.date(), "re-weighed", db=db, actor=actors["tech"], now=NOW
    )
    with pytest.raises(Conflict):
        _dispose(db, actors, lot, seen.reviewed)
