"""The data table every screen uses: Textual's, repainted once its columns are measured.

Textual's DataTable sizes its columns when its message queue is next idle after rows are added.
A line painted in between (a busy screen: a reload, a poll, a key) is drawn with the columns as
wide as their headers, and for rows of fixed height Textual keeps that line in its render caches
after the measurement (no cache key changes): the board showed lot numbers cut to ``BH0`` until
the cursor moved. ``Table`` drops those caches when a measurement widened or narrowed a column.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey


class Table(DataTable[Any]):
    """A DataTable whose lines are drawn again when a measurement changes a column's width
    (new rows: ``_update_dimensions``; changed cells: ``_update_column_widths``)."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        before = self._widths()
        super()._update_dimensions(new_rows)
        self._repaint_if_changed(before)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        before = self._widths()
        super()._update_column_widths(updated_cells)
        self._repaint_if_changed(before)

    def _repaint_if_changed(self, before: list[int]) -> None:
        if self._widths() != before:
            self._clear_caches()
            self.refresh()

    def _widths(self) -> list[int]:
        """The widths the columns are drawn at (a column of fixed width keeps its width)."""
        return [self._row_label_column_width] + [
            c.get_render_width(self) for c in self.columns.values()
        ]
