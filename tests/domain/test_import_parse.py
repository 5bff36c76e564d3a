"""The import's validation parses each result text of a file once (``import_rows.Known``): rows
that repeat a text get the same result as parsing it on its own, and a refused text is refused
on every row that has it."""

from __future__ import annotations

from datetime import date

from mfg.domain import import_rows
from mfg.domain.results import parse_result
from mfg.specfiles import load_product
from tests.reports.scenario import row

BH002 = load_product("BH002", "1")
TODAY = date(2026, 12, 1)


def test_a_repeated_text_is_the_result_of_parsing_it_alone():
    raws = [
        row("HX-0001", "H-001", VIAB="92.5", ENDO="<0.5", STER="no GROWTH"),
        row("HX-0002", "H-002", VIAB="92.5", ENDO="<0.5", STER="No growth"),
        row("HX-0003", "H-003", VIAB="61.0", ENDO="7.5", STER="no GROWTH", state="rejected"),
        row("HX-0004", "H-004", VIAB="75.0", CD3="75.0", state="rejected"),  # one text, 2 tests
    ]
    rows, errors = import_rows.parse_rows(raws, BH002, TODAY)
    assert not errors.items and len(rows) == 4
    for raw, parsed in zip(raws, rows, strict=True):
        for code, result in parsed.results:
            assert result == parse_result(BH002.test(code), raw[code]), (raw["lot_id"], code)
    viab = [dict(r.results)["VIAB"] for r in rows]
    assert [v.evaluation for v in viab] == ["pass", "pass", "fail", "pass"]
    assert dict(rows[3].results)["CD3"].evaluation == "fail"  # >= 80 %: the same text fails
    sterility = [dict(r.results)["STER"].value_text for r in rows[:3]]
    assert sterility == ["no GROWTH", "No growth", "no GROWTH"]  # as typed, row by row


def test_a_refused_text_is_refused_on_every_row_that_has_it():
    raws = [row(f"HX-000{i}", f"H-00{i}", VIAB="92,5 %") for i in (1, 2, 3)]
    rows, errors = import_rows.parse_rows(raws, BH002, TODAY)
    assert rows == []
    assert [(e.row, e.field) for e in errors.items] == [(2, "VIAB"), (3, "VIAB"), (4, "VIAB")]
