"""The screens' data table (tui.widgets.table.Table) is drawn again once its columns are sized.

Textual sizes a DataTable's columns when the table is next idle after rows arrive. A line painted
in between (a busy screen) was kept in Textual's render caches after the sizing: the board showed
lot numbers cut to ``BH0`` until the cursor moved (seen in tmux: QA verified a result, then opened
the board while the poll reloaded it)."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult

from tui.widgets.table import Table


class _OneTable(App[None]):
    CSS = "DataTable { width: 1fr; height: 1fr; }"  # as on the screens: the width is fixed

    def compose(self) -> ComposeResult:
        yield Table()


async def _sized(pilot: Any, table: Table) -> None:
    for _ in range(200):  # a condition, not a sleep: the table's idle sizing has run
        if not table._require_update_dimensions and not table._updated_cells:
            return
        await pilot.pause()
    raise AssertionError("the table was not sized")


def test_a_line_painted_before_the_columns_are_sized_is_painted_again() -> None:
    async def main() -> None:
        app = _OneTable()
        async with app.run_test(size=(60, 6)) as pilot:
            table = app.query_one(Table)
            table.add_column("Lot")
            await pilot.pause()

            row = table.add_row("BH002-26-0001")
            early = table.render_line(1).text  # painted before the sizing, as a busy screen can
            assert "BH0 " in early and "BH002-26-0001" not in early  # the case this is about
            await _sized(pilot, table)
            assert "BH002-26-0001" in table.render_line(1).text

            # a changed cell that widens its column (``update_width``): the same
            table.update_cell(
                row, table.ordered_columns[0].key, "BH002-26-0001 HOLD", update_width=True
            )
            assert "HOLD" not in table.render_line(1).text
            await _sized(pilot, table)
            assert "BH002-26-0001 HOLD" in table.render_line(1).text

    asyncio.run(main())
