"""A number stored as something that is no number (an edit outside CellTrail on SQLite, whose
columns hold any type: ``viable_cells = 'lots'``) is a refusal naming the column and quoting the
value, never an internal error: ``mfg lot growth`` said "internal error: TypeError" and opening
the lot stopped the TUI. PostgreSQL's typed columns cannot hold such a value. The CLI and TUI
sides: tests/cli/test_stored_values.py, tests/tui/test_refused_reads.py."""

from __future__ import annotations

from typing import Any

import pytest

from mfg.services import counts, harvest, release
from mfg.services.uow import Database
from tests.release.conftest import PASSING, enter, harvested
from tests.robustness.test_unreadable_dates import _edit, _refused
from tests.support.constants import NOW

LOT, OTHER = "BH002-26-0001", "BH002-26-0002"
LAST_COUNT = (
    f"(SELECT max(c.id) FROM cellcount c JOIN lot l ON l.id = c.lot_pk AND l.lot_number = '{LOT}')"
)


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("viable_cells", "'lots'", "'lots'"),
        ("total_cells", "x'00ff'", "b'\\x00\\xff'"),  # a blob
        ("expansion_day", "'3rd'", "'3rd'"),
        ("volume_ml", "'a lot'", "'a lot'"),
        ("viable_cells", "1.5", "1.5"),  # a fraction of a cell: no whole number
    ],
)
def test_a_count_that_is_no_number_is_refused_by_the_growth_view(
    lab: Database,
    request: Any,
    column: str,
    value: str,
    shown: str,
) -> None:
    tech = request.node.actors["tech"]
    _edit(lab, f"UPDATE cellcount SET {column} = {value} WHERE id = {LAST_COUNT}")
    said = _refused(lambda: counts.growth(LOT, db=lab, actor=tech, now=NOW), column)
    assert f"a stored {column} {shown} cannot be read" in said and "mfg audit verify" in said
    _refused(lambda: counts.count_history(LOT, db=lab, actor=tech, now=NOW), column)
    assert counts.growth(OTHER, db=lab, actor=tech, now=NOW).counts  # the other lot reads


def test_numbers_of_the_right_kind_and_null_still_read(lab: Database, request: Any) -> None:
    tech = request.node.actors["tech"]
    _edit(
        lab, f"UPDATE cellcount SET volume_ml = NULL, viable_cells = '9e8' WHERE id = {LAST_COUNT}"
    )
    last = counts.growth(LOT, db=lab, actor=tech, now=NOW).counts[-1]  # stored as 900000000
    assert (last.volume_ml, last.viable_cells) == (None, 9 * 10**8)


def test_a_harvest_or_a_result_that_is_no_number_is_refused(sqlite_db: Database) -> None:
    from tests.conftest import add_users

    actors = add_users(sqlite_db)
    lot = harvested(sqlite_db, actors, "S-001")
    enter(sqlite_db, actors, lot, PASSING)
    _edit(sqlite_db, "UPDATE harvest SET car_pct = 'high'")
    tech = actors["tech"]
    said = _refused(lambda: harvest.show_harvest(lot, db=sqlite_db, actor=tech), "car_pct")
    assert "'high'" in said
    _edit(sqlite_db, "UPDATE releaseresult SET value_num = 'ten' WHERE test_code = 'CAR'")
    _refused(lambda: release.list_results(lot, db=sqlite_db, actor=tech), "value_num")
