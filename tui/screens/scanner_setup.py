"""Scanner setup: scan a label and see whether the scanner is set up for CellTrail.

The keys reach this screen as they arrive (the app does not hold them here, see
``RawKeys``), with their arrival times, so that it can measure the burst: the slowest gap
between two keys (CellTrail takes a burst as a scan when every gap is under 50 ms), whether an
Enter ends the code, lower case (Caps Lock, or the scanner's case conversion) and characters a
CellTrail label never has (a keyboard layout that does not match, e.g. a German layout turns
``-`` into ``ß``). It says what to change on the scanner.
"""

from __future__ import annotations

import re
from itertools import pairwise

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.messages import RawKeys
from tui.wedge import SCAN_MAX_GAP_S, looks_like_code
from tui.widgets.footer import footer

IDLE_S = 0.4  # a burst without Enter is over after this long
LABEL_CHARS = re.compile(r"^[A-Za-z0-9:*\-. ]*$")

INTRO = (
    "Scan any CellTrail label, or a lot number barcode, now.\n"
    "This screen measures the scan and says what to change on the scanner. Esc closes."
)


def diagnose(chars: str, gaps: list[float], enter: bool) -> list[tuple[bool, str]]:
    """(ok, line) for each property of one burst (pure: tested without a scanner)."""
    out = []
    slowest = max(gaps, default=0.0)
    total = sum(gaps)
    fast = slowest <= SCAN_MAX_GAP_S
    out.append(
        (
            fast,
            f"{len(chars)} characters in {total * 1000:.0f} ms, slowest gap {slowest * 1000:.0f} "
            f"ms: "
            + (
                "fast enough"
                if fast
                else f"too slow (limit {SCAN_MAX_GAP_S * 1000:.0f} ms): set the scanner's "
                "inter-character delay to none (USB HID keyboard, fast mode)"
            ),
        )
    )
    out.append(
        (
            enter,
            "ends with Enter: yes"
            if enter
            else "no Enter after the code: set the scanner's suffix to Enter (CR)",
        )
    )
    letters = [c for c in chars if c.isalpha()]
    if letters and all(c.islower() for c in letters):
        out.append(
            (
                False,
                "lower case: Caps Lock is on, or the scanner converts case (CellTrail reads it "
                "either way; turn Caps Lock off or set the scanner to 'no case conversion')",
            )
        )
    odd = sorted({c for c in chars if not LABEL_CHARS.match(c)})
    if odd:
        out.append(
            (
                False,
                f"characters no CellTrail label has: {' '.join(odd)}: the scanner's keyboard "
                "layout differs from this computer's; set both to US English",
            )
        )
    code = chars.strip()
    out.append(
        (
            looks_like_code(code),
            f"read as a CellTrail code: {code}"
            if looks_like_code(code)
            else f"not a CellTrail code: {code!r}",
        )
    )
    return out


class ScannerSetupScreen(RawKeys, ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self) -> None:
        super().__init__()
        self.chars: list[str] = []
        self.times: list[float] = []
        self.idle_s = IDLE_S

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box", id="scanner-box"):
            yield Static("Scanner setup", classes="form-title")
            yield Static(INTRO, id="scanner-intro", markup=False)
            yield Static("waiting for a scan ...", id="scanner-result")
        yield footer()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            return
        event.stop()
        if event.key == "enter":
            self._report(enter=True)
            return
        if event.character and event.is_printable:
            self.chars.append(event.character)
            self.times.append(event.time)
            count = len(self.chars)
            self.set_timer(self.idle_s, lambda: self._idle(count))

    def _idle(self, count: int) -> None:
        if self.chars and len(self.chars) == count:
            self._report(enter=False)

    def _report(self, enter: bool) -> None:
        from rich.text import Text

        chars, times = "".join(self.chars), self.times
        self.chars, self.times = [], []
        if not chars:
            return
        gaps = [b - a for a, b in pairwise(times)]
        shown = Text()
        for ok, line in diagnose(chars, gaps, enter):
            shown.append(("OK    " if ok else "CHANGE ") + line + "\n", "green" if ok else "yellow")
        self.query_one("#scanner-result", Static).update(shown)

    def action_close(self) -> None:
        self.dismiss(None)
