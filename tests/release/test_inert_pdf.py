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


def test_lot_review_styles_a_broken_signature_instead_of_printing_markup(db, actors, cli_clock):
    """`mfg lot review` printed the literal text `[bold red]BROKEN: ...[/]` (issue 12)."""
    from sqlalchemy import text

    from tests.release.conftest import ready_lot
    from tests.release.test_release_cli import ok, run

    lot = ready_lot(db, actors)
    sign(db, actors, lot, decision="release")
    with db.engine.begin() as c:  # a signed record changed outside the app
        c.execute(  # text and number together: the result reads, the signature does not match
            text(
                "UPDATE releaseresult SET value_text = '99.9', value_num = 99.9 "
                "WHERE test_code = 'VIAB'"
            )
        )
    out = ok(run(db, ["lot", "review", lot], "qa")).stdout
    assert "BROKEN: signed records changed" in out
    assert "[bold red]" not in out and "[/]" not in out
