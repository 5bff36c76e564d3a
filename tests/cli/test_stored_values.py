"""A stored number that is no number (an SQL edit on SQLite, whose columns hold any type) is a
one-line refusal naming the column, not "internal error: TypeError"; ``mfg audit verify`` names
the record. The services' side: tests/robustness/test_unreadable_numbers.py."""

from __future__ import annotations

import sqlite3

from tests.cli.conftest import Home
from tests.cli.test_safe_output import refused_line


def test_a_count_that_is_no_number_is_a_refusal_naming_it(home: Home) -> None:
    home.subject()
    lot = home.register()
    home.expand(lot)
    with sqlite3.connect(home.db_path) as c:
        c.execute("UPDATE cellcount SET viable_cells = 'lots' WHERE id = 4")
    for args in (["lot", "growth", lot], ["lot", "growth", lot, "--json"]):
        r = home.run(*args)
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        line = refused_line(r, "stored-value-unreadable")
        assert line.startswith("refused: viable_cells: a stored viable_cells 'lots' "), line
    line = refused_line(home.run("audit", "verify", user="qa"), "record-differs-from-trail")
    assert 'count 4: viable_cells is "lots"' in line, line
