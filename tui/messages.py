"""Messages the screens and the app exchange (thread workers post these, handlers own state)."""

from __future__ import annotations

from textual.message import Message


class OpenLot(Message):
    """Open a lot's detail screen (from the board, the QA queue or a scan)."""

    def __init__(self, lot_number: str) -> None:
        super().__init__()
        self.lot_number = lot_number


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
