"""The footer every screen shows: compact, keys in the screen's order of importance (its
``BINDINGS``), only the keys the role may use here (``check_action``, see ``tui.roles``); the
command palette (ctrl+p) and quit (ctrl+q) are in the help (F1) instead of taking 20 columns."""

from __future__ import annotations

from textual.widgets import Footer


def footer() -> Footer:
    return Footer(compact=True, show_command_palette=False)
