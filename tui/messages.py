"""Messages the screens and the app exchange (thread workers post these, handlers own state)."""

from __future__ import annotations

from textual.message import Message


class OpenLot(Message):
    """Open a lot's detail screen (from the board, the QA queue or a scan), on ``tab`` (a
    result to verify opens on the Release tab; None: the Growth tab)."""

    def __init__(self, lot_number: str, tab: str | None = None) -> None:
        super().__init__()
        self.lot_number = lot_number
        self.tab = tab


class LotChanged(Message):
    """A write changed a lot: screens that show it reload."""

    def __init__(self, lot_number: str | None) -> None:
        super().__init__()
        self.lot_number = lot_number


class ScanRead(Message):
    """A keyboard-wedge scanner (or the scan dialog) produced a code."""

    def __init__(self, payload: str) -> None:
        super().__init__()
        self.payload = payload


class LoggedIn(Message):
    """The login succeeded (posted from the login worker; ``post_message`` is thread-safe)."""

    def __init__(self, actor: object) -> None:
        super().__init__()
        self.actor = actor


class FlushKeys(Message):
    """The app's own timer: the held keys' burst is over (see ``tui.wedge``)."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token


class LotWatcher:
    """A screen that shows lots: the app calls ``lot_changed`` after any write to a lot."""

    def lot_changed(self, lot_number: str | None) -> None:
        raise NotImplementedError


class ScanTarget:
    """A screen that takes scans itself (a custody step, the scan dialog) instead of opening
    the scanned lot: ``handle_scan`` returns True when it used the code."""

    def handle_scan(self, payload: str) -> bool:
        raise NotImplementedError


class RawKeys:
    """A screen that gets every key as it arrives, not held for the scanner-burst check (the
    scanner setup screen measures the burst itself)."""
