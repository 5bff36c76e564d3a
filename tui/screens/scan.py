"""Scanning: a keyboard-wedge scanner types a label's payload and Enter, on any screen.

The app spots a scan by its speed (see ``CellTrailApp._scan_key``) or the user opens the scan
dialog (ctrl+o) and types or scans a code. The code is resolved by the labels' scan service when
it is installed (QR payloads with their MAC), else as a lot number or COI code. A code that
resolves to nothing is refused loudly (bell and an error toast), never silently ignored.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.messages import OpenLot, ScanTarget
from tui.widgets.footer import footer
from tui.workers import in_thread

LOT_RE = re.compile(r"^[A-Z0-9]{2,10}-[0-9]{2}-[0-9]{4,6}$", re.IGNORECASE)
PAYLOAD_RE = re.compile(r"^CT[0-9]+:[A-Z]:[A-Z0-9-]+:[A-Z0-9]+:", re.IGNORECASE)
COI_RE = re.compile(r"^[A-NP-Z1-9][0-9]{12}[0-9A-Z*]$", re.IGNORECASE)
# ISBT 128 (Data Matrix compound message or one structure, e.g. the CoI bar code) and the
# eye-readable CoI with its check character: resolved by the labels' scan service / board.
ISBT_RE = re.compile(r"^[=&][^\s]{4,}$")
CH_COI_RE = re.compile(r"^CH[A-NP-Z1-9][A-Z0-9]{12}[0-9A-Z*]?$", re.IGNORECASE)


def _labels_scan() -> Any:
    try:
        return importlib.import_module("mfg.services.labels")
    except ImportError:
        return None


def looks_like_code(text: str) -> bool:
    """Whether a fast burst of keys is a label code rather than typing."""
    t = text.strip()
    compact = re.sub(r"\s+", "", t)
    if LOT_RE.match(t) or COI_RE.match(compact) or CH_COI_RE.match(compact.replace("|", "")):
        return True
    if ISBT_RE.match(t):
        return True
    # CellTrail label QR payloads: CT1:<kind>:<lot>:<COI>:<item>:<check> (labels/payload.py)
    return bool(PAYLOAD_RE.match(t))


def canonical_code(text: str) -> str:
    """A scanned or typed code as the services read it. Lot numbers, COI codes and CellTrail
    label payloads carry upper case only, so a scanner sending lower case (Caps Lock) gives the
    same code; a payload's check still verifies every character. ISBT 128 messages are
    case-sensitive: passed on as scanned (the scan service refuses lower case with its hint)."""
    t = text.strip()
    if t.isascii() and not ISBT_RE.match(t) and looks_like_code(t):
        return t.upper()
    return t


class ScanDialog(ScanTarget, ModalScreen["str | None"]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#scan-input"

    def compose(self) -> ComposeResult:
        with Vertical(id="scan-box"):
            yield Static("Scan or type a code", classes="form-title")
            yield Label("Lot number, COI code or label QR payload")
            yield Input(id="scan-input", placeholder="BH002-26-0001")
            yield Static("", classes="error")
        yield footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def handle_scan(self, payload: str) -> bool:
        self.dismiss(payload.strip() or None)
        return True

    def action_cancel(self) -> None:
        self.dismiss(None)


def resolve_scan(app: Any, payload: str) -> None:
    """Resolve ``payload`` in a thread worker and open what it names (or refuse loudly)."""

    def work() -> None:
        from mfg.errors import CellTrailError

        try:
            lot = _resolve(app, payload)
        except CellTrailError as e:
            app.call_from_thread(refuse_scan, app, f"{e.message} [{e.rule}]")
            return
        if lot is None:
            app.call_from_thread(refuse_scan, app, f"no lot or label matches {payload!r}")
        else:
            app.call_from_thread(app.post_message, OpenLot(lot))

    in_thread(app, work, name="scan", group="scan")


def _resolve(app: Any, payload: str) -> str | None:
    labels = _labels_scan()
    scan = getattr(labels, "scan", None) if labels else None
    if scan is not None and (PAYLOAD_RE.match(payload.strip()) or ISBT_RE.match(payload.strip())):
        result = scan(payload, db=app.db, actor=app.actor)
        if getattr(result, "on_hold", False):
            app.call_from_thread(_hold_alarm, app, result)
        lot = getattr(result, "lot_number", None)
        if lot:
            return str(lot)
    from mfg.services import lookup

    target = lookup.find_lot(payload, db=app.db, actor=app.actor)
    return target.lot_number if target else None


def _hold_alarm(app: Any, seen: Any) -> None:
    """A scanned label of a held lot: bell and a red banner that stays until dismissed."""
    app.bell()
    why = "; ".join(seen.hold_reasons)
    app.notify(
        f"{seen.object_ref} is ON HOLD: do not issue, thaw or infuse. {why}",
        title="HOLD",
        severity="error",
        timeout=30,
        markup=False,
    )


def refuse_scan(app: Any, message: str) -> None:
    app.bell()
    app.notify(message, title="Scan refused", severity="error", timeout=10, markup=False)


def print_labels(screen: Any) -> None:
    from tui.screens.label_form import LabelForm

    if _labels_scan() is None:
        screen.app.notify("labels are not installed in this CellTrail yet", severity="warning")
        return
    screen.app.push_screen(LabelForm(screen.lot_number), screen._done)
