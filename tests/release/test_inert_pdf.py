"""Issue 12: users' text in a COA is text (reportlab Paragraph markup is escaped), and control
characters never reach the PDF."""

from __future__ import annotations

import pytest

from mfg.errors import RuleViolation
from mfg.services import release
from mfg.store.tables import AuditEvent, ReleaseResult
from tests.release.conftest import PASSING, enter, harvested, n_rows, sign
from tests.release.test_coa_pdf import pdf_text, squash
from tests.support.constants import NOW

HOSTILE = '<font color="red">X</font> & <b>y</b> [bold]z[/] :V:'


def test_markup_in_a_correction_reason_prints_literally_on_the_coa(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "VIAB": "81.0"})
    release.correct_result(
        release.AddResult(lot, "VIAB", "88.4 %"), HOSTILE, db=db, actor=actors["tech"], now=NOW
    )
    release.verify_result(lot, "VIAB", db=db, actor=actors["tech2"], now=NOW)
    sign(db, actors, lot, reason="meets specification v1")
    issue = release.issue_coa(lot, destination="test", db=db, actor=actors["qa"], now=NOW)
    assert squash(HOSTILE) in squash(pdf_text(issue.pdf))


def test_a_correction_reason_with_an_escape_sequence_is_refused_and_writes_nothing(db, actors):
    lot = harvested(db, actors)
    enter(db, actors, lot, {**PASSING, "VIAB": "81.0"})
    before = (n_rows(db, ReleaseResult), n_rows(db, AuditEvent))
    with pytest.raises(RuleViolation) as e:
        release.correct_result(
            release.AddResult(lot, "VIAB", "88.4 %"),
            "typo\x1b[1A\x1b[2K",
            db=db,
            actor=actors["tech"],
            now=NOW,
        )
    assert (e.value.field, e.value.rule) == ("reason", "control-characters")
    assert (n_rows(db, ReleaseResult), n_rows(db, AuditEvent)) == before
