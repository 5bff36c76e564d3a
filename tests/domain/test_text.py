"""mfg.domain.text: typed text refused with control characters, shown inert on every edge."""

from __future__ import annotations

import pytest

from mfg.domain.text import cell_inert, check_text, pdf_inert, rich_inert, visible
from mfg.errors import RuleViolation

HOSTILE = [
    "typo\x1b[1A\x1b[2K",  # cursor up, erase line
    "a\x9b2Kb",  # C1 CSI
    "abc\u202edcba",  # right-to-left override
    "zero\u200bwidth",
    "bell\x07",
    "cr\rreturn",
    "tab\there",
    "line\u2028sep",
    "nul\x00",
    "del\x7f",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_control_format_and_escape_characters_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(RuleViolation) as e:
        check_text("reason", text)
    assert e.value.field == "reason" and e.value.rule == "control-characters"
    assert "U+" in e.value.message


@pytest.mark.parametrize(
    "text", ["Müller, Zoë", "张伟", "[bold red]BROKEN[/]", ":V: emoji code", "5 µL = 2 × 10^9", ""]
)
def test_printable_text_in_any_script_passes(text: str) -> None:
    assert check_text("full_name", text) == text


def test_newline_only_where_the_field_takes_several_lines() -> None:
    assert check_text("description", "a\nb", newline_ok=True) == "a\nb"
    with pytest.raises(RuleViolation):
        check_text("reason", "a\nb")
    with pytest.raises(RuleViolation):
        check_text("description", "a\r\nb", newline_ok=True)


@pytest.mark.parametrize("text", HOSTILE)
def test_visible_leaves_no_control_character(text: str) -> None:
    shown = visible(text)
    assert all(ch.isprintable() for ch in shown), repr(shown)


def test_visible_spells_escapes_out() -> None:
    assert visible("typo\x1b[2K") == "typo\\x1b[2K"
    assert visible("a\u202eb") == "a\\u202eb"
    assert visible(None) == ""


def test_rich_inert_prints_markup_literally() -> None:
    from rich.console import Console

    console = Console(width=200, emoji=False, highlight=False, record=True, file=None)
    for text in ["[bold red]BROKEN: x[/]", "[link=http://x]y[/link]", "a\\", "\\[b]", ":V:"]:
        with console.capture() as cap:
            console.print(f"[green]{rich_inert(text)}[/]")
        assert cap.get().rstrip("\n") == text


def test_pdf_inert_escapes_paragraph_markup() -> None:
    assert (
        pdf_inert("<b>x</b> & <font color=red>")
        == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;font color=red&gt;"
    )
    assert pdf_inert(None) == "-"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_cells_that_a_spreadsheet_would_run_are_neutralised(text: str) -> None:
    out = cell_inert(text)
    assert isinstance(out, str) and out.startswith("'")


def test_numbers_and_plain_text_cells_pass() -> None:
    assert cell_inert(-3) == -3
    assert cell_inert(2.5) == 2.5
    assert cell_inert("BJ01") == "BJ01"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("typo", True),
        ("錯誤", True),  # CJK letters
        ("42", True),
        ("\u3164\u3164", False),  # Hangul filler
        ("\u2800", False),  # Braille blank
        ("\u115f\u1160\uffa0", False),
        ("\u034f\u0301", False),  # combining marks alone
        ("- / .", False),
    ],
)
def test_a_reason_must_show_a_letter_or_digit(text: str, says: bool) -> None:
    from mfg.domain.reasons import says_something

    assert says_something(text) is says
