"""The board reads one page of lots (newest first) and counts every matching lot."""

from __future__ import annotations

from mfg.services import board
from mfg.services.uow import Actor, Database
from tests.support import world
from tests.support.constants import NOW


def test_pages_are_consecutive_slices_of_the_whole_board(
    db: Database, actors: dict[str, Actor]
) -> None:
    tech = actors["tech"]
    for i in range(5):
        world.subject(db, tech, f"S-00{i}", site="SH02" if i % 2 else "BJ01")
        world.lot(db, tech, f"S-00{i}")
    whole = board.board(db=db, actor=tech, now=NOW)
    pages = [board.board(db=db, actor=tech, now=NOW, limit=2, offset=k) for k in (0, 2, 4)]
    assert [len(p.rows) for p in pages] == [2, 2, 1]
    assert [r for p in pages for r in p.rows] == list(whole.rows)
    assert {p.total_lots for p in pages} == {5}
    numbers = [r.lot_number for r in whole.rows]
    assert numbers == sorted(numbers, reverse=True)  # newest first
    site = board.board(db=db, actor=tech, now=NOW, site="SH02", limit=1)
    assert (len(site.rows), site.total_lots, site.sites) == (1, 2, ("BJ01", "SH02"))
