"""Issue 13 (10): the scanner setup screen measures a scan and says what to change."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from mfg.services.uow import Database
from tests.tui.conftest import drive, login, scan_burst, settle
from tui.screens.scanner_setup import diagnose


def lines(chars: str, gap: float, enter: bool) -> list[str]:
    return [
        ("OK " if ok else "CHANGE ") + text
        for ok, text in diagnose(chars, [gap] * (len(chars) - 1), enter)
    ]


def test_a_well_set_scanner_is_all_ok() -> None:
    out = lines("BH002-26-0001", 0.004, True)
    assert all(line.startswith("OK ") for line in out), out


def test_slow_no_enter_lower_case_and_wrong_layout_each_say_what_to_change() -> None:
    assert any(
        "too slow" in line and "inter-character delay" in line
        for line in lines("BH002-26-0001", 0.12, True)
    )
    assert any("suffix to Enter" in line for line in lines("BH002-26-0001", 0.004, False))
    assert any("Caps Lock" in line for line in lines("bh002-26-0001", 0.004, True))
    assert any(
        "keyboard layout" in line and "ß" in line for line in lines("BH002ß26ß0001", 0.004, True)
    )


def test_the_screen_measures_a_real_burst(tui_db: Database) -> None:
    async def script(app: Any, pilot: Any) -> None:
        await login(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert type(app.screen).__name__ == "ScannerSetupScreen"
        await scan_burst(pilot, "bh002-26-0001")  # Caps Lock on the scanner
        result = str(app.screen.query_one("#scanner-result", Static).render())
        assert "ends with Enter: yes" in result and "Caps Lock" in result
        assert type(app.screen).__name__ == "ScannerSetupScreen"  # no lot was opened
        # a slow burst ("too slow") is checked on chosen key times in the tests above

    drive(tui_db, script)
